"""Diagnostics of a loaded entry."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import KEY


async def test_diagnostics_redact_the_key(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
) -> None:
    """The key never leaves; identity, entities and states do."""
    result = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    assert KEY not in str(result)
    assert result["entry"]["data"]["noise_psk"] == "**REDACTED**"
    assert result["entry"]["encrypted"] is True
    assert result["device"]["available"] is True
    assert result["device"]["identity"]["mac"] == "aabbccddeeff"
    assert result["device"]["api_version"] is not None
    assert {entity["object_id"] for entity in result["entities"]} == {
        "heap_free",
        "uptime",
        "mute",
        "volume",
    }
    assert len(result["states"]) == 4
