"""What the voice platforms (satellite, selects, timing sensors) share per device.

The satellite owns the voice-assistant subscription; the wake word select and
the satellite's configuration API both read and change the device's wake word
configuration; the timing sensors show what the satellite measured.  They meet
here, in one object hung on the device link (`HowdyScreenDevice.voice`), so no
platform has to find another platform's entity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
from typing import Final

from aioesphomeapi import APIConnectionError, SensorState, VoiceAssistantFeature
from homeassistant.components.assist_satellite import (
    AssistSatelliteConfiguration,
    AssistSatelliteWakeWord,
)
from homeassistant.core import CALLBACK_TYPE, callback

from .device import HowdyScreenDevice
from .turn_timing import TIMINGS, TurnTimer

_LOGGER = logging.getLogger(__name__)

# What the integration needs from a device to run Assist on it: a voice
# assistant whose audio travels inside the API connection (no UDP).
REQUIRED_FEATURES: Final = (
    VoiceAssistantFeature.VOICE_ASSISTANT | VoiceAssistantFeature.API_AUDIO
)
# How long the device may take to answer a configuration request.
CONFIG_TIMEOUT: Final = 5.0
# The reference pool (docs/audio.md), used when a firmware does not report
# its geometry as the audio_pool_slot_bytes / audio_pool_slots sensors.
DEFAULT_SLOT_BYTES: Final = 1024
DEFAULT_SLOTS: Final = 16


def has_voice_assistant(feature_flags: int) -> bool:
    """Whether the device's feature flags allow the satellite."""
    return feature_flags & REQUIRED_FEATURES == REQUIRED_FEATURES


@dataclass
class VoiceRuntime:
    """Per-device voice state shared by the satellite, selects and sensors."""

    device: HowdyScreenDevice
    feature_flags: int
    timer: TurnTimer = field(default_factory=TurnTimer)
    config: AssistSatelliteConfiguration = field(
        default_factory=lambda: AssistSatelliteConfiguration(
            available_wake_words=[], active_wake_words=[], max_active_wake_words=1
        )
    )
    _config_listeners: list[CALLBACK_TYPE] = field(default_factory=list)

    def own_unique_ids(self) -> set[str]:
        """Return the unique ids of the voice entities (the device does not list them)."""
        keys = ["assist_satellite", "pipeline", "vad_sensitivity", "wake_word"]
        keys += [timing.key for timing in TIMINGS]
        return {f"{self.device.mac}-{key}" for key in keys}

    def has(self, feature: VoiceAssistantFeature) -> bool:
        """Whether the device declared a voice feature."""
        return bool(self.feature_flags & feature)

    # Pool geometry ---------------------------------------------------------

    def pool_geometry(self) -> tuple[int, int]:
        """Return the reply pool as (slot bytes, slots), read from the device's sensors."""
        slot_bytes = self._sensor_value("audio_pool_slot_bytes")
        slots = self._sensor_value("audio_pool_slots")
        if slot_bytes is None or slots is None or slot_bytes < 2 or slots < 1:
            return DEFAULT_SLOT_BYTES, DEFAULT_SLOTS
        # A chunk holds whole samples.
        return int(slot_bytes) & ~1, int(slots)

    def _sensor_value(self, object_id: str) -> float | None:
        for info in self.device.entity_infos.values():
            if info.object_id == object_id:
                state = self.device.states.get(info.key)
                if isinstance(state, SensorState) and not state.missing_state:
                    return state.state
        return None

    # Wake word configuration ----------------------------------------------

    async def async_refresh_config(self) -> None:
        """Read the wake word configuration from the device.

        A device that does not answer in time keeps the configuration we
        had: the select shows what we last knew rather than failing setup.
        """
        try:
            answer = await self.device.client.get_voice_assistant_configuration(
                CONFIG_TIMEOUT
            )
        except (APIConnectionError, TimeoutError) as err:
            _LOGGER.debug(
                "%s: no wake word configuration: %r", self.device.entry.title, err
            )
            return
        self.config = AssistSatelliteConfiguration(
            available_wake_words=[
                AssistSatelliteWakeWord(
                    id=model.id,
                    wake_word=model.wake_word,
                    trained_languages=list(model.trained_languages),
                )
                for model in answer.available_wake_words
            ],
            active_wake_words=list(answer.active_wake_words),
            max_active_wake_words=answer.max_active_wake_words,
        )
        self._notify_config()

    async def async_set_active_wake_words(self, wake_word_ids: list[str]) -> None:
        """Make the device listen for these wake words, then read back the result."""
        await self.device.client.set_voice_assistant_configuration(
            active_wake_words=wake_word_ids
        )
        # Show the choice at once; the read-back corrects it if the device
        # refused part of it.
        self.config.active_wake_words = list(wake_word_ids)
        self._notify_config()
        await self.async_refresh_config()

    @callback
    def async_subscribe_config(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call listener whenever the wake word configuration changes."""
        self._config_listeners.append(listener)
        return lambda: self._config_listeners.remove(listener)

    def _notify_config(self) -> None:
        for listener in list(self._config_listeners):
            listener()
