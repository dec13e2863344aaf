"""Streams a TTS reply to the device's reply-audio pool, paced and measured.

The device plays reply audio out of a fixed pool of equal slots (reference:
16 x 1024 B, 32 ms each).  A chunk larger than a slot would take several, and
a chunk arriving when every slot is taken is an overflow, so the reply is cut
into chunks of exactly one slot and sent on an absolute schedule that never
runs further ahead of the device's playback than the pool holds.

Source audio is whatever Home Assistant's TTS `ResultStream` yields.  The
pipeline asks for the engine's own WAV (no sample-rate options: asking Home
Assistant for 16 kHz goes through its ffmpeg conversion, which holds the first
bytes back until the whole reply is synthesized), which is parsed and
resampled here incrementally (`wav_stream`, `resample`).  Compressed engine
output (mp3, ogg, flac) and WAV that is not 16-bit PCM go through a streaming
ffmpeg decode with input probing turned down, so it does not buffer either
(``-probesize 32 -analyzeduration 0``, and every decoded packet flushed).

Pacing (``lead`` = ``slots - headroom_slots`` chunks, ``d`` = a slot's play
time, chunks counted from 0, ``t0`` = when chunk 0 was sent):

* chunk k may be sent once ``now >= t0 + (k + 1 - lead) * d``: the first
  ``lead`` chunks leave as soon as they exist, after that one chunk per slot
  time, so the device never holds more than ``lead`` unplayed chunks (the
  one being played included).  With ``headroom_slots=0`` this is exactly "at
  most `slots` chunks unplayed".
* The link's delay varies both ways around the first chunk's, and the device
  starts playing when that first chunk arrives.  A later chunk delayed
  *more* than it eats into the lead: the device runs dry once it is more than
  ``(lead - 1) * d`` late.  A later chunk delayed *less* (the first one was
  held up, the rest bunch behind it) arrives early and needs a free slot:
  the pool overflows once it is more than ``headroom_slots * d`` early.  Jitter
  goes both ways, so the default headroom is half the pool: with the
  reference 16 slots, 8 slots of lead (224 ms against late chunks) and 8 free
  (256 ms against bunching), which also covers the device's own start delay
  of a network trip plus up to one 10 ms output tick.  (Keeping only one slot
  free, as before, overflowed on 100 ms of jitter: bench/degraded_link.py.)
* A chunk that becomes ready only after the device must have played
  everything before it (a TTS engine slower than real time) means the device
  ran dry and restarts when this chunk arrives, so the schedule is re-anchored
  there (``starved`` counts these).  Without that, the lost time would let the
  schedule run ahead of the device and overflow its pool.

After the last chunk, ``send_end()``; then the caller's "playback finished"
awaitable is waited for, up to the play time still ahead by the schedule plus
``finish_margin`` (default 2 s: the network trip, the device's start delay
and a few underrun stalls).

Failures end the reply cleanly and raise a `ReplyStreamError` subclass that
carries the partial `ReplyResult`: `DeviceDisconnected` (sending failed),
`TtsStreamFailed` (the TTS stream raised), `AudioDecodeError` (the audio could
not be decoded).  A cancelled caller gets its CancelledError back.  In every
case the TTS stream is closed and any ffmpeg process is killed and reaped
before the call returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
)
import contextlib
from dataclasses import dataclass, field
import logging
import math
import time
from typing import Final

from .resample import OUTPUT_RATE, Resampler
from .wav_stream import AudioFormatError, WavStreamParser

_LOGGER = logging.getLogger(__name__)

BYTES_PER_SECOND: Final = OUTPUT_RATE * 2  # s16le mono
DEFAULT_SLOT_BYTES: Final = 1024
DEFAULT_SLOTS: Final = 16
DEFAULT_FINISH_MARGIN: Final = 2.0
_FFMPEG_READ: Final = 4096
_STDERR_TAIL: Final = 400
# Floor() tolerance when counting played slots at exactly a slot boundary.
_EPSILON: Final = 1e-9

# Container formats recognised from their first bytes, then from the
# extension the TTS stream declares; the value is ffmpeg's demuxer name.
_DEMUXERS: Final = {
    "mp3": "mp3",
    "ogg": "ogg",
    "oga": "ogg",
    "opus": "ogg",
    "flac": "flac",
}

type SendChunk = Callable[[bytes], Awaitable[None]]
type SendEnd = Callable[[], Awaitable[None]]
type Clock = Callable[[], float]
type Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PoolGeometry:
    """The device's reply pool, as its diagnostic sensors announce it."""

    slot_bytes: int = DEFAULT_SLOT_BYTES
    slots: int = DEFAULT_SLOTS

    def __post_init__(self) -> None:
        """Refuse a geometry that would split samples or hold nothing."""
        if self.slot_bytes < 2 or self.slot_bytes % 2:
            raise ValueError(
                f"slot size must be a positive even number of bytes: {self.slot_bytes}"
            )
        if self.slots < 1:
            raise ValueError(f"the pool needs at least one slot: {self.slots}")

    @property
    def slot_seconds(self) -> float:
        """Play time of one full slot of 16 kHz s16le mono."""
        return self.slot_bytes / BYTES_PER_SECOND


