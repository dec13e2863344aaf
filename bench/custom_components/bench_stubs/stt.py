"""Speech-to-text stub: a fixed transcript a fixed time after the audio ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
import time
import zlib

from homeassistant.components import stt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DOMAIN, STT_ENTITY_ID, StubData


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the speech-to-text entity."""
    async_add_entities([BenchSpeechToText(hass.data[DOMAIN])])


# How much of the stream's start is kept (as hex) to find it in the
# microphone input.
HEAD_BYTES = 256


class BenchSpeechToText(stt.SpeechToTextEntity):
    """Reads the whole stream, waits stt_latency_ms, returns the transcript."""

    _attr_name = "Bench STT"
    _attr_unique_id = "bench_stt"

    def __init__(self, data: StubData) -> None:
        self._data = data
        self.entity_id = STT_ENTITY_ID

    @property
    def supported_languages(self) -> list[str]:
        """English only."""
        return ["en", "en-US"]

    @property
    def supported_formats(self) -> list[stt.AudioFormats]:
        """WAV (raw PCM)."""
        return [stt.AudioFormats.WAV]

    @property
    def supported_codecs(self) -> list[stt.AudioCodecs]:
        """PCM."""
        return [stt.AudioCodecs.PCM]

    @property
    def supported_bit_rates(self) -> list[stt.AudioBitRates]:
        """16 bit."""
        return [stt.AudioBitRates.BITRATE_16]

    @property
    def supported_sample_rates(self) -> list[stt.AudioSampleRates]:
        """16 kHz."""
        return [stt.AudioSampleRates.SAMPLERATE_16000]

    @property
    def supported_channels(self) -> list[stt.AudioChannels]:
        """Mono."""
        return [stt.AudioChannels.CHANNEL_MONO]

    async def async_process_audio_stream(
        self, metadata: stt.SpeechMetadata, stream: AsyncIterable[bytes]
    ) -> stt.SpeechResult:
        """Count the audio, then answer after the fixed latency."""
        data = self._data
        stats = data.stats
        stats.stt_streams += 1
        stats.stt_chunks = trace = []
        stats.stt_head = ""
        head = b""
        offset = 0
        async for chunk in stream:
            if not chunk:
                continue
            # Time first: this is when the bytes became available here.
            trace.append([time.monotonic(), offset, len(chunk), zlib.crc32(chunk)])
            if offset == 0:
                data.event("stt_first_audio", bytes=len(chunk))
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
                stats.stt_head = head.hex()
            offset += len(chunk)
            stats.stt_audio_bytes += len(chunk)
        data.event("stt_stream_end")
        await asyncio.sleep(data.settings.stt_latency_ms / 1000)
        data.event("stt_result")
        return stt.SpeechResult(data.settings.transcript, stt.SpeechResultState.SUCCESS)
