"""Fixtures for the integration's tests that run with a mocked device client."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

from aioesphomeapi import DeviceInfo
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.howdyscreen.const import (
    CONF_DEVICE_NAME,
    CONF_MAC,
    CONF_NOISE_PSK,
    DOMAIN,
)

MAC = "aabbccddeeff"
KEY = "7JmKZ1q5tRb1mcNV7cDNVTqMnQ8CKUoZ/ym8qwwVl24="


@pytest.fixture(autouse=True)
async def auto_enable_custom_integrations(
    hass: HomeAssistant,
    enable_custom_integrations: None,
    mock_async_zeroconf: MagicMock,
) -> None:
    """Load custom_components/howdyscreen, on top of Home Assistant's core.

    The Assist components we depend on expect the `homeassistant` integration
    (exposed entities) to be there, as it always is in a running instance.
    Zeroconf is mocked: these tests never touch the network.
    """
    assert await async_setup_component(hass, "homeassistant", {})


def make_device_info(**overrides: Any) -> DeviceInfo:
    """A DeviceInfo like the one a HowdyScreen sends."""
    fields: dict[str, Any] = {
        "name": "howdyscreen-ccddeeff",
        "friendly_name": "Kitchen HowdyScreen",
        "mac_address": "AA:BB:CC:DD:EE:FF",
        "model": "ESP32-P4-WIFI6-Touch-LCD-3.4C",
        "manufacturer": "HowdyScreen",
        "project_name": "howdyscreen.firmware",
        "project_version": "0.1.0",
    }
    fields.update(overrides)
    return DeviceInfo(**fields)


@pytest.fixture
def mock_client() -> Generator[MagicMock]:
    """Replace aioesphomeapi's APIClient with a mock that behaves like a device."""
    client = MagicMock()
    client.connect = AsyncMock()
    client.disconnect = AsyncMock()
    client.device_info = AsyncMock(return_value=make_device_info())
    with patch(
        "custom_components.howdyscreen.api.APIClient", return_value=client
    ) as factory:
        client.factory = factory
        yield client


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """An encrypted HowdyScreen entry."""
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=MAC,
        title="Kitchen HowdyScreen",
        data={
            CONF_HOST: "192.0.2.10",
            CONF_PORT: 6053,
            CONF_NOISE_PSK: KEY,
            CONF_MAC: MAC,
            CONF_DEVICE_NAME: "howdyscreen-ccddeeff",
        },
    )