@dataclass(frozen=True, slots=True)
class TimingStats:
    """Summary of a list of durations, in seconds."""

    count: int = 0
    mean: float = 0.0
    p95: float = 0.0
    max: float = 0.0

    @classmethod
    def of(cls, values: list[float]) -> TimingStats:
        """Mean, nearest-rank 95th percentile and maximum of the values."""
        if not values:
            return cls()
        ordered = sorted(values)
        rank = max(1, math.ceil(0.95 * len(ordered)))
        return cls(
            count=len(ordered),
            mean=sum(ordered) / len(ordered),
            p95=ordered[rank - 1],
            max=ordered[-1],
        )


@dataclass(slots=True)
class ReplyResult:
    """What happened while a reply streamed; every time is a clock() reading."""

    started_at: float
    decoder: str = "none"
    source_format: str | None = None
    first_engine_byte_at: float | None = None
    first_chunk_sent_at: float | None = None
    last_chunk_sent_at: float | None = None
    end_sent_at: float | None = None
    finished_at: float | None = None
    chunks: int = 0
    audio_bytes: int = 0
    max_lead_chunks: int = 0
    starved: int = 0
    finish_timeout: float | None = None
    finished: bool = False
    timed_out: bool = False
    aborted: bool = False
    abort_reason: str | None = None
    # Per chunk: sent - max(scheduled, ready), i.e. the pacer's own error.
    send_lateness: list[float] = field(default_factory=list, repr=False)
    # Per chunk after the first: max(0, ready - scheduled), i.e. how long the
    # engine or decoder kept the schedule waiting.
    producer_lateness: list[float] = field(default_factory=list, repr=False)

    @property
    def audio_seconds(self) -> float:
        """Play time of everything sent."""
        return self.audio_bytes / BYTES_PER_SECOND

    @property
    def time_to_first_byte(self) -> float | None:
        """From the start of the call to the engine's first byte."""
        if self.first_engine_byte_at is None:
            return None
        return self.first_engine_byte_at - self.started_at

    @property
    def time_to_first_chunk(self) -> float | None:
        """From the start of the call to the first chunk handed to the device."""
        if self.first_chunk_sent_at is None:
            return None
        return self.first_chunk_sent_at - self.started_at

    @property
    def pacing(self) -> TimingStats:
        """How late sends were against their schedule (the pacer's error)."""
        return TimingStats.of(self.send_lateness)

    @property
    def producer_wait(self) -> TimingStats:
        """How late audio became ready against the schedule."""
        return TimingStats.of(self.producer_lateness)


class ReplyStreamError(Exception):
    """A reply ended early; `result` holds what was measured until then."""

    def __init__(self, message: str, result: ReplyResult) -> None:
        """Keep the partial result for the caller's timings and logs."""
        super().__init__(message)
        self.result = result


class DeviceDisconnected(ReplyStreamError):
    """Sending to the device failed: it went away mid-reply."""


class TtsStreamFailed(ReplyStreamError):
    """The TTS stream raised before it ended."""


class AudioDecodeError(ReplyStreamError):
    """The reply's audio could not be decoded to 16 kHz PCM."""


class _EngineError(Exception):
    """Internal: the TTS iterator raised (the cause is chained)."""


class _DecodeFailure(Exception):
    """Internal: decoding failed, with a message for AudioDecodeError."""


class _SendFailure(Exception):
    """Internal: send_chunk or send_end raised (the cause is chained)."""


