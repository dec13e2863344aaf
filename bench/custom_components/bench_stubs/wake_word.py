"""A wake word engine that listens forever and never detects anything."""

from __future__ import annotations

from collections.abc import AsyncIterable

from homeassistant.components import wake_word
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DOMAIN, WAKE_WORD_ENTITY_ID, StubData


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the wake word entity."""
    async_add_entities([BenchWakeWord(hass.data[DOMAIN])])


class BenchWakeWord(wake_word.WakeWordDetectionEntity):
    """Consumes and counts audio; returns only when the stream ends."""

    _attr_name = "Bench wake word"
    _attr_unique_id = "bench_wake_word"

    def __init__(self, data: StubData) -> None:
        self._data = data
        self.entity_id = WAKE_WORD_ENTITY_ID

    async def get_supported_wake_words(self) -> list[wake_word.WakeWord]:
        """One wake word that is never heard."""
        return [wake_word.WakeWord(id="never", name="Never")]

    async def _async_process_audio_stream(
        self, stream: AsyncIterable[tuple[bytes, int]], wake_word_id: str | None
    ) -> wake_word.DetectionResult | None:
        stats = self._data.stats
        stats.wake_streams_started += 1
        stats.wake_streams_active += 1
        try:
            async for chunk, _timestamp in stream:
                stats.wake_audio_bytes += len(chunk)
                stats.wake_audio_chunks += 1
        finally:
            stats.wake_streams_active -= 1
        return None
