"""A HowdyScreen set up in Home Assistant from the real simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aioesphomeapi import APIClient, EntityState, SensorInfo, SensorState
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.howdyscreen.const import CONF_NOISE_PSK, DOMAIN
from tests.simulator import Simulator

pytestmark = pytest.mark.usefixtures("mock_async_zeroconf")


async def add_through_config_flow(hass: HomeAssistant, sim: Simulator) -> str:
    """Add the simulator as a user would: address, then the key it printed."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: sim.host, CONF_PORT: sim.port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "encryption_key"
    assert sim.key is not None
    assert sim.key in sim.stdout()  # the key the user reads off the "screen"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NOISE_PSK: sim.key}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    return entry.entry_id


class Observer:
    """A second, independent API client: what the simulator reports."""

    def __init__(self, sim: Simulator) -> None:
        self.client = APIClient(sim.host, sim.port, None, noise_psk=sim.key)
        self.infos: dict[str, SensorInfo] = {}
        self.states: dict[int, EntityState] = {}
        self.keys: dict[str, int] = {}

    async def start(self) -> None:
        await self.client.connect(login=True)
        infos, _ = await self.client.list_entities_services()
        self.keys = {info.object_id: info.key for info in infos}
        self.client.subscribe_states(
            lambda state: self.states.__setitem__(state.key, state)
        )

    async def stop(self) -> None:
        await self.client.disconnect()


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition that a push from the device will make true."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_encrypted_device_sensors_match_the_simulator(
    hass: HomeAssistant, start_sim: Callable[..., Simulator]
) -> None:
    """Set up over Noise; every enabled sensor shows what the device reports."""
    sim = start_sim(encrypted=True)
    entry_id = await add_through_config_flow(hass, sim)
    observer = Observer(sim)
    await observer.start()
    try:
        registry = er.async_get(hass)
        sensors = [
            entity
            for entity in er.async_entries_for_config_entry(registry, entry_id)
            if entity.domain == "sensor" and not entity.disabled
        ]
        assert {entity.translation_key for entity in sensors} >= {
            "heap_free",
            "cpu_load_core0",
            "cpu_load_core1",
        }

        # The integration adds sensors of its own (per-turn timings); compare
        # the ones the device reports.
        sensors = [e for e in sensors if e.unique_id.split("-", 1)[1] in observer.keys]

        def ha_matches_device() -> bool:
            for entity in sensors:
                object_id = entity.unique_id.split("-", 1)[1]
                reported = observer.states.get(observer.keys[object_id])
                state = hass.states.get(entity.entity_id)
                if reported is None or state is None:
                    return False
                assert isinstance(reported, SensorState)
                if reported.missing_state:
                    if state.state != STATE_UNAVAILABLE:
                        return False
                elif state.state == STATE_UNAVAILABLE or float(
                    state.state
                ) != pytest.approx(reported.state, rel=1e-6):
                    return False
            return True

        # Both clients get the same pushes; once they settle they agree.
        await wait_until(ha_matches_device)
        heap = hass.states.get(
            next(e.entity_id for e in sensors if e.translation_key == "heap_free")
        )
        assert heap.attributes["unit_of_measurement"] == "B"
        assert float(heap.state) > 0
    finally:
        await observer.stop()
    assert await hass.config_entries.async_unload(entry_id)
    await hass.async_block_till_done()


async def test_mute_and_volume_reach_the_device(
    hass: HomeAssistant, start_sim: Callable[..., Simulator]
) -> None:
    """Commands from Home Assistant change the device; its report comes back."""
    sim = start_sim(encrypted=True)
    entry_id = await add_through_config_flow(hass, sim)
    observer = Observer(sim)
    await observer.start()
    registry = er.async_get(hass)
    entities = er.async_entries_for_config_entry(registry, entry_id)
    mute = next(e.entity_id for e in entities if e.translation_key == "mute")
    volume = next(e.entity_id for e in entities if e.translation_key == "volume")
    try:
        assert hass.states.get(mute).state == STATE_OFF
        await hass.services.async_call(
            "switch", "turn_on", {"entity_id": mute}, blocking=True
        )
        await wait_until(lambda: hass.states.get(mute).state == STATE_ON)
        await wait_until(lambda: observer.states[observer.keys["mute"]].state is True)

        await hass.services.async_call(
            "number", "set_value", {"entity_id": volume, "value": 42}, blocking=True
        )
        await wait_until(lambda: float(hass.states.get(volume).state) == 42.0)
        await wait_until(lambda: observer.states[observer.keys["volume"]].state == 42.0)
    finally:
        await observer.stop()
    assert await hass.config_entries.async_unload(entry_id)
    await hass.async_block_till_done()


async def test_device_vanishes_and_returns(
    hass: HomeAssistant, start_sim: Callable[..., Simulator]
) -> None:
    """Entities go unavailable when the device dies and recover when it is back."""
    sim = start_sim(encrypted=True)
    entry_id = await add_through_config_flow(hass, sim)
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry_id)
    mute = next(e.entity_id for e in entities if e.translation_key == "mute")
    assert hass.states.get(mute).state == STATE_OFF
    key, port, name = sim.key, sim.port, sim.name
    assert sim.stop() == 0
    await wait_until(lambda: hass.states.get(mute).state == STATE_UNAVAILABLE)

    # The same device (same name, key and state) comes back on the same port.
    start_sim(key=key, name=name, extra_args=["--port", str(port)])
    entry = hass.config_entries.async_get_entry(entry_id)
    assert entry is not None
    await wait_until(lambda: hass.states.get(mute).state == STATE_OFF, timeout=60)
    assert await hass.config_entries.async_unload(entry_id)
    await hass.async_block_till_done()
