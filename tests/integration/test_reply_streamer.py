"""The pooled reply streamer: schedule, chunking, endings, failures, ffmpeg."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import math
from pathlib import Path
import struct
import subprocess
import time
from typing import Any

import numpy as np
import pytest

from custom_components.howdyscreen import reply_streamer as rs
from custom_components.howdyscreen.reply_streamer import (
    DEFAULT_SLOTS,
    AudioDecodeError,
    DeviceDisconnected,
    PoolGeometry,
    ReplyResult,
    ReplyStreamer,
    TimingStats,
    TtsStreamFailed,
)

FFMPEG = "/usr/bin/ffmpeg"
SLOT = 1024
SLOTS = 8
D = SLOT / 32000  # 32 ms


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


class FakeDevice:
    """Records what the streamer sends, and when; can fail on demand."""

    def __init__(self, clock: Callable[[], float], fail_at: int | None = None) -> None:
        self.clock = clock
        self.fail_at = fail_at
        self.chunks: list[bytes] = []
        self.times: list[float] = []
        self.end_at: float | None = None
        self.end_error: Exception | None = None
        self.finished: asyncio.Future[None] | None = None

    async def send_chunk(self, chunk: bytes) -> None:
        if self.fail_at is not None and len(self.chunks) == self.fail_at:
            raise ConnectionResetError("device went away")
        self.chunks.append(chunk)
        self.times.append(self.clock())

    async def send_end(self) -> None:
        if self.end_error is not None:
            raise self.end_error
        self.end_at = self.clock()
        if self.finished is not None:
            self.finished.set_result(None)


class Source:
    """A TTS stream as Home Assistant hands it over: an async generator.

    `pieces` are (delay before, bytes) on the given sleep; `closed` tells
    whether the generator was closed (its finally ran).
    """

    def __init__(
        self,
        pieces: list[tuple[float, bytes]],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        error_after: int | None = None,
        block_after: int | None = None,
    ) -> None:
        self.pieces = pieces
        self.sleep = sleep
        self.error_after = error_after
        self.block_after = block_after
        self.closed = False
        self.yielded = 0

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            for delay, data in self.pieces:
                if self.error_after is not None and self.yielded == self.error_after:
                    raise RuntimeError("TTS engine crashed")
                if self.block_after is not None and self.yielded == self.block_after:
                    await asyncio.Event().wait()
                if delay:
                    await self.sleep(delay)
                self.yielded += 1
                yield data
        finally:
            self.closed = True


def wav_header(
    rate: int = 16000, channels: int = 1, size: int = 0xFFFFFFFF, tag: int = 1
) -> bytes:
    align = channels * 2
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, 16)
    return (
        b"RIFF\xff\xff\xff\xffWAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", size)
    )


def pcm_16k(seconds: float, seed: int = 0) -> bytes:
    samples = np.random.default_rng(seed).integers(-8000, 8000, round(16000 * seconds))
    return samples.astype("<i2").tobytes()


def make(
    clock: FakeClock | None = None, fail_at: int | None = None, **kwargs: Any
) -> tuple[ReplyStreamer, FakeDevice, FakeClock]:
    clock = clock or FakeClock()
    device = FakeDevice(clock, fail_at)
    streamer = ReplyStreamer(
        send_chunk=device.send_chunk,
        send_end=device.send_end,
        geometry=PoolGeometry(SLOT, SLOTS),
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )
    return streamer, device, clock


def unplayed_at_each_send(device: FakeDevice, start: float) -> list[int]:
    """Chunks the device holds (the one playing included) as each chunk arrives,
    assuming it starts playing the first chunk the moment it is sent."""
    held = []
    for k, sent in enumerate(device.times):
        played = min(k, math.floor((sent - start) / D + 1e-9))
        held.append(k + 1 - played)
    return held


async def test_schedule_stays_within_the_pool() -> None:
    streamer, device, _clock = make()
    audio = pcm_16k(3.0)
    source = Source([(0, wav_header()), (0, audio)])
    result = await streamer.async_stream(source.stream(), "wav")

    # Half the pool is kept free against early (bunched) chunks.
    lead = SLOTS - SLOTS // 2
    assert streamer.lead == lead
    t0 = device.times[0]
    assert result.first_chunk_sent_at == t0
    # The first `lead` chunks leave at once, then one per slot time.
    for k, sent in enumerate(device.times):
        assert sent == pytest.approx(t0 + max(0, k + 1 - lead) * D, abs=1e-9)
    assert max(unplayed_at_each_send(device, t0)) == lead
    assert result.max_lead_chunks == lead
    # Exact slot-sized chunks, the last one shorter, nothing lost or added.
    assert all(len(c) == SLOT for c in device.chunks[:-1])
    assert len(device.chunks[-1]) == len(audio) % SLOT
    assert b"".join(device.chunks) == audio
    assert result.chunks == len(device.chunks) == math.ceil(len(audio) / SLOT)
    assert result.audio_seconds == pytest.approx(3.0)
    # The end marker follows the last chunk.
    assert device.end_at is not None
    assert device.end_at >= device.times[-1]
    assert result.end_sent_at == device.end_at
    assert result.decoder == "wav passthrough"
    assert result.source_format == "wav 16000 Hz x1"
    assert result.pacing.max == 0.0
    assert result.starved == 0
    assert not result.aborted
    assert not result.finished
    assert not result.timed_out
    assert result.finish_timeout is None


async def test_without_headroom_the_whole_pool_is_used() -> None:
    """headroom_slots=0 is the plain rule: chunk k (from 1) at t0 + (k - slots) d."""
    streamer, device, _clock = make(headroom_slots=0)
    await streamer.async_stream(Source([(0, wav_header() + pcm_16k(1.0))]).stream())
    t0 = device.times[0]
    assert device.times[:SLOTS] == [t0] * SLOTS
    for k, sent in enumerate(device.times, start=1):
        assert sent == pytest.approx(t0 + max(0, k - SLOTS) * D, abs=1e-9)
    assert max(unplayed_at_each_send(device, t0)) == SLOTS


async def test_first_chunk_leaves_before_the_engine_is_done() -> None:
    streamer, device, clock = make()
    source = Source(
        [(0, wav_header()), (0.4, pcm_16k(0.05)), (5.0, pcm_16k(1.0, seed=1))],
        sleep=clock.sleep,
    )
    start = clock.now
    result = await streamer.async_stream(source.stream(), "wav")
    # 50 ms of audio is one full chunk: it went out when it existed, 0.4 s in,
    # not after the engine's last piece 5 s later.
    assert device.times[0] == pytest.approx(start + 0.4)
    assert result.time_to_first_chunk == pytest.approx(0.4)
    assert result.time_to_first_byte == 0.0
    assert device.times[1] >= start + 5.4


async def test_slow_engine_chunks_go_out_as_produced() -> None:
    """An engine at half real time: every chunk leaves the moment it exists."""
    streamer, device, clock = make()
    pieces = [(0.0, wav_header())] + [(2 * D, pcm_16k(D, seed=i)) for i in range(20)]
    source = Source(pieces, sleep=clock.sleep)
    start = clock.now
    result = await streamer.async_stream(source.stream(), "wav")
    assert result.chunks == 20
    for k, sent in enumerate(device.times):
        assert sent == pytest.approx(start + 2 * D * (k + 1))
    # The device ran dry before each chunk after the first: it restarts each
    # time, so the schedule is re-anchored and never builds a phantom lead.
    assert result.starved == 19
    assert result.max_lead_chunks == 1
    assert result.pacing.max == 0.0
    assert result.producer_wait.count == 19
    # Re-anchored at each arrival, each chunk was due lead - 1 slots earlier.
    assert result.producer_wait.max == pytest.approx((streamer.lead - 1) * D)


async def test_engine_a_little_slow_is_measured_not_restarted() -> None:
    """Late against the schedule but before the device runs dry: no restart."""
    streamer, device, clock = make()
    pieces = [(0.0, wav_header() + pcm_16k(D * 10))]
    pieces += [(D * 1.5, pcm_16k(D, seed=i)) for i in range(5)]
    result = await streamer.async_stream(Source(pieces, sleep=clock.sleep).stream())
    assert result.chunks == 15
    assert result.starved == 0
    assert result.producer_wait.max > 0
    assert max(unplayed_at_each_send(device, device.times[0])) <= SLOTS - 1


async def test_playback_finished_is_waited_for() -> None:
    streamer, device, clock = make()
    device.finished = asyncio.get_running_loop().create_future()
    result = await streamer.async_stream(
        Source([(0, wav_header() + pcm_16k(1.0))]).stream(),
        "wav",
        playback_finished=device.finished,
    )
    assert result.finished
    assert not result.timed_out
    assert result.finished_at == clock.now


async def test_playback_finished_times_out_after_the_audio_plus_margin() -> None:
    streamer, device, clock = make(finish_margin=1.5)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    result = await streamer.async_stream(
        Source([(0, wav_header() + pcm_16k(2.0))]).stream(),
        "wav",
        playback_finished=never,
    )
    assert result.timed_out
    assert not result.finished
    assert device.end_at is not None
    remaining = device.times[0] + 2.0 - device.end_at
    assert result.finish_timeout == pytest.approx(remaining + 1.5)
    assert clock.now == pytest.approx(device.end_at + remaining + 1.5)
    assert not never.cancelled()  # the caller's future is left alone


async def test_finished_coroutine_is_cleaned_up_on_timeout() -> None:
    streamer, _device, _clock = make()
    event = asyncio.Event()
    before = asyncio.all_tasks()
    result = await streamer.async_stream(
        Source([(0, wav_header() + pcm_16k(0.1))]).stream(),
        playback_finished=event.wait(),
    )
    assert result.timed_out
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before


async def test_finished_failing_means_the_device_went_away() -> None:
    streamer, _device, _clock = make()
    failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    failed.set_exception(ConnectionResetError("gone"))
    with pytest.raises(DeviceDisconnected) as caught:
        await streamer.async_stream(
            Source([(0, wav_header() + pcm_16k(0.1))]).stream(),
            playback_finished=failed,
        )
    assert caught.value.result.aborted


async def test_disconnect_mid_stream_aborts_and_closes_the_tts_stream() -> None:
    streamer, device, _clock = make(fail_at=3)
    source = Source(
        [(0, wav_header())] + [(0, pcm_16k(0.1, seed=i)) for i in range(10)]
    )
    with pytest.raises(DeviceDisconnected, match="device went away") as caught:
        await streamer.async_stream(source.stream(), "wav")
    result = caught.value.result
    assert result.aborted
    assert result.chunks == 3
    assert source.closed
    assert source.yielded < 11
    assert device.end_at is None  # nobody to tell
    assert isinstance(caught.value.__cause__, ConnectionResetError)


async def test_end_marker_failing_is_a_disconnect() -> None:
    streamer, device, _clock = make()
    device.end_error = ConnectionResetError("gone")
    with pytest.raises(DeviceDisconnected):
        await streamer.async_stream(Source([(0, wav_header() + pcm_16k(0.1))]).stream())


@pytest.mark.parametrize("end_fails", [False, True])
async def test_tts_error_mid_stream(end_fails: bool) -> None:
    streamer, device, _clock = make()
    if end_fails:
        device.end_error = ConnectionResetError("gone too")
    source = Source(
        [(0, wav_header())] + [(0, pcm_16k(0.1, seed=i)) for i in range(5)],
        error_after=3,
    )
    with pytest.raises(TtsStreamFailed, match="TTS engine crashed") as caught:
        await streamer.async_stream(source.stream(), "wav")
    result = caught.value.result
    assert result.aborted
    assert result.chunks == len(device.chunks) > 0
    assert source.closed
    # The device's stream is ended so it plays what it has and reports back.
    assert (device.end_at is None) == end_fails
    assert (result.end_sent_at is None) == end_fails


async def test_cancellation_leaves_nothing_behind() -> None:
    streamer, device, _clock = make()
    source = Source([(0, wav_header()), (0, pcm_16k(0.2)), (0, b"")], block_after=2)
    before = asyncio.all_tasks()
    task = asyncio.create_task(streamer.async_stream(source.stream(), "wav"))
    while len(device.chunks) < 6:
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.closed
    assert asyncio.all_tasks() - {task} == before


async def test_resampled_stereo_wav() -> None:
    streamer, device, _clock = make()
    t = np.arange(44100) / 44100
    left = np.rint(12000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    stereo = np.column_stack((left, left)).reshape(-1).tobytes()
    data = wav_header(44100, 2) + stereo
    pieces = [(0, data[i : i + 999]) for i in range(0, len(data), 999)]
    result = await streamer.async_stream(Source(pieces).stream(), "wav")
    assert result.decoder == "wav resample"
    assert result.source_format == "wav 44100 Hz x2"
    out = np.frombuffer(b"".join(device.chunks), dtype="<i2")
    assert abs(len(out) - 16040) <= 2  # one second plus the filter's delay
    assert all(len(c) == SLOT for c in device.chunks[:-1])
    spectrum = np.abs(np.fft.rfft(out[:16000]))
    assert np.argmax(spectrum) == 440


async def test_empty_stream_ends_at_once() -> None:
    streamer, device, _clock = make()
    result = await streamer.async_stream(Source([]).stream(), "wav")
    assert result.chunks == 0
    assert result.decoder == "none"
    assert device.end_at is not None
    result = await streamer.async_stream(Source([(0, wav_header())]).stream(), "wav")
    assert result.chunks == 0
    assert result.decoder == "wav passthrough"


async def test_plain_iterable_without_aclose() -> None:
    class Pieces:
        def __init__(self, data: bytes) -> None:
            self.data = [data]

        def __aiter__(self) -> Pieces:
            return self

        async def __anext__(self) -> bytes:
            if not self.data:
                raise StopAsyncIteration
            return self.data.pop()

    streamer, _device, _clock = make()
    result = await streamer.async_stream(Pieces(wav_header() + pcm_16k(0.1)))
    assert result.chunks == 4


async def test_closing_the_tts_stream_may_fail() -> None:
    class Stubborn:
        def __aiter__(self) -> Stubborn:
            return self

        async def __anext__(self) -> bytes:
            raise StopAsyncIteration

        async def aclose(self) -> None:
            raise RuntimeError("already closed")

    streamer, _device, _clock = make()
    assert (await streamer.async_stream(Stubborn())).chunks == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (wav_header()[:20], "ended before"),
        (wav_header(tag=3), "float"),
        (b"ID3\x04" + bytes(100), "needs ffmpeg"),
    ],
)
async def test_undecodable_without_ffmpeg(data: bytes, message: str) -> None:
    streamer, device, _clock = make()
    with pytest.raises(AudioDecodeError, match=message) as caught:
        await streamer.async_stream(Source([(0, data)]).stream(), "wav")
    assert caught.value.result.aborted
    assert device.end_at is not None


async def test_format_change_mid_stream_is_a_decode_error() -> None:
    streamer, _device, _clock = make()
    first = wav_header(size=3200) + pcm_16k(0.1)
    second = wav_header(rate=24000)
    with pytest.raises(AudioDecodeError, match="changed"):
        await streamer.async_stream(Source([(0, first), (0, second)]).stream())


async def test_missing_ffmpeg_binary(tmp_path: Path) -> None:
    streamer, _device, _clock = make(ffmpeg_binary=str(tmp_path / "no-ffmpeg"))
    with pytest.raises(AudioDecodeError, match="cannot run"):
        await streamer.async_stream(Source([(0, b"OggS" + bytes(60))]).stream(), "ogg")


def test_sniffing() -> None:
    assert rs._sniff(wav_header(), "mp3") == "wav"
    assert rs._sniff(b"RF64\xff\xff\xff\xffWAVE", "") == "wav"
    assert rs._sniff(b"OggS\x00", "wav") == "ogg"
    assert rs._sniff(b"fLaC\x00", "wav") == "flac"
    assert rs._sniff(b"ID3\x04", "wav") == "mp3"
    assert rs._sniff(b"\xff\xfb\x90", "wav") == "mp3"
    assert rs._sniff(b"\xff", "opus") == "ogg"
    assert rs._sniff(b"\x00\x01\x02", ".MP3") == "mp3"
    assert rs._sniff(b"\x00\x01\x02", "wav") is None


def test_geometry_and_settings_are_checked() -> None:
    assert PoolGeometry().slot_seconds == pytest.approx(0.032)
    with pytest.raises(ValueError, match="even"):
        PoolGeometry(slot_bytes=1023)
    with pytest.raises(ValueError, match="at least one"):
        PoolGeometry(slots=0)

    async def nothing(*_: Any) -> None:
        return None

    with pytest.raises(ValueError, match="headroom"):
        ReplyStreamer(
            send_chunk=nothing, send_end=nothing, headroom_slots=DEFAULT_SLOTS
        )


def test_timing_stats() -> None:
    assert TimingStats.of([]) == TimingStats()
    stats = TimingStats.of([float(v) for v in range(1, 21)])
    assert stats.count == 20
    assert stats.mean == 10.5
    assert stats.p95 == 19.0
    assert stats.max == 20.0
    empty = ReplyResult(started_at=1.0)
    assert empty.time_to_first_byte is None
    assert empty.time_to_first_chunk is None


# -- real ffmpeg ----------------------------------------------------------------


def encode(
    tmp_path: Path, codec_args: list[str], suffix: str, seconds: float = 2.0
) -> bytes:
    """A 1 kHz sine at 22.05 kHz, encoded by ffmpeg itself."""
    target = tmp_path / f"tone.{suffix}"
    subprocess.run(
        [
            FFMPEG,
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=1000:sample_rate=22050:duration={seconds}",
            *codec_args,
            str(target),
        ],
        check=True,
        timeout=30,
    )
    return target.read_bytes()


def dominant_frequency(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * 16000 / len(samples))


class RealDevice:
    """Logs sends against the same event log the source writes to."""

    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.log = log
        self.chunks: list[bytes] = []

    async def send_chunk(self, chunk: bytes) -> None:
        self.log.append(("chunk", len(self.chunks)))
        self.chunks.append(chunk)

    async def send_end(self) -> None:
        self.log.append(("end", 0))


@pytest.mark.parametrize(
    ("codec", "suffix", "extension"),
    [
        (["-c:a", "libmp3lame", "-b:a", "48k"], "mp3", "mp3"),
        (["-c:a", "libvorbis", "-q:a", "2"], "ogg", "ogg"),
    ],
)
async def test_ffmpeg_decodes_while_the_input_is_still_arriving(
    tmp_path: Path, codec: list[str], suffix: str, extension: str
) -> None:
    encoded = encode(tmp_path, codec, suffix)
    log: list[tuple[str, int]] = []
    piece = 1000
    count = math.ceil(len(encoded) / piece)

    async def slow_engine() -> AsyncIterator[bytes]:
        for i in range(count):
            log.append(("fed", i))
            yield encoded[i * piece : (i + 1) * piece]
            await asyncio.sleep(0.05)

    device = RealDevice(log)
    streamer = ReplyStreamer(
        send_chunk=device.send_chunk, send_end=device.send_end, ffmpeg_binary=FFMPEG
    )
    result = await streamer.async_stream(slow_engine(), extension)

    first_chunk = log.index(("chunk", 0))
    last_piece = log.index(("fed", count - 1))
    assert first_chunk < last_piece, "ffmpeg held the audio back until the end"
    assert log[-1] == ("end", 0)
    assert result.decoder == f"ffmpeg {extension}"
    assert all(len(c) == 1024 for c in device.chunks[:-1])
    pcm = b"".join(device.chunks)
    assert 1.95 <= len(pcm) / 32000 <= 2.15
    assert dominant_frequency(pcm) == pytest.approx(1000, abs=2)
    # Real clock: the pacer keeps to its schedule within a few milliseconds.
    assert result.max_lead_chunks <= DEFAULT_SLOTS - DEFAULT_SLOTS // 2
    assert result.pacing.p95 < 0.02


async def test_float_wav_falls_back_to_ffmpeg(tmp_path: Path) -> None:
    encoded = encode(tmp_path, ["-c:a", "pcm_f32le"], "wav", seconds=0.5)
    device = RealDevice([])
    clock = FakeClock()
    streamer = ReplyStreamer(
        send_chunk=device.send_chunk,
        send_end=device.send_end,
        ffmpeg_binary=FFMPEG,
        clock=clock,
        sleep=clock.sleep,
    )
    pieces = [encoded[i : i + 10] for i in range(0, 100, 10)] + [encoded[100:]]

    async def engine() -> AsyncIterator[bytes]:
        for data in pieces:
            yield data

    result = await streamer.async_stream(engine(), "wav")
    assert result.decoder == "ffmpeg wav"
    pcm = b"".join(device.chunks)
    assert abs(len(pcm) / 32000 - 0.5) < 0.01
    assert dominant_frequency(pcm) == pytest.approx(1000, abs=4)


async def test_ffmpeg_failure_is_a_decode_error() -> None:
    streamer, device, _clock = make(ffmpeg_binary=FFMPEG)
    with pytest.raises(AudioDecodeError, match="ffmpeg exited with"):
        await streamer.async_stream(
            Source([(0, b"OggS" + bytes(range(256)) * 8)]).stream(), "ogg"
        )
    assert device.end_at is not None


async def test_ffmpeg_failure_does_not_wait_for_a_slow_engine() -> None:
    """ffmpeg gives up on the first bytes while the engine is still thinking."""
    streamer, _device, _clock = make(ffmpeg_binary=FFMPEG)
    source = Source([(0, b"fLaC" + bytes(5000)), (0, b"more")], block_after=1)
    with pytest.raises(AudioDecodeError, match="ffmpeg exited with"):
        await asyncio.wait_for(streamer.async_stream(source.stream(), "flac"), 10)
    assert source.closed


async def test_ffmpeg_that_stops_reading_is_a_decode_error() -> None:
    """Writing into an ffmpeg that has already exited is not an error of its own."""
    streamer, _device, _clock = make(ffmpeg_binary=FFMPEG)
    source = Source([(0, b"fLaC" + bytes(4_000_000))])
    with pytest.raises(AudioDecodeError, match="ffmpeg exited with"):
        await streamer.async_stream(source.stream(), "flac")
    assert source.closed


class SpawnSpy:
    """Wraps asyncio.create_subprocess_exec to keep the processes it starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.processes: list[asyncio.subprocess.Process] = []
        real = asyncio.create_subprocess_exec

        async def spawn(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
            process = await real(*args, **kwargs)
            self.processes.append(process)
            return process

        monkeypatch.setattr(rs.asyncio, "create_subprocess_exec", spawn)


async def test_tts_error_during_ffmpeg_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = SpawnSpy(monkeypatch)
    encoded = encode(tmp_path, ["-c:a", "libmp3lame"], "mp3")
    streamer, _device, _clock = make(ffmpeg_binary=FFMPEG)
    source = Source(
        [(0, encoded[:4000]), (0.3, encoded[4000:8000]), (0, b"")], error_after=2
    )
    with pytest.raises(TtsStreamFailed, match="TTS engine crashed"):
        await streamer.async_stream(source.stream(), "mp3")
    assert source.closed
    assert spy.processes[0].returncode is not None


@pytest.mark.parametrize("how", ["cancel", "disconnect"])
async def test_ffmpeg_is_killed_when_the_reply_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    spy = SpawnSpy(monkeypatch)
    encoded = encode(tmp_path, ["-c:a", "libmp3lame"], "mp3")
    streamer, device, _clock = make(
        ffmpeg_binary=FFMPEG, fail_at=2 if how == "disconnect" else None
    )
    source = Source([(0, encoded[:6000]), (0, encoded[6000:])], block_after=1)
    before = asyncio.all_tasks()
    task = asyncio.create_task(streamer.async_stream(source.stream(), "mp3"))
    if how == "cancel":
        deadline = time.monotonic() + 10
        while len(device.chunks) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert device.chunks
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    else:
        with pytest.raises(DeviceDisconnected):
            await task
    assert spy.processes[0].returncode is not None
    assert source.closed
    assert asyncio.all_tasks() - {task} == before


# -- the decoder on its own ------------------------------------------------------


async def test_decoder_yields_pcm_unpaced() -> None:
    audio = pcm_16k(0.5)
    pieces = [(0, wav_header()), (0, audio[:777]), (0, audio[777:])]
    decoder = rs.PcmDecoder()
    out = [d async for d in decoder.async_decode(Source(pieces).stream())]
    assert b"".join(out) == audio
    assert all(out)


async def test_decoder_errors_carry_a_result() -> None:
    decoder = rs.PcmDecoder()
    source = Source([(0, wav_header()), (0, pcm_16k(0.1))], error_after=1)
    with pytest.raises(TtsStreamFailed) as caught:
        async for _ in decoder.async_decode(source.stream()):
            pass
    assert caught.value.result.decoder == "wav passthrough"
    assert source.closed
    with pytest.raises(AudioDecodeError, match="needs ffmpeg"):
        async for _ in decoder.async_decode(
            Source([(0, b"OggS" + bytes(64))]).stream()
        ):
            pass


async def test_decoder_stopped_early_kills_ffmpeg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = SpawnSpy(monkeypatch)
    encoded = encode(tmp_path, ["-c:a", "libmp3lame"], "mp3")
    source = Source([(0, encoded[:6000]), (0, encoded[6000:])], block_after=1)
    decoder = rs.PcmDecoder(FFMPEG)
    async with contextlib.aclosing(decoder.async_decode(source.stream(), "mp3")) as pcm:
        async for _ in pcm:
            break
    assert spy.processes[0].returncode is not None
    assert source.closed
