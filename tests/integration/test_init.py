"""Setting up, unloading and keeping a HowdyScreen connected."""

from __future__ import annotations

from collections.abc import Callable
import logging
from unittest.mock import MagicMock

from aioesphomeapi import (
    APIConnectionError,
    InvalidEncryptionKeyAPIError,
    RequiresEncryptionAPIError,
)
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.howdyscreen.const import CONF_NOISE_PSK, DOMAIN

from .conftest import KEY, FakeReconnectLogic, find_device, make_device_info

HEAP = "sensor.kitchen_howdyscreen_internal_heap_free"


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

    device = find_device(hass, mock_config_entry.entry_id, "aabbccddeeff")
    assert device is not None
    assert device.name == "Kitchen HowdyScreen"
    assert device.manufacturer == "HowdyScreen"
    assert device.model == "ESP32-P4-WIFI6-Touch-LCD-3.4C"
    assert device.sw_version == "0.1.0"
    assert (dr.CONNECTION_NETWORK_MAC, "aa:bb:cc:dd:ee:ff") in device.connections
    runtime = mock_config_entry.runtime_data
    assert runtime.identity is not None
    assert runtime.identity.mac == "aabbccddeeff"
    assert runtime.available
    assert hass.states.get(HEAP) is not None

    logic = FakeReconnectLogic.instances[-1]
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    assert not logic.running
    mock_client.disconnect.assert_awaited_with(force=True)
    assert hass.states.get(HEAP).state == STATE_UNAVAILABLE


async def test_reload(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """Reloading reconnects with a fresh client and keeps the entities."""
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert len(FakeReconnectLogic.instances) == 2
    assert float(hass.states.get(HEAP).state) == 123456.0


async def test_unreachable_device_retries(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A device that does not answer leaves the entry retrying, not failed."""
    mock_client.connect.side_effect = APIConnectionError("timed out")
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not FakeReconnectLogic.instances[-1].running
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


async def test_key_refused_later_starts_reauth(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    mock_client: MagicMock,
    reconnect_logic: Callable[[], FakeReconnectLogic],
) -> None:
    """A device whose key changed while we were connected asks for the new key."""
    await reconnect_logic().drop()
    mock_client.connect.side_effect = InvalidEncryptionKeyAPIError(
        "Handshake MAC failure"
    )
    await reconnect_logic().reconnect()
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_other_device_at_address_is_refused(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A different MAC at the stored address is not adopted at setup."""
    mock_client.device_info.return_value = make_device_info(
        mac_address="11:22:33:44:55:66"
    )
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert find_device(hass, mock_config_entry.entry_id, "112233445566") is None
    mock_client.list_entities_services.assert_not_awaited()


async def test_other_device_after_readdress_is_refused(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    mock_client: MagicMock,
    reconnect_logic: Callable[[], FakeReconnectLogic],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After a reconnect, another device at the address stays refused, logged once."""
    await reconnect_logic().drop()
    mock_client.device_info.return_value = make_device_info(
        mac_address="11:22:33:44:55:66"
    )
    mock_client.disconnect.reset_mock()
    await reconnect_logic().reconnect()
    await reconnect_logic().reconnect()
    await hass.async_block_till_done()
    assert caplog.text.count("not adopting it") == 1
    assert mock_client.disconnect.await_count == 2
    assert hass.states.get(HEAP).state == STATE_UNAVAILABLE
    assert loaded_entry.runtime_data.identity.mac == "aabbccddeeff"


async def test_unavailable_and_back(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    mock_client: MagicMock,
    reconnect_logic: Callable[[], FakeReconnectLogic],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Entities follow the connection; the loss and the return are logged once each."""
    caplog.set_level(logging.INFO, logger="custom_components.howdyscreen")
    assert float(hass.states.get(HEAP).state) == 123456.0
    await reconnect_logic().drop()
    await reconnect_logic().drop()
    await hass.async_block_till_done()
    assert hass.states.get(HEAP).state == STATE_UNAVAILABLE
    # Failed attempts while away do not log again.
    mock_client.connect.side_effect = APIConnectionError("refused")
    await reconnect_logic().reconnect()
    mock_client.connect.side_effect = None
    await reconnect_logic().reconnect()
    await hass.async_block_till_done()
    assert float(hass.states.get(HEAP).state) == 123456.0
    assert caplog.text.count("is unavailable") == 1
    assert caplog.text.count("is available again") == 1


async def test_connection_lost_during_setup_of_connection(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    mock_client: MagicMock,
    reconnect_logic: Callable[[], FakeReconnectLogic],
) -> None:
    """A device vanishing between connect and entity listing is just retried."""
    await reconnect_logic().drop()
    mock_client.list_entities_services.side_effect = APIConnectionError("gone")
    await reconnect_logic().reconnect()
    await hass.async_block_till_done()
    assert hass.states.get(HEAP).state == STATE_UNAVAILABLE
    mock_client.list_entities_services.side_effect = None
    await reconnect_logic().reconnect()
    await hass.async_block_till_done()
    assert float(hass.states.get(HEAP).state) == 123456.0


async def test_repair_issue_while_unencrypted(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A device without a key gets a repair issue, gone once a key is set."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=mock_config_entry.unique_id,
        title=mock_config_entry.title,
        data={**mock_config_entry.data, CONF_NOISE_PSK: ""},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    issue_id = f"unencrypted_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    assert mock_client.factory.call_args.kwargs["noise_psk"] is None

    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_NOISE_PSK: KEY}
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None

    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_NOISE_PSK: ""}
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    assert await hass.config_entries.async_remove(entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
