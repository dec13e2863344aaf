"""Fixtures for tests of the integration against the real simulator.

Here nothing about the device is mocked: Home Assistant's config flow and
entry setup talk to howdyscreen-sim over a real (loopback) socket with the
real aioesphomeapi client, encrypted unless a test says otherwise.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from tests.simulator import sim_binary, start_sim  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
async def _environment(
    hass: HomeAssistant, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """Real sockets, the custom integration, and Home Assistant's core."""
    assert await async_setup_component(hass, "homeassistant", {})
