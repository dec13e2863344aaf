"""Home Assistant's own esphome integration drives the simulator in ESPHome mode.

The benchmarks compare HowdyScreen with the esphome integration on the very
same device code; this proves that second path works at all: the built-in
integration's config flow adds the simulator and shows its entities.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from unittest.mock import MagicMock

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest

from tests.simulator import Simulator

pytestmark = pytest.mark.usefixtures("mock_async_zeroconf", "mock_bluetooth_adapters")


async def add_with_esphome(hass: HomeAssistant, sim: Simulator) -> Any:
    """Walk the esphome config flow the way a user would, whatever its steps."""
    result = await hass.config_entries.flow.async_init(
        "esphome", context={"source": SOURCE_USER}
    )
    for _ in range(5):
        if result["type"] is not FlowResultType.FORM:
            break
        step = result["step_id"]
        if step == "user":
            answer: dict[str, Any] = {"host": sim.host, "port": sim.port}
        elif step == "encryption_key":
            answer = {"noise_psk": sim.key}
        else:
            pytest.fail(f"unexpected esphome flow step {step}: {result}")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], answer
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return result["result"]


async def test_esphome_integration_adds_the_simulator(
    hass: HomeAssistant,
    start_sim: Callable[..., Simulator],
    mock_bleak_scanner_start: MagicMock,
) -> None:
    """Config flow, setup and live entity states through the esphome integration."""
    sim = start_sim(encrypted=True, extra_args=["--esphome-mode"], name="howdy-esphome")
    entry = await add_with_esphome(hass, sim)
    assert entry.state is ConfigEntryState.LOADED
    # The esphome integration lists entities once its own connection is up.
    by_domain: dict[str, list[er.RegistryEntry]] = {}
    async with asyncio.timeout(15):
        while not {"sensor", "switch", "number"} <= set(by_domain):
            await asyncio.sleep(0.1)
            by_domain = {}
            for entity in er.async_entries_for_config_entry(
                er.async_get(hass), entry.entry_id
            ):
                by_domain.setdefault(entity.domain, []).append(entity)

    async with asyncio.timeout(15):
        while True:
            heap = [
                hass.states.get(e.entity_id)
                for e in by_domain["sensor"]
                if e.entity_id.endswith("_heap_free") and not e.disabled
            ]
            if (
                heap
                and heap[0] is not None
                and heap[0].state not in ("unknown", "unavailable")
            ):
                break
            await asyncio.sleep(0.1)
    assert float(heap[0].state) > 0

    switch = by_domain["switch"][0].entity_id
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": switch}, blocking=True
    )
    async with asyncio.timeout(10):
        while hass.states.get(switch).state != "on":
            await asyncio.sleep(0.05)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
