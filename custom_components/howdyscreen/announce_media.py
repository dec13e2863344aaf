"""Audio sources for announcements: fetched by Home Assistant, never by the device.

A HowdyScreen has no HTTP client and no decoder; everything it plays arrives
as 16 kHz PCM inside the API connection.  So Home Assistant reads the media of
an announcement itself (a TTS stream, a file of its own, or a URL), decodes
it with the reply streamer's decoder, and the satellite sends one continuous
stream: the preannounce sound followed by the message, with no gap the
device would count as an underrun.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable
import contextlib
from pathlib import Path
import struct
from typing import Final
from urllib.parse import urlparse

import aiohttp
from homeassistant.components import assist_satellite
from homeassistant.components.assist_satellite.const import (
    PREANNOUNCE_FILENAME,
    PREANNOUNCE_URL,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .reply_streamer import PoolGeometry, ReplyStreamer
from .resample import OUTPUT_RATE

READ_SIZE: Final = 8192
FETCH_TIMEOUT: Final = aiohttp.ClientTimeout(total=60, sock_connect=10)
# Decoded audio waiting for the paced sender; the decoder waits beyond it.
_DECODED_QUEUE: Final = 16


class MediaFetchError(Exception):
    """The announcement's media could not be read."""


def wav_stream_header() -> bytes:
    """Return a WAV header for 16 kHz s16le mono of unknown length (a stream)."""
    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, OUTPUT_RATE, OUTPUT_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )


async def async_open_media(hass: HomeAssistant, url: str) -> AsyncGenerator[bytes]:
    """Yield the bytes of a media URL, read by Home Assistant.

    Home Assistant's own preannounce sound is read from the file it serves, so
    announcing does not depend on Home Assistant reaching its own URL.
    """
    if urlparse(url).path == PREANNOUNCE_URL:
        path = Path(assist_satellite.__file__).parent / PREANNOUNCE_FILENAME
        data = await hass.async_add_executor_job(path.read_bytes)
        yield data
        return
    session = async_get_clientsession(hass)
    try:
        async with session.get(url, timeout=FETCH_TIMEOUT) as response:
            response.raise_for_status()
            async for chunk in response.content.iter_chunked(READ_SIZE):
                yield chunk
    except (aiohttp.ClientError, TimeoutError) as err:
        raise MediaFetchError(f"cannot fetch {url}: {err!r}") from err


class _InstantClock:
    """Time that passes only when slept: runs a ReplyStreamer without pacing."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def async_decode(
    audio: AsyncIterable[bytes], extension: str, ffmpeg_binary: str | None
) -> AsyncGenerator[bytes]:
    """Yield `audio` decoded to 16 kHz s16le mono, as fast as it decodes.

    The reply streamer's decoder (WAV parse and resample, or ffmpeg) is reused
    with a clock that only moves when it sleeps, so it cuts and hands over
    chunks without pacing them; the real pacing happens once, on the
    combined stream.  Decoding errors surface as the streamer's errors.
    """
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(_DECODED_QUEUE)
    instant = _InstantClock()

    async def put(chunk: bytes) -> None:
        await queue.put(chunk)

    async def end() -> None:
        await queue.put(None)

    streamer = ReplyStreamer(
        send_chunk=put,
        send_end=end,
        geometry=PoolGeometry(slot_bytes=4096, slots=2),
        ffmpeg_binary=ffmpeg_binary,
        headroom_slots=0,
        clock=instant.clock,
        sleep=instant.sleep,
    )
    task = asyncio.create_task(streamer.async_stream(audio, extension))
    try:
        while (chunk := await _next_or_failure(queue, task)) is not None:
            yield chunk
        await task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _next_or_failure(
    queue: asyncio.Queue[bytes | None], task: asyncio.Task[object]
) -> bytes | None:
    """Return the next decoded chunk; raise the decoder's error if it failed."""
    getter = asyncio.ensure_future(queue.get())
    await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
    if getter.done():
        return getter.result()
    getter.cancel()
    task.result()  # raises the decoder's error
    # The decoder returned without an end marker: nothing more will come.
    return None


async def async_announcement_audio(
    parts: list[tuple[AsyncIterable[bytes], str]], ffmpeg_binary: str | None
) -> AsyncGenerator[bytes]:
    """One WAV stream made of every part (preannounce, message), decoded in turn."""
    yield wav_stream_header()
    for audio, extension in parts:
        async with contextlib.aclosing(
            async_decode(audio, extension, ffmpeg_binary)
        ) as decoded:
            async for chunk in decoded:
                yield chunk
