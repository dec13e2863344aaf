"""--mic-trace: one line per microphone frame, for the latency benchmarks.

Each line is ``<wav_pos> <capture_us> <read_us>``: the WAV sample offset of
the frame's first sample (-1 for silence), the frame's capture time and the
time the read returned, on the simulator's monotonic clock, which is the one
behind Python's time.monotonic() on Linux.
"""

from __future__ import annotations

from collections.abc import Callable
import itertools
from pathlib import Path
import subprocess
import time
import wave

from tests.simulator import Simulator

RATE = 16000
FRAME = 160  # samples per 10 ms frame
FRAME_US = 10_000
RESCHEDULE_US = 200_000  # a read held up longer than this restarts the schedule


def write_wav(path: Path, samples: int) -> None:
    """A 16 kHz s16le mono WAV of a ramp (the content does not matter)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(
            b"".join((i % 3000).to_bytes(2, "little") for i in range(samples))
        )


def run_traced(
    start_sim: Callable[..., Simulator],
    tmp_path: Path,
    mic_args: list[str],
    seconds: float,
) -> tuple[list[tuple[int, int, int]], float, float]:
    """Run the simulator with --mic-trace; return its lines and the run's bounds (us)."""
    trace = tmp_path / "mic.trace"
    t0 = time.monotonic() * 1e6
    sim = start_sim(encrypted=False, extra_args=[*mic_args, "--mic-trace", str(trace)])
    time.sleep(seconds)
    assert sim.stop() == 0, sim.log()
    t1 = time.monotonic() * 1e6
    text = trace.read_text()
    assert text.endswith("\n")
    lines = []
    for line in text.splitlines():
        fields = line.split(" ")
        assert len(fields) == 3, line
        pos, capture_us, read_us = (int(f) for f in fields)
        lines.append((pos, capture_us, read_us))
    return lines, t0, t1


def check_timing(lines: list[tuple[int, int, int]], t0: float, t1: float) -> None:
    """Frames every 10 ms on the caller's monotonic clock, each read after its frame."""
    assert (t1 - t0) / FRAME_US * 0.3 < len(lines) <= (t1 - t0) / FRAME_US + 2
    for _pos, capture_us, read_us in lines:
        assert t0 <= capture_us < read_us <= t1
        # Returned once the frame's last sample was captured.
        assert read_us >= capture_us + FRAME_US
    steps = [b[1] - a[1] for a, b in itertools.pairwise(lines)]
    # Absolute deadlines: exactly 10 ms apart, except after a long stall
    # (a loaded machine), where the schedule restarts.
    assert all(s == FRAME_US or s > RESCHEDULE_US for s in steps), steps
    assert sum(s == FRAME_US for s in steps) >= len(steps) - 2
    lags = sorted(r - c - FRAME_US for _p, c, r in lines)
    assert lags[len(lags) // 2] < 5_000  # median wake-up lag


def test_looped_wav(start_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    wav_samples = RATE // 2  # 0.5 s: 50 frames
    write_wav(tmp_path / "mic.wav", wav_samples)
    lines, t0, t1 = run_traced(
        start_sim, tmp_path, ["--mic-wav", str(tmp_path / "mic.wav"), "--mic-loop"], 1.0
    )
    check_timing(lines, t0, t1)
    positions = [p for p, _c, _r in lines]
    assert positions == [i * FRAME % wav_samples for i in range(len(positions))]
    assert positions.count(0) >= 2  # wrapped at least once


def test_wav_once_then_silence(
    start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    wav_samples = RATE // 5  # 0.2 s: 20 frames
    write_wav(tmp_path / "mic.wav", wav_samples)
    lines, t0, t1 = run_traced(
        start_sim, tmp_path, ["--mic-wav", str(tmp_path / "mic.wav")], 0.6
    )
    check_timing(lines, t0, t1)
    positions = [p for p, _c, _r in lines]
    frames = wav_samples // FRAME
    assert len(positions) > frames
    assert positions == [i * FRAME for i in range(frames)] + [-1] * (
        len(positions) - frames
    )


def test_silence_without_wav(
    start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    lines, t0, t1 = run_traced(start_sim, tmp_path, [], 0.6)
    check_timing(lines, t0, t1)
    assert {p for p, _c, _r in lines} == {-1}


def test_trace_that_cannot_be_created(sim_binary: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(sim_binary),
            *("--bind", "127.0.0.1", "--port", "0", "--plaintext", "--no-mdns"),
            *("--mic-trace", str(tmp_path / "missing" / "mic.trace")),
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert proc.returncode == 1
    assert "cannot create" in proc.stderr


def test_usage_mentions_the_option(sim_binary: Path) -> None:
    out = subprocess.run(
        [str(sim_binary), "--help"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    assert "--mic-trace PATH" in out
