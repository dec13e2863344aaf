"""Diagnostics: what the link knows about the device, with the key redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_NOISE_PSK
from .device import HowdyScreenConfigEntry

TO_REDACT = {CONF_NOISE_PSK}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: HowdyScreenConfigEntry
) -> dict[str, Any]:
    """Return the entry, the device's identity, its entities and their states."""
    device = entry.runtime_data
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "encrypted": bool(entry.data.get(CONF_NOISE_PSK)),
        },
        "device": {
            "available": device.available,
            "api_version": device.api_version,
            "identity": asdict(device.identity) if device.identity else None,
        },
        "entities": [info.to_dict() for info in device.entity_infos.values()],
        "states": [state.to_dict() for state in device.states.values()],
    }
