"""The benchmarks' voice-turn analysis (bench/harness/voice.py): microphone
frames matched to speech-to-text chunks by content, and the turn figures.

Synthetic observations with known answers: if the matching or the arithmetic
drifts, the published figures would be wrong while looking plausible.
"""

from __future__ import annotations

from pathlib import Path
import zlib

import numpy as np
import pytest

from bench.harness.voice import (
    FRAME,
    MicFrame,
    MicInput,
    analyse_turn,
    bench_mic_wav,
    mic_latencies,
    read_mic_trace,
)

US = 1_000_000


def loop_input(frames: int = 50, seed: int = 3) -> MicInput:
    rng = np.random.default_rng(seed)
    samples = rng.integers(-2000, 2000, frames * FRAME).astype("<i2")
    return MicInput(path=Path("unused.wav"), samples=samples, speech_start=0)


def observe(
    mic: MicInput,
    *,
    start_frame: int,
    frames: int,
    woke_s: float,
    stream_start_s: float,
    delay_ms: float,
    chunk_frames: int = 2,
    corrupt: int | None = None,
) -> tuple[dict, list[MicFrame]]:
    """A device capturing frame i (complete) at 10 + 10 i ms, and an engine
    receiving frames from start_frame on, each chunk delay_ms after its last
    frame was captured, but never before stream_start_s."""
    n = len(mic.samples) // FRAME
    trace = [MicFrame(i % n * FRAME, i * 10_000, (i + 1) * 10_000) for i in range(400)]
    data = mic.samples.tobytes() * 10
    chunks, offset = [], 0
    for first in range(start_frame, start_frame + frames, chunk_frames):
        last = first + chunk_frames - 1
        arrival = max(stream_start_s, (last + 1) * 0.010 + delay_ms / 1000)
        payload = data[first * 2 * FRAME : (last + 1) * 2 * FRAME]
        if corrupt is not None and len(chunks) == corrupt:
            payload = bytes([payload[0] ^ 1]) + payload[1:]
        chunks.append([arrival, offset, len(payload), zlib.crc32(payload)])
        offset += len(payload)
    head = data[start_frame * 2 * FRAME : start_frame * 2 * FRAME + 256]
    stats = {"stt_head": head.hex(), "stt_chunks": chunks}
    del woke_s
    return stats, trace


def test_live_frames_carry_the_link_delay_and_packet_wait() -> None:
    mic = loop_input()
    stats, trace = observe(
        mic, start_frame=60, frames=40, woke_s=0.55, stream_start_s=0.0, delay_ms=3.0
    )
    result = mic_latencies(stats, mic, trace, woke=0.55)
    assert result["status"] == "ok"
    # Two frames per chunk: the first waits 10 ms for its partner. The first
    # chunk's frames were captured before the stream began: start-up.
    assert result["startup_ms"] == pytest.approx([13.0, 3.0])
    assert result["live_ms"] == pytest.approx([13.0, 3.0] * 19)
    assert result["preroll_frames"] == 0


def test_preroll_and_startup_frames_are_kept_apart() -> None:
    mic = loop_input()
    # Frames 60.. were captured before the wake at 0.65 s (pre-roll), the
    # engine's stream only began at 0.75 s, then live frames follow.
    stats, trace = observe(
        mic, start_frame=60, frames=40, woke_s=0.65, stream_start_s=0.75, delay_ms=1.0
    )
    result = mic_latencies(stats, mic, trace, woke=0.65)
    assert result["preroll_frames"] == 4  # read at 0.61 .. 0.64 s
    assert len(result["startup_ms"]) == 10  # read at 0.65 .. 0.74 s
    assert result["startup_ms"][0] == pytest.approx(100.0)
    assert len(result["live_ms"]) == 26


def test_a_changed_byte_is_a_mismatch_not_a_latency() -> None:
    mic = loop_input()
    stats, trace = observe(
        mic,
        start_frame=60,
        frames=20,
        woke_s=0.0,
        stream_start_s=0.0,
        delay_ms=1.0,
        corrupt=4,
    )
    result = mic_latencies(stats, mic, trace, woke=0.0)
    assert result["mismatched_chunks"] == 1
    assert result["status"] == "1 chunk(s) differ"


def test_no_audio_or_an_unknown_start() -> None:
    mic = loop_input()
    assert mic_latencies({}, mic, [], woke=0.0)["status"] == "no speech-to-text audio"
    stats = {"stt_head": (b"\x01\x02" * 64).hex(), "stt_chunks": [[0.0, 0, 128, 0]]}
    assert "found 0 times" in mic_latencies(stats, mic, [], woke=0.0)["status"]


def test_turn_figures_from_device_and_stub_times() -> None:
    mic = loop_input()
    stats, trace = observe(
        mic, start_frame=60, frames=10, woke_s=0.5, stream_start_s=0.0, delay_ms=1.0
    )
    events = [
        ("stt_stream_end", 10.000),
        ("stt_result", 10.100),
        ("agent_start", 10.101),
        ("agent_text", 10.150),
        ("agent_end", 10.201),
        ("tts_first_text", 10.202),
        ("tts_first_byte", 10.302),
    ]
    stats["events"] = [{"kind": k, "t": t} for k, t in events]
    device = {
        "first_sample_us": int(10.310 * US),
        "last_sample_us": int(10.310 * US) + 2 * US - 62,
        "samples_played": 32000,
        "underruns": 0,
        "overruns": 0,
        "bytes_dropped": 0,
        "pool_high_water": 9,
        "pool_slots": 16,
        "playback_latency_first_chunk_ms": 2.0,
        "playback_latency_avg_ms": 200.0,
        "playback_latency_max_ms": 230.0,
        "success": True,
    }
    raw = {
        "turn": 1,
        "reply_seconds": 2.0,
        "woke": 0.5,
        "device": device,
        "stubs": stats,
    }
    turn = analyse_turn(raw, mic, trace)
    assert turn["first_pcm_to_first_sample_ms"] == pytest.approx(8.0, abs=0.01)
    assert turn["agent_first_text_to_first_sample_ms"] == pytest.approx(160.0, abs=0.01)
    # Engines: 100 (stt) + 100 (agent) + 100 (tts first byte) ms of 310.
    assert turn["engines_ms"] == pytest.approx(300.0, abs=0.01)
    assert turn["turn_overhead_ms"] == pytest.approx(10.0, abs=0.01)
    assert turn["agent_first_text_to_agent_end_ms"] == pytest.approx(51.0, abs=0.01)
    # Text-to-speech began after the agent ended (no streaming agent here).
    assert turn["tts_started_before_agent_end"] is False
    assert turn["stretch_ms"] == pytest.approx(0.0, abs=0.01)
    assert turn["mic"]["status"] == "ok"


def test_bench_microphone_input_and_trace_file(tmp_path: Path) -> None:
    mic = bench_mic_wav(tmp_path / "mic.wav")
    assert len(mic.samples) % FRAME == 0
    frames = mic.samples.reshape(-1, FRAME)
    # No two frames alike: the dither makes every frame findable.
    assert len({f.tobytes() for f in frames}) == len(frames)
    loud = np.flatnonzero(np.abs(mic.samples.astype(np.int32)) > 300)
    assert loud[0] >= mic.speech_start
    trace = tmp_path / "trace.txt"
    trace.write_text("0 10 10010\n160 10010 20010\n-1 20010 30")
    assert read_mic_trace(trace) == [
        MicFrame(0, 10, 10010),
        MicFrame(160, 10010, 20010),
        MicFrame(-1, 20010, 30),
    ]
