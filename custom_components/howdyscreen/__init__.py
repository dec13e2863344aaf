"""The HowdyScreen integration: a voice-assistant display for Assist."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr

from .api import (
    CannotConnect,
    DeviceIsPlaintext,
    EncryptionRequired,
    InvalidKey,
    async_probe,
    format_mac,
)
from .const import CONF_NOISE_PSK, DOMAIN, MANUFACTURER
from .device import HowdyScreenRuntime

type HowdyScreenConfigEntry = ConfigEntry[HowdyScreenRuntime]


async def async_setup_entry(hass: HomeAssistant, entry: HowdyScreenConfigEntry) -> bool:
    """Connect to the device and register it."""
    host: str = entry.data[CONF_HOST]
    port: int = entry.data[CONF_PORT]
    try:
        identity = await async_probe(hass, host, port, entry.data.get(CONF_NOISE_PSK))
    except (InvalidKey, EncryptionRequired, DeviceIsPlaintext) as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="invalid_key",
            translation_placeholders={"host": host},
        ) from err
    except CannotConnect as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"host": host, "error": str(err)},
        ) from err

    if entry.unique_id and identity.mac != entry.unique_id:
        # Another device now answers at this address (DHCP handed it out
        # again); adopting it would graft one device's history onto another.
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="wrong_device",
            translation_placeholders={
                "host": host,
                "expected": format_mac(entry.unique_id),
                "found": format_mac(identity.mac),
            },
        )

    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, identity.mac)},
        connections={(dr.CONNECTION_NETWORK_MAC, format_mac(identity.mac))},
        manufacturer=identity.manufacturer or MANUFACTURER,
        model=identity.model or None,
        name=identity.friendly_name,
        sw_version=identity.firmware_version or None,
    )
    entry.runtime_data = HowdyScreenRuntime(identity=identity)
    return True


async def async_unload_entry(
    hass: HomeAssistant, entry: HowdyScreenConfigEntry
) -> bool:
    """Release what the entry holds."""
    return True
