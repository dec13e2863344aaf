"""Every step of the config flow, with a mocked device client."""

from __future__ import annotations

from ipaddress import ip_address
from unittest.mock import MagicMock

from aioesphomeapi import (
    APIConnectionError,
    EncryptionPlaintextAPIError,
    InvalidEncryptionKeyAPIError,
    RequiresEncryptionAPIError,
)
from homeassistant.config_entries import SOURCE_USER, SOURCE_ZEROCONF
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.howdyscreen.const import (
    CONF_DEVICE_NAME,
    CONF_MAC,
    CONF_NOISE_PSK,
    DOMAIN,
)

from .conftest import KEY, MAC, make_device_info

NEW_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


def discovery(
    properties: dict[str, str] | None = None, host: str = "192.0.2.20"
) -> ZeroconfServiceInfo:
    """A _howdyscreen._tcp announcement as the device makes it."""
    props = {
        "mac": MAC,
        "version": "0.1.0",
        "board": "esp32p4-wifi6-touch-lcd-3.4c",
        "friendly_name": "Kitchen HowdyScreen",
        "api_encryption": "Noise_NNpsk0_25519_ChaChaPoly_SHA256",
    }
    if properties is not None:
        props = properties
    return ZeroconfServiceInfo(
        ip_address=ip_address(host),
        ip_addresses=[ip_address(host)],
        port=6053,
        hostname="howdyscreen-ccddeeff.local.",
        type="_howdyscreen._tcp.local.",
        name="howdyscreen-ccddeeff._howdyscreen._tcp.local.",
        properties=props,
    )


async def start_user_flow(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result["flow_id"]


async def test_user_plaintext_device(
    hass: HomeAssistant, mock_client: MagicMock
) -> None:
    """A device without encryption is added from its address alone."""
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: " 192.0.2.10 ", CONF_PORT: 6053}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Kitchen HowdyScreen"
    assert result["result"].unique_id == MAC
    assert result["data"] == {
        CONF_HOST: "192.0.2.10",
        CONF_PORT: 6053,
        CONF_NOISE_PSK: "",
        CONF_MAC: MAC,
        CONF_DEVICE_NAME: "howdyscreen-ccddeeff",
    }
    assert mock_client.factory.call_args.kwargs["noise_psk"] is None
    mock_client.disconnect.assert_awaited()


async def test_user_encrypted_device(
    hass: HomeAssistant, mock_client: MagicMock
) -> None:
    """An encrypted device asks for its key; bad keys are refused with a reason."""
    flow_id = await start_user_flow(hass)
    mock_client.connect.side_effect = RequiresEncryptionAPIError("needs a key")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "192.0.2.10", CONF_PORT: 6053}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "encryption_key"
    assert result["errors"] == {}

    # Not base64 of 32 bytes: refused without bothering the device.
    mock_client.factory.reset_mock()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_NOISE_PSK: "hunter2"}
    )
    assert result["errors"] == {"base": "invalid_key"}
    mock_client.factory.assert_not_called()

    mock_client.connect.side_effect = InvalidEncryptionKeyAPIError(
        "Handshake MAC failure"
    )
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_NOISE_PSK: NEW_KEY}
    )
    assert result["errors"] == {"base": "invalid_key"}

    mock_client.connect.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_NOISE_PSK: f" {KEY} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_NOISE_PSK] == KEY
    assert mock_client.factory.call_args.kwargs["noise_psk"] == KEY


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (APIConnectionError("refused"), "cannot_connect"),
        (TimeoutError(), "cannot_connect"),
        (OSError("no route"), "cannot_connect"),
        (EncryptionPlaintextAPIError("plaintext"), "device_is_plaintext"),
    ],
)
async def test_user_errors_then_recover(
    hass: HomeAssistant, mock_client: MagicMock, error: Exception, reason: str
) -> None:
    """Errors are shown on the form, and the user can try again."""
    flow_id = await start_user_flow(hass)
    mock_client.connect.side_effect = error
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "192.0.2.10", CONF_PORT: 6053}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": reason}
    mock_client.connect.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "192.0.2.10", CONF_PORT: 6053}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_encryption_key_on_plaintext_device(
    hass: HomeAssistant, mock_client: MagicMock
) -> None:
    """A key typed for a device that turned out to be plaintext is explained."""
    flow_id = await start_user_flow(hass)
    mock_client.connect.side_effect = RequiresEncryptionAPIError("x")
    await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "192.0.2.10", CONF_PORT: 6053}
    )
    mock_client.connect.side_effect = EncryptionPlaintextAPIError("plaintext")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_NOISE_PSK: KEY}
    )
    assert result["errors"] == {"base": "device_is_plaintext"}


