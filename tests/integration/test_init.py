"""Setting up and unloading a HowdyScreen config entry."""

from __future__ import annotations

from unittest.mock import MagicMock

from aioesphomeapi import (
    APIConnectionError,
    InvalidEncryptionKeyAPIError,
    RequiresEncryptionAPIError,
)
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.howdyscreen.const import DOMAIN

from .conftest import KEY, make_device_info


async def test_setup_and_unload(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """An entry loads, registers its device, and unloads cleanly."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED

    # The client was made for the stored address and key.
    args, kwargs = mock_client.factory.call_args
    assert args[:2] == ("192.0.2.10", 6053)
    assert kwargs["noise_psk"] == KEY

    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, "aabbccddeeff")})
    assert device is not None
    assert device.name == "Kitchen HowdyScreen"
    assert device.manufacturer == "HowdyScreen"
    assert device.model == "ESP32-P4-WIFI6-Touch-LCD-3.4C"
    assert device.sw_version == "0.1.0"
    assert (dr.CONNECTION_NETWORK_MAC, "aa:bb:cc:dd:ee:ff") in device.connections
    assert mock_config_entry.runtime_data.identity.mac == "aabbccddeeff"

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED


async def test_unreachable_device_retries(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A device that does not answer leaves the entry retrying, not failed."""
    mock_client.connect.side_effect = APIConnectionError("timed out")
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    mock_client.disconnect.assert_awaited()


@pytest.mark.parametrize(
    "error",
    [
        InvalidEncryptionKeyAPIError("Handshake MAC failure"),
        RequiresEncryptionAPIError("x"),
    ],
)
async def test_key_refused_starts_reauth(
    hass: HomeAssistant,
    mock_client: MagicMock,
    mock_config_entry: MockConfigEntry,
    error: Exception,
) -> None:
    """A refused key fails setup and asks the user for the new key."""
    mock_client.connect.side_effect = error
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_other_device_at_address_is_refused(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A different MAC at the stored address is not adopted."""
    mock_client.device_info.return_value = make_device_info(
        mac_address="11:22:33:44:55:66"
    )
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert (
        dr.async_get(hass).async_get_device(identifiers={(DOMAIN, "112233445566")})
        is None
    )
