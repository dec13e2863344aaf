"""The simulator's mDNS announcement, seen by Home Assistant's own zeroconf."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
import socket
from typing import Any
from unittest.mock import patch

from homeassistant.components import zeroconf as zeroconf_component
from homeassistant.config_entries import SOURCE_ZEROCONF
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
import pytest
from zeroconf import IPVersion

from custom_components.howdyscreen.const import CONF_NOISE_PSK, DOMAIN
from tests.simulator import Simulator

MAC = "02:00:00:00:d1:5c"
SERVICE_TYPE = "_howdyscreen._tcp.local."


@pytest.fixture
def only_howdyscreen_discovery() -> Generator[None]:
    """Match only our service type.

    Other devices may be announcing on this machine (an ESPHome-mode
    simulator, say); their integrations have no business in this test.
    """
    original = zeroconf_component.async_get_zeroconf

    async def howdyscreen_only(hass: HomeAssistant) -> dict[str, Any]:
        types = await original(hass)
        return {key: value for key, value in types.items() if key == SERVICE_TYPE}

    with patch.object(zeroconf_component, "async_get_zeroconf", howdyscreen_only):
        yield


@pytest.fixture
def loopback_network() -> Generator[None]:
    """Let Home Assistant's zeroconf listen on loopback, where the simulator listens.

    The test plugin replaces the machine's adapters with a made-up one, and a
    single default adapter makes zeroconf listen on the default interface,
    whose address the loopback-bound simulator does not serve.
    """
    with patch.object(
        zeroconf_component,
        "_async_get_zc_args",
        return_value={"ip_version": IPVersion.V4Only, "interfaces": ["127.0.0.1"]},
    ):
        yield


@pytest.mark.usefixtures("loopback_network", "only_howdyscreen_discovery")
# Home Assistant's zeroconf announces Home Assistant itself in a task that
# outlives the stop of a test instance; that task is not ours.
@pytest.mark.parametrize("expected_lingering_tasks", [True])
async def test_simulator_is_discovered_and_added(
    hass: HomeAssistant,
    start_sim: Callable[..., Simulator],
    expected_lingering_tasks: bool,
) -> None:
    """Real mDNS on loopback leads to a HowdyScreen flow that adds the device."""
    sim = start_sim(
        encrypted=True, mdns=True, name="howdy-discovered", extra_args=["--mac", MAC]
    )
    # zeroconf pulls in http: keep it on a free loopback port, not 8123.
    assert await async_setup_component(
        hass,
        "http",
        {"http": {"server_host": ["127.0.0.1"], "server_port": free_port()}},
    )
    assert await async_setup_component(hass, "zeroconf", {})
    await hass.async_start()

    # Other simulators may be announcing on this machine: look for ours.
    async with asyncio.timeout(20):
        while True:
            flows = [
                flow
                for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
                if flow["context"].get("unique_id") == MAC.replace(":", "")
            ]
            if flows:
                break
            await asyncio.sleep(0.1)
    (flow,) = flows
    assert flow["context"]["source"] == SOURCE_ZEROCONF
    assert flow["step_id"] == "encryption_key"
    assert flow["context"]["title_placeholders"] == {"name": "howdy-discovered"}

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_NOISE_PSK: sim.key}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, (
        result.get("errors"),
        result.get("description_placeholders"),
        sim.log(),
    )
    entry = result["result"]
    assert entry.data["port"] == sim.port
    # The simulator listens on loopback only, so that is what it must announce.
    assert entry.data["host"] == "127.0.0.1"
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_stop()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
