"""The HowdyScreen integration: a voice-assistant display for Assist."""

from __future__ import annotations

import logging

from aioesphomeapi import (
    APIConnectionError,
    EncryptionPlaintextAPIError,
    InvalidEncryptionKeyAPIError,
    RequiresEncryptionAPIError,
)
from homeassistant.components import zeroconf
from homeassistant.const import CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import issue_registry as ir

from .api import async_create_client, format_mac
from .const import CONF_NOISE_PSK, CONNECT_TIMEOUT, DOMAIN
from .device import HowdyScreenConfigEntry, HowdyScreenDevice, WrongDeviceError
from .voice import VoiceRuntime, has_voice_assistant

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [Platform.NUMBER, Platform.SENSOR, Platform.SWITCH]
VOICE_PLATFORMS: list[Platform] = [Platform.ASSIST_SATELLITE, Platform.SELECT]


async def async_setup_entry(hass: HomeAssistant, entry: HowdyScreenConfigEntry) -> bool:
    """Connect to the device, then set up its entities."""
    host: str = entry.data[CONF_HOST]
    port: int = entry.data[CONF_PORT]
    noise_psk: str | None = entry.data.get(CONF_NOISE_PSK) or None
    client = await async_create_client(hass, host, port, noise_psk)
    device = HowdyScreenDevice(
        hass, entry, client, await zeroconf.async_get_async_instance(hass)
    )
    try:
        await device.async_start(CONNECT_TIMEOUT)
    except (
        InvalidEncryptionKeyAPIError,
        RequiresEncryptionAPIError,
        EncryptionPlaintextAPIError,
    ) as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="invalid_key",
            translation_placeholders={"host": host},
        ) from err
    except WrongDeviceError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="wrong_device",
            translation_placeholders={
                "host": host,
                "expected": format_mac(entry.unique_id or ""),
                "found": format_mac(err.found_mac),
            },
        ) from err
    except (APIConnectionError, TimeoutError, OSError) as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={
                "host": host,
                "error": str(err) or type(err).__name__,
            },
        ) from err

    entry.runtime_data = device
    device.platforms = list(PLATFORMS)
    flags = device.identity.voice_assistant_feature_flags if device.identity else 0
    if has_voice_assistant(flags):
        # Only a device that streams its voice over the API gets a satellite,
        # its selects and its per-turn timing sensors.
        device.voice = VoiceRuntime(device, flags)
        device.own_unique_ids = device.voice.own_unique_ids()
        device.platforms += VOICE_PLATFORMS
    _update_encryption_issue(hass, entry, encrypted=noise_psk is not None)
    await hass.config_entries.async_forward_entry_setups(entry, device.platforms)
    return True


async def async_unload_entry(
    hass: HomeAssistant, entry: HowdyScreenConfigEntry
) -> bool:
    """Unload the entities, then drop the connection."""
    unloaded = await hass.config_entries.async_unload_platforms(
        entry, entry.runtime_data.platforms
    )
    if unloaded:
        await entry.runtime_data.async_stop()
    return unloaded


async def async_remove_entry(
    hass: HomeAssistant, entry: HowdyScreenConfigEntry
) -> None:
    """Forget the repair issue of a removed device."""
    ir.async_delete_issue(hass, DOMAIN, _encryption_issue_id(entry))


def _encryption_issue_id(entry: HowdyScreenConfigEntry) -> str:
    return f"unencrypted_{entry.entry_id}"


def _update_encryption_issue(
    hass: HomeAssistant, entry: HowdyScreenConfigEntry, *, encrypted: bool
) -> None:
    """Warn, as a repair, while a device talks to us in plaintext."""
    if encrypted:
        ir.async_delete_issue(hass, DOMAIN, _encryption_issue_id(entry))
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        _encryption_issue_id(entry),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="unencrypted",
        translation_placeholders={"name": entry.title},
        learn_more_url="https://github.com/howdyscreen/howdyscreen/blob/main/docs/protocol.md#encryption",
    )
