"""Text-to-speech stub: a generated tone sweep as a streaming WAV.

The first audio bytes come ``tts_first_byte_ms`` after the first piece of
text, then ``tts_chunk_ms`` of audio at a time, paced at ``tts_speed`` times
real time, ``tts_seconds`` long in all (or what a ``[[seconds=X]]`` marker in
the text asks for). The WAV header has unknown sizes (0xFFFFFFFF), as
streaming engines write it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import re
import struct
import time
from typing import Any

from homeassistant.components import tts
from homeassistant.components.tts.entity import TTSAudioRequest, TTSAudioResponse
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback
import numpy as np

from .const import DOMAIN, TTS_ENTITY_ID, StubData, StubSettings

SECONDS_MARKER = re.compile(r"\[\[seconds=([0-9.]+)\]\]")


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the text-to-speech entity."""
    async_add_entities([BenchTextToSpeech(hass.data[DOMAIN])])


def wav_header(rate: int, data_bytes: int | None) -> bytes:
    """16-bit mono PCM WAV header; None = unknown length (streaming)."""
    size = 0xFFFFFFFF if data_bytes is None else data_bytes
    riff = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", size)
    )


class Sweep:
    """A continuous 300 Hz -> 1200 Hz sweep (phase kept across chunks)."""

    def __init__(self, rate: int, seconds: float) -> None:
        self.rate = rate
        self.total = max(1, int(rate * seconds))
        self.done = 0
        self.phase = 0.0

    def next(self, samples: int) -> bytes:
        """The next `samples` samples (fewer at the end), s16le."""
        n = min(samples, self.total - self.done)
        if n <= 0:
            return b""
        t = (self.done + np.arange(n)) / self.total
        freq = 300.0 + 900.0 * t
        phase = self.phase + np.cumsum(2 * np.pi * freq / self.rate)
        self.phase = float(phase[-1] % (2 * np.pi))
        self.done += n
        return (np.sin(phase) * 9830).astype("<i2").tobytes()


def reply_seconds(text: str, settings: StubSettings) -> float:
    """Length of the reply: the marker in the text, else tts_seconds."""
    match = SECONDS_MARKER.search(text)
    return float(match.group(1)) if match else settings.tts_seconds


class BenchTextToSpeech(tts.TextToSpeechEntity):
    """Streams a sweep whose timing is known exactly."""

    _attr_name = "Bench TTS"
    _attr_unique_id = "bench_tts"
    _attr_default_language = "en"

    def __init__(self, data: StubData) -> None:
        self._data = data
        self.entity_id = TTS_ENTITY_ID
        self._attr_supported_languages = ["en", "en-US"]

    async def async_get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> tts.TtsAudioType:
        """Whole-file synthesis: the complete WAV after latency + generation time."""
        settings = self._data.settings
        seconds = reply_seconds(message, settings)
        await asyncio.sleep(
            settings.tts_first_byte_ms / 1000 + seconds / max(settings.tts_speed, 1e-3)
        )
        pcm = Sweep(settings.tts_rate, seconds).next(int(settings.tts_rate * seconds))
        return "wav", wav_header(settings.tts_rate, len(pcm)) + pcm

    async def async_stream_tts_audio(
        self, request: TTSAudioRequest
    ) -> TTSAudioResponse:
        """Streaming synthesis: starts after the first piece of text."""
        data = self._data
        settings = data.settings
        data.stats.tts_streams += 1

        async def audio() -> AsyncGenerator[bytes]:
            first_text = ""
            gen = request.message_gen
            async for piece in gen:
                first_text = piece
                break
            data.event("tts_first_text", chars=len(first_text))

            async def drain() -> None:
                async for _piece in gen:
                    pass

            rest = asyncio.create_task(drain())
            try:
                rate = settings.tts_rate
                sweep = Sweep(rate, reply_seconds(first_text, settings))
                chunk_samples = max(1, int(rate * settings.tts_chunk_ms / 1000))
                chunk_s = chunk_samples / rate / max(settings.tts_speed, 1e-3)
                await asyncio.sleep(settings.tts_first_byte_ms / 1000)
                start = time.monotonic()
                k = 0
                while pcm := sweep.next(chunk_samples):
                    due = start + k * chunk_s
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if k == 0:
                        data.event("tts_first_byte")
                        yield wav_header(rate, None) + pcm
                    else:
                        yield pcm
                    k += 1
                data.event("tts_last_byte")
                await rest
            finally:
                if not rest.done():
                    rest.cancel()

        return TTSAudioResponse(extension="wav", data_gen=audio())