class PcmDecoder:
    """Turns a TTS stream into 16 kHz s16le mono as it arrives, unpaced.

    `ReplyStreamer` uses it; a caller that joins several sources into one
    reply (an announcement's preannounce sound and its message) can decode
    each with `async_decode` and pace the joined stream once.
    """

    def __init__(
        self, ffmpeg_binary: str | None = None, clock: Clock = time.monotonic
    ) -> None:
        """Keep the ffmpeg binary (None: WAV only) and the clock for stamps."""
        self._ffmpeg_binary = ffmpeg_binary
        self._clock = clock

    async def async_decode(
        self,
        audio: AsyncIterable[bytes],
        extension: str = "wav",
        result: ReplyResult | None = None,
    ) -> AsyncGenerator[bytes]:
        """Yield the audio as 16 kHz s16le mono, in pieces as they decode.

        Raises TtsStreamFailed or AudioDecodeError (carrying `result`, which
        also receives the decoder name and the first-byte stamp) and closes
        `audio` in every case.  Iterate it under contextlib.aclosing, so that
        stopping early kills ffmpeg at once rather than at garbage collection.
        """
        result = result or ReplyResult(started_at=self._clock())
        source = aiter(audio)
        try:
            async with contextlib.aclosing(self._pcm(source, extension, result)) as pcm:
                async for data in pcm:
                    if data:
                        yield data
        except _EngineError as err:
            cause = err.__cause__
            raise TtsStreamFailed(f"TTS stream failed: {cause!r}", result) from cause
        except (_DecodeFailure, AudioFormatError) as err:
            raise AudioDecodeError(f"cannot decode the reply: {err}", result) from err
        finally:
            await _close_iterator(source)

    async def _next(
        self, source: AsyncIterator[bytes], result: ReplyResult
    ) -> bytes | None:
        """Return the TTS stream's next bytes, None at its end; stamp the first."""
        try:
            data = await anext(source)
        except StopAsyncIteration:
            return None
        except Exception as err:
            raise _EngineError from err
        if data and result.first_engine_byte_at is None:
            result.first_engine_byte_at = self._clock()
        return data

    async def _pcm(
        self, source: AsyncIterator[bytes], extension: str, result: ReplyResult
    ) -> AsyncGenerator[bytes]:
        """Yield the reply as 16 kHz s16le mono, as soon as it is decoded."""
        head = b""
        while len(head) < 12:
            data = await self._next(source, result)
            if data is None:
                break
            head += data
        if not head:
            return
        demuxer = _sniff(head, extension)
        if demuxer != "wav":
            async with contextlib.aclosing(
                self._ffmpeg(head, source, demuxer, result)
            ) as decoded:
                async for pcm in decoded:
                    yield pcm
            return
        parser = WavStreamParser()
        seen = [head]
        try:
            pcm = parser.feed(head)
            while parser.format is None and (
                (data := await self._next(source, result)) is not None
            ):
                seen.append(data)
                pcm = parser.feed(data)
            fmt = parser.require_format()  # raises if the stream ended first
        except AudioFormatError as err:
            if self._ffmpeg_binary is None:
                raise
            _LOGGER.debug("Reply WAV goes to ffmpeg: %s", err)
            async with contextlib.aclosing(
                self._ffmpeg(b"".join(seen), source, "wav", result)
            ) as decoded:
                async for pcm in decoded:
                    yield pcm
            return
        del seen
        resampler = Resampler(fmt.sample_rate, fmt.channels)
        result.source_format = f"wav {fmt.sample_rate} Hz x{fmt.channels}"
        result.decoder = "wav passthrough" if resampler.passthrough else "wav resample"
        yield resampler.feed(pcm)
        while (data := await self._next(source, result)) is not None:
            yield resampler.feed(parser.feed(data))
        yield resampler.flush()

    async def _ffmpeg(
        self,
        head: bytes,
        source: AsyncIterator[bytes],
        demuxer: str | None,
        result: ReplyResult,
    ) -> AsyncGenerator[bytes]:
        """Decode through ffmpeg, writing its stdin while reading its stdout."""
        if self._ffmpeg_binary is None:
            raise _DecodeFailure(
                f"{demuxer or 'unknown'} audio needs ffmpeg, which is not available"
            )
        result.decoder = f"ffmpeg {demuxer or 'probe'}"
        result.source_format = demuxer
        command = [
            self._ffmpeg_binary,
            "-hide_banner",
            "-loglevel",
            "error",
            # Decode what has arrived instead of reading ahead to probe it.
            "-probesize",
            "32",
            "-analyzeduration",
            "0",
            # No "-fflags nobuffer": it discards the packets read while the
            # stream is analysed instead of decoding them.  Measured with
            # ffmpeg 5.1: a float WAV lost its first 1024 frames (46 ms), an
            # mp3 its encoder-delay trim, and a WAV alone decoded to nothing.
            *(["-f", demuxer] if demuxer else []),
            "-i",
            "pipe:0",
            "-f",
            "s16le",
            "-ar",
            str(OUTPUT_RATE),
            "-ac",
            "1",
            # Write every decoded packet at once, not when a 32 KiB buffer fills.
            "-flush_packets",
            "1",
            "pipe:1",
        ]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            raise _DecodeFailure(f"cannot run {self._ffmpeg_binary}: {err}") from err
        assert process.stdout is not None
        assert process.stderr is not None
        writer = asyncio.create_task(self._feed_ffmpeg(process, head, source, result))
        errors = asyncio.create_task(process.stderr.read())
        try:
            while data := await process.stdout.read(_FFMPEG_READ):
                yield data
            code = await process.wait()
            # A TTS error kills ffmpeg; report the TTS error, not the kill.
            # Otherwise a failed ffmpeg is reported without waiting for the
            # writer, which may be waiting for a slow engine.
            if writer.done() or code == 0:
                await writer
            if code != 0:
                message = (await errors).decode(errors="replace").strip()
                raise _DecodeFailure(
                    f"ffmpeg exited with {code}: {message[-_STDERR_TAIL:]}"
                )
        finally:
            writer.cancel()
            if process.returncode is None:
                process.kill()
            await asyncio.gather(writer, return_exceptions=True)
            await process.wait()
            errors.cancel()
            await asyncio.gather(errors, return_exceptions=True)

    async def _feed_ffmpeg(
        self,
        process: asyncio.subprocess.Process,
        head: bytes,
        source: AsyncIterator[bytes],
        result: ReplyResult,
    ) -> None:
        """Copy the TTS stream into ffmpeg; a TTS error stops ffmpeg at once."""
        stdin = process.stdin
        assert stdin is not None
        try:
            data: bytes | None = head
            while data is not None:
                stdin.write(data)
                await stdin.drain()
                data = await self._next(source, result)
        except (BrokenPipeError, ConnectionResetError):
            # ffmpeg stopped reading: its exit status says why.
            return
        except _EngineError:
            process.kill()
            raise
        finally:
            stdin.close()