async def test_user_already_configured_updates_address(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """Adding a device twice aborts, keeping the address that just worked."""
    mock_config_entry.add_to_hass(hass)
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "192.0.2.99", CONF_PORT: 6054}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert mock_config_entry.data[CONF_HOST] == "192.0.2.99"
    assert mock_config_entry.data[CONF_PORT] == 6054


async def test_zeroconf_encrypted(hass: HomeAssistant, mock_client: MagicMock) -> None:
    """A discovered encrypted device goes straight to the key step."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery()
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "encryption_key"
    assert result["description_placeholders"] == {
        "name": "Kitchen HowdyScreen",
        "host": "192.0.2.20",
    }
    flows = hass.config_entries.flow.async_progress()
    assert flows[0]["context"]["title_placeholders"] == {"name": "Kitchen HowdyScreen"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NOISE_PSK: KEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_HOST] == "192.0.2.20"
    assert result["result"].unique_id == MAC


async def test_zeroconf_plaintext_confirm(
    hass: HomeAssistant, mock_client: MagicMock
) -> None:
    """A discovered plaintext device needs one confirmation."""
    props = {"mac": "AA:BB:CC:DD:EE:FF", "friendly_name": "Kitchen HowdyScreen"}
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery(props)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    mock_client.connect.side_effect = APIConnectionError("gone")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "cannot_connect"}
    mock_client.connect.side_effect = None
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_NOISE_PSK] == ""


async def test_zeroconf_confirm_discovers_encryption(
    hass: HomeAssistant, mock_client: MagicMock
) -> None:
    """A device that turned encryption on since it announced asks for the key."""
    props = {"mac": MAC}
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery(props)
    )
    assert result["description_placeholders"]["name"] == "howdyscreen-ccddeeff"
    mock_client.connect.side_effect = RequiresEncryptionAPIError("x")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "encryption_key"


async def test_zeroconf_without_mac_is_ignored(
    hass: HomeAssistant, mock_client: MagicMock
) -> None:
    """An announcement without a usable MAC cannot be tracked: abort."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery({"mac": "nope"})
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery"


async def test_zeroconf_known_device_moved(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """Rediscovery of a configured device updates its address and aborts."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery(host="192.0.2.77")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert mock_config_entry.data[CONF_HOST] == "192.0.2.77"


async def test_reauth(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A new key is checked against the device and stored."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    mock_client.connect.side_effect = InvalidEncryptionKeyAPIError(
        "Handshake MAC failure"
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NOISE_PSK: NEW_KEY}
    )
    assert result["errors"] == {"base": "invalid_key"}
    mock_client.connect.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NOISE_PSK: NEW_KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data[CONF_NOISE_PSK] == NEW_KEY


async def test_reauth_other_device(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A key that opens a different device does not change this entry."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)
    mock_client.device_info.return_value = make_device_info(
        mac_address="11:22:33:44:55:66"
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NOISE_PSK: NEW_KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    assert mock_config_entry.data[CONF_NOISE_PSK] == KEY


async def test_reconfigure(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """Address, port and key can all change, after the device answers."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    schema_defaults = {str(key): key.default() for key in result["data_schema"].schema}
    assert schema_defaults == {
        CONF_HOST: "192.0.2.10",
        CONF_PORT: 6053,
        CONF_NOISE_PSK: KEY,
    }

    mock_client.connect.side_effect = APIConnectionError("nope")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "192.0.2.30", CONF_PORT: 7000, CONF_NOISE_PSK: NEW_KEY},
    )
    assert result["errors"] == {"base": "cannot_connect"}
    mock_client.connect.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "192.0.2.30", CONF_PORT: 7000, CONF_NOISE_PSK: NEW_KEY},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data[CONF_HOST] == "192.0.2.30"
    assert mock_config_entry.data[CONF_PORT] == 7000
    assert mock_config_entry.data[CONF_NOISE_PSK] == NEW_KEY


async def test_reconfigure_to_plaintext_and_other_device(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """Clearing the key is allowed; pointing at another device is not."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    mock_client.device_info.return_value = make_device_info(
        mac_address="11:22:33:44:55:66"
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "192.0.2.31", CONF_PORT: 6053}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    assert mock_config_entry.data[CONF_HOST] == "192.0.2.10"

    result = await mock_config_entry.start_reconfigure_flow(hass)
    mock_client.device_info.return_value = make_device_info()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "192.0.2.10", CONF_PORT: 6053, CONF_NOISE_PSK: ""},
    )
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data[CONF_NOISE_PSK] == ""
    assert mock_client.factory.call_args.kwargs["noise_psk"] is None
