"""Selects of a voice-enabled HowdyScreen: Assist pipeline, VAD sensitivity, wake word.

The pipeline and "finished speaking detection" selects are Home Assistant's
own assist_pipeline helpers, so they look and behave like every other
satellite's; the satellite reads them by unique id.  The wake word select is
backed by the device: its options are the wake words the device offers, and a
choice is sent to the device and read back.
"""

from __future__ import annotations

from aioesphomeapi import APIConnectionError
from homeassistant.components.assist_pipeline.select import (
    AssistPipelineSelect,
    VadSensitivitySelect,
)
from homeassistant.components.select import SelectEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DOMAIN
from .device import HowdyScreenConfigEntry, HowdyScreenDevice
from .voice import VoiceRuntime

# Selects change state locally or through one message each.
PARALLEL_UPDATES = 0

PIPELINE_KEY = "pipeline"
VAD_SENSITIVITY_KEY = "vad_sensitivity"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HowdyScreenConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the voice selects (this platform is only loaded for voice devices)."""
    device = entry.runtime_data
    assert device.voice is not None
    async_add_entities(
        [
            HowdyScreenPipelineSelect(hass, device),
            HowdyScreenVadSensitivitySelect(hass, device),
            WakeWordSelect(device, device.voice),
        ]
    )


def _device_info(device: HowdyScreenDevice) -> DeviceInfo:
    return DeviceInfo(identifiers={(DOMAIN, device.mac)})


class HowdyScreenPipelineSelect(AssistPipelineSelect):
    """Which Assist pipeline the satellite runs."""

    _attr_has_entity_name = True

    def __init__(self, hass: HomeAssistant, device: HowdyScreenDevice) -> None:
        """Home Assistant's selector, attached to the device."""
        super().__init__(hass, DOMAIN, device.mac)
        self._attr_device_info = _device_info(device)


class HowdyScreenVadSensitivitySelect(VadSensitivitySelect):
    """How long a pause ends the command."""

    _attr_has_entity_name = True

    def __init__(self, hass: HomeAssistant, device: HowdyScreenDevice) -> None:
        """Home Assistant's selector, attached to the device."""
        super().__init__(hass, device.mac)
        self._attr_device_info = _device_info(device)


class WakeWordSelect(SelectEntity):
    """The device's active wake word, chosen from those it offers."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_translation_key = "wake_word"
    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, device: HowdyScreenDevice, voice: VoiceRuntime) -> None:
        """Follow the device's wake word configuration."""
        self._device = device
        self._voice = voice
        self._attr_unique_id = f"{device.mac}-wake_word"
        self._attr_device_info = _device_info(device)
        self._update_from_config()

    @property
    def available(self) -> bool:
        """Available while the device is connected and offers wake words."""
        return self._device.available and bool(self._attr_options)

    async def async_added_to_hass(self) -> None:
        """Follow configuration and reachability changes."""
        self.async_on_remove(self._voice.async_subscribe_config(self._on_config))
        self.async_on_remove(self._device.async_subscribe_availability(self._on_config))

    @callback
    def _on_config(self) -> None:
        self._update_from_config()
        self.async_write_ha_state()

    def _update_from_config(self) -> None:
        config = self._voice.config
        self._attr_options = [ww.wake_word for ww in config.available_wake_words]
        active = set(config.active_wake_words)
        self._attr_current_option = next(
            (ww.wake_word for ww in config.available_wake_words if ww.id in active),
            None,
        )

    async def async_select_option(self, option: str) -> None:
        """Make the device listen for this wake word."""
        wake_word_id = next(
            ww.id
            for ww in self._voice.config.available_wake_words
            if ww.wake_word == option
        )
        try:
            await self._voice.async_set_active_wake_words([wake_word_id])
        except APIConnectionError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="device_unreachable",
                translation_placeholders={"error": str(err)},
            ) from err