class ReplyStreamer:
    """Streams one reply at a time to one device; see the module docstring."""

    def __init__(
        self,
        *,
        send_chunk: SendChunk,
        send_end: SendEnd,
        geometry: PoolGeometry | None = None,
        ffmpeg_binary: str | None = None,
        headroom_slots: int | None = None,
        finish_margin: float = DEFAULT_FINISH_MARGIN,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Wire the device's send functions, its geometry and the time source.

        ffmpeg_binary is Home Assistant's (`get_ffmpeg_manager(hass).binary`);
        without it only WAV replies can be played.  headroom_slots: free slots
        kept against early chunks (default: half the pool).
        """
        self.geometry = geometry or PoolGeometry()
        if headroom_slots is None:
            headroom_slots = self.geometry.slots // 2
        if not 0 <= headroom_slots < self.geometry.slots:
            raise ValueError(
                f"headroom of {headroom_slots} slots leaves no lead in a pool of "
                f"{self.geometry.slots}"
            )
        self._send_chunk = send_chunk
        self._send_end = send_end
        self.decoder = PcmDecoder(ffmpeg_binary, clock)
        self.lead = self.geometry.slots - headroom_slots
        self._finish_margin = finish_margin
        self._clock = clock
        self._sleep = sleep

    async def async_stream(
        self,
        audio: AsyncIterable[bytes],
        extension: str = "wav",
        playback_finished: Awaitable[object] | None = None,
    ) -> ReplyResult:
        """Play one reply: decode, cut, pace, end, wait for the device.

        `audio` is `ResultStream.async_stream_result()`; `extension` is the
        stream's declared format (`ResultStream.extension`), used when the
        first bytes do not say; `playback_finished` completes when the device
        reports the end of playback (AnnounceFinished).  It is not cancelled
        by this call unless it is a bare coroutine.
        """
        result = ReplyResult(started_at=self._clock())
        source = aiter(audio)
        pacer = _Pacer(
            result,
            slot_seconds=self.geometry.slot_seconds,
            lead=self.lead,
            clock=self._clock,
            sleep=self._sleep,
            send_chunk=self._send_chunk,
        )
        try:
            async with contextlib.aclosing(
                self.decoder.async_decode(source, extension, result)
            ) as pcm:
                pending = bytearray()
                slot = self.geometry.slot_bytes
                async for data in pcm:
                    pending += data
                    while len(pending) >= slot:
                        await pacer.send(bytes(pending[:slot]))
                        del pending[:slot]
                tail = len(pending) & ~1
                if tail:
                    await pacer.send(bytes(pending[:tail]))
            await self._end(result)
        except (TtsStreamFailed, AudioDecodeError) as err:
            await self._fail(result, str(err), end=True)
            raise
        except _SendFailure as err:
            cause = err.__cause__
            await self._fail(result, f"device went away: {cause!r}", end=False)
            raise DeviceDisconnected(result.abort_reason or "", result) from cause
        except asyncio.CancelledError:
            result.aborted = True
            result.abort_reason = "cancelled"
            raise
        finally:
            await _close_iterator(source)

        if playback_finished is not None:
            await self._wait_finished(result, pacer, playback_finished)
        return result

    # -- ending -----------------------------------------------------------

    async def _end(self, result: ReplyResult) -> None:
        try:
            await self._send_end()
        except Exception as err:
            raise _SendFailure from err
        result.end_sent_at = self._clock()

    async def _fail(self, result: ReplyResult, reason: str, *, end: bool) -> None:
        """Mark the result aborted; close the device's stream if it is still there."""
        result.aborted = True
        result.abort_reason = reason
        if end and result.end_sent_at is None:
            try:
                await self._send_end()
            except Exception:  # the device may be gone too
                _LOGGER.debug("Could not end the reply stream after: %s", reason)
            else:
                result.end_sent_at = self._clock()

    async def _wait_finished(
        self, result: ReplyResult, pacer: _Pacer, waiter: Awaitable[object]
    ) -> None:
        """Wait for the device's end of playback, no longer than it can take."""
        now = self._clock()
        remaining = max(0.0, pacer.play_end(result.audio_seconds) - now)
        timeout = remaining + self._finish_margin
        result.finish_timeout = timeout
        future = asyncio.ensure_future(waiter)
        owned = future is not waiter
        timer = asyncio.ensure_future(self._sleep(timeout))
        try:
            await asyncio.wait({future, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if owned:
                future.cancel()
            await asyncio.gather(
                timer, *([future] if owned else []), return_exceptions=True
            )
        if future.done() and not future.cancelled():
            if (error := future.exception()) is not None:
                result.aborted = True
                result.abort_reason = f"device went away: {error!r}"
                raise DeviceDisconnected(result.abort_reason, result) from error
            result.finished = True
            result.finished_at = self._clock()
        else:
            result.timed_out = True


class _Pacer:
    """The send schedule of one reply, and its measurements."""

    def __init__(
        self,
        result: ReplyResult,
        *,
        slot_seconds: float,
        lead: int,
        clock: Clock,
        sleep: Sleep,
        send_chunk: SendChunk,
    ) -> None:
        self._result = result
        self._slot = slot_seconds
        self._lead = lead
        self._clock = clock
        self._sleep = sleep
        self._send_chunk = send_chunk
        self._anchor = 0.0  # when the device (by the model) started chunk 0

    def play_end(self, audio_seconds: float) -> float:
        """When the device should play its last sample, by the schedule."""
        return self._anchor + audio_seconds

    async def send(self, chunk: bytes) -> None:
        """Send one chunk once the schedule allows it."""
        result, slot, clock = self._result, self._slot, self._clock
        k = result.chunks
        ready = clock()
        if k == 0:
            due = ready
        else:
            if ready > self._anchor + k * slot:
                # The device has played everything sent: it ran dry and will
                # start again with this chunk.
                result.starved += 1
                self._anchor = ready - k * slot
            scheduled = self._anchor + (k + 1 - self._lead) * slot
            result.producer_lateness.append(max(0.0, ready - scheduled))
            due = max(scheduled, ready)
            while (now := clock()) < due:
                await self._sleep(due - now)
        sent = clock()
        try:
            await self._send_chunk(chunk)
        except Exception as err:
            raise _SendFailure from err
        if k == 0:
            self._anchor = sent
            result.first_chunk_sent_at = sent
        result.last_chunk_sent_at = sent
        result.send_lateness.append(sent - due)
        played = min(k, max(0, math.floor((sent - self._anchor) / slot + _EPSILON)))
        result.max_lead_chunks = max(result.max_lead_chunks, k + 1 - played)
        result.chunks += 1
        result.audio_bytes += len(chunk)


def _sniff(head: bytes, extension: str) -> str | None:
    """Which decoder the stream needs: "wav", an ffmpeg demuxer, or None (probe)."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"ID3") or (
        len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    ):
        return "mp3"
    return _DEMUXERS.get(extension.lower().lstrip("."))


async def _close_iterator(source: AsyncIterator[bytes]) -> None:
    """Close the TTS stream (an async generator) so the engine stops working."""
    close = getattr(source, "aclose", None)
    if close is None:
        return
    try:
        await close()
    except Exception:  # closing is best effort
        _LOGGER.debug("Closing the TTS stream failed", exc_info=True)
