"""In-process microphone streams: the Assist pipeline's own cost, no device.

``bench_stubs/feed`` starts N pipelines from the wake word stage the way an
Assist satellite entity does (same audio settings, the preferred pipeline),
each fed a looped 16 kHz WAV in 20 ms chunks at real time, paced against the
event loop's clock. No network, no API protocol, no integration: what Home
Assistant spends on these streams is the floor every satellite integration
pays, and the benchmark subtracts it to show what an integration adds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
import wave

from homeassistant.components import stt
from homeassistant.components.assist_pipeline import (
    AudioSettings,
    PipelineEvent,
    PipelineStage,
    async_pipeline_from_audio_stream,
)
from homeassistant.core import Context, HomeAssistant

CHUNK_BYTES = 640  # 20 ms at 16 kHz, 16-bit mono: what the devices send
CHUNK_S = 0.020

STT_METADATA = stt.SpeechMetadata(
    language="",
    format=stt.AudioFormats.WAV,
    codec=stt.AudioCodecs.PCM,
    bit_rate=stt.AudioBitRates.BITRATE_16,
    sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
    channel=stt.AudioChannels.CHANNEL_MONO,
)


def read_pcm(path: Path) -> bytes:
    """A 16 kHz mono 16-bit WAV's samples, cut to whole chunks."""
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (
            16000,
            1,
            2,
        ):
            raise ValueError(f"{path}: not 16 kHz mono 16-bit")
        pcm = wav.readframes(wav.getnframes())
    usable = len(pcm) // CHUNK_BYTES * CHUNK_BYTES
    if not usable:
        raise ValueError(f"{path}: shorter than one chunk")
    return pcm[:usable]


class Feeder:
    """The running in-process streams (at most one set at a time)."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def streams(self) -> int:
        """Streams still running."""
        return sum(not t.done() for t in self._tasks)

    async def start(self, count: int, wav: Path) -> None:
        """Replace the running streams by `count` new ones."""
        await self.stop()
        pcm = await self._hass.async_add_executor_job(read_pcm, wav)
        self._tasks = [
            self._hass.async_create_background_task(
                self._pipeline(pcm, offset=(k * 7919 * CHUNK_BYTES) % len(pcm)),
                f"bench_stubs feed {k}",
            )
            for k in range(count)
        ]

    async def stop(self) -> None:
        """Cancel every stream and wait until they are gone."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _pipeline(self, pcm: bytes, offset: int) -> None:
        def ignore(_event: PipelineEvent) -> None:
            pass

        # A satellite entity's wake-word-stage run, minus the satellite.
        await async_pipeline_from_audio_stream(
            self._hass,
            context=Context(),
            event_callback=ignore,
            stt_metadata=STT_METADATA,
            stt_stream=self._paced(pcm, offset),
            audio_settings=AudioSettings(silence_seconds=0.7),
            start_stage=PipelineStage.WAKE_WORD,
            end_stage=PipelineStage.TTS,
        )

    @staticmethod
    async def _paced(pcm: bytes, offset: int) -> AsyncGenerator[bytes]:
        loop = asyncio.get_running_loop()
        due = loop.time()
        pos = offset
        while True:
            due += CHUNK_S
            await asyncio.sleep(max(0.0, due - loop.time()))
            yield pcm[pos : pos + CHUNK_BYTES]
            pos = (pos + CHUNK_BYTES) % len(pcm)
