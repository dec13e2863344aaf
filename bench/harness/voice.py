"""Voice turns through a real Home Assistant and a simulator, timed end to end.

    async with VoiceRig(workdir, "howdyscreen") as rig:       # or "esphome"
        turn = await rig.turn(reply_seconds=4.0)

One rig is one Home Assistant process (with the bench_stubs engines as its
preferred pipeline) and one simulator added through the integration's own
config flow, optionally through a LinkProxy that delays and jitters the link.
The simulator's microphone loops a spoken command between silences
(bench_mic_wav), traces every frame it captures (--mic-trace), wakes on a
line on stdin and writes its per-reply measurements (--metrics-json).

A turn waits until the microphone is just before the command, wakes the
device, and waits for the reply to finish playing and the satellite to go
idle. Everything is timed on one clock: the simulator's timestamps are
CLOCK_MONOTONIC microseconds and the stubs record time.monotonic() inside
Home Assistant, which is the same clock on Linux. What a turn yields is
analysed by analyse_turn (no figure is computed from a setting: engine times
are taken from the stubs' own events).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
import time
from typing import Any
import wave
import zlib

import numpy as np

from bench.linkproxy import LinkProxy

from .ha import HaConfig, HomeAssistantProcess
from .procs import ProcessGroup, StartStop
from .sims import Sim, start_sim

REPO = Path(__file__).resolve().parents[2]
COMMAND_WAV = REPO / "tests" / "fixtures" / "turn_on_the_kitchen_lights.wav"
RATE = 16000
FRAME = 160  # samples per 10 ms microphone frame
LEAD_SILENCE_S = 0.5
TAIL_SILENCE_S = 2.5
WAKE_BEFORE_SPEECH_S = 0.2


@dataclasses.dataclass(frozen=True)
class MicInput:
    """The looped microphone input and where its command starts."""

    path: Path
    samples: np.ndarray  # int16
    speech_start: int  # sample offset


def bench_mic_wav(path: Path) -> MicInput:
    """The command of tests/fixtures (its speech only) between silences, with a
    faint deterministic dither so that no two frames of the loop are equal
    (frames are found again in Home Assistant by their content). Its length
    is a whole number of frames, so the simulator's frames stay aligned."""
    with wave.open(str(COMMAND_WAV), "rb") as w:
        command = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    level = np.abs(command.astype(np.int32))
    loud = np.flatnonzero(level > 300)
    speech = command[max(0, loud[0] - 800) : loud[-1] + 800]
    lead = np.zeros(int(LEAD_SILENCE_S * RATE), np.int16)
    tail = np.zeros(int(TAIL_SILENCE_S * RATE), np.int16)
    samples = np.concatenate([lead, speech, tail]).astype(np.int32)
    samples = samples[: len(samples) // FRAME * FRAME]
    rng = np.random.default_rng(20261124)
    samples += rng.integers(-3, 4, len(samples))
    pcm = np.clip(samples, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return MicInput(path=path, samples=pcm, speech_start=len(lead))


@dataclasses.dataclass(frozen=True)
class MicFrame:
    """One line of the simulator's --mic-trace."""

    pos: int  # sample offset in the WAV, -1 for silence after it
    capture_us: int
    read_us: int


def read_mic_trace(path: Path) -> list[MicFrame]:
    """All complete lines of a --mic-trace file."""
    frames = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            frames.append(MicFrame(int(parts[0]), int(parts[1]), int(parts[2])))
    return frames


def last_mic_frame(path: Path) -> MicFrame | None:
    """The newest line of a --mic-trace file (reads only its tail)."""
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 256))
        lines = f.read().decode().splitlines()
    for line in reversed(lines[1:] if size > 256 else lines):
        parts = line.split()
        if len(parts) == 3:
            return MicFrame(int(parts[0]), int(parts[1]), int(parts[2]))
    return None


class TurnFailed(RuntimeError):
    """A turn did not play a reply."""


def started[T](value: T | None) -> T:
    """A part of the rig that exists once it is started."""
    if value is None:
        raise RuntimeError("the voice rig is not started")
    return value


class VoiceRig(StartStop):
    """Home Assistant + one simulator, ready for timed voice turns."""

    def __init__(
        self,
        workdir: Path,
        domain: str,
        *,
        stubs: dict[str, Any] | None = None,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        ha_python: list[str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.domain = domain
        self.stubs = {
            "stt_latency_ms": 100.0,
            "agent_latency_ms": 100.0,
            "tts_first_byte_ms": 100.0,
            **(stubs or {}),
        }
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms
        self.ha_python = ha_python
        self.sim_group = ProcessGroup()
        self.ha_group = ProcessGroup()
        self.ha: HomeAssistantProcess | None = None
        self.sim: Sim | None = None
        self.proxy: LinkProxy | None = None
        self.mic: MicInput | None = None
        self.satellite = ""
        self.metrics_path = workdir / "reply-metrics.json"
        self.trace_path = workdir / "mic-trace.txt"
        self.turns = 0

    async def start(self) -> None:
        """Start Home Assistant and the simulator, add it, pick the stubs."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.mic = bench_mic_wav(self.workdir / "mic.wav")
        cfg = HaConfig(howdyscreen=self.domain == "howdyscreen", stubs=self.stubs)
        self.ha = HomeAssistantProcess(
            self.ha_group, self.workdir, cfg, python=self.ha_python
        )
        await self.ha.start()
        self.sim = start_sim(
            self.sim_group,
            self.workdir,
            f"voice-{self.domain}",
            esphome_mode=self.domain == "esphome",
            stdin_pipe=True,
            extra_args=[
                *("--mic-wav", str(self.mic.path), "--mic-loop", "--wake-on-stdin"),
                *("--metrics-json", str(self.metrics_path)),
                *("--mic-trace", str(self.trace_path)),
            ],
        )
        target = self.sim
        if self.delay_ms or self.jitter_ms:
            self.proxy = LinkProxy(
                self.sim.host,
                self.sim.port,
                delay_ms=self.delay_ms,
                jitter_ms=self.jitter_ms,
            )
            await self.proxy.start()
            target = dataclasses.replace(self.sim, port=self.proxy.port)
        # No wake word stage: the device wakes on its own (stdin).
        await self.ha.use_stub_pipeline()
        entry_id = await self.ha.add_device(self.domain, target)
        self.satellite = await self.ha.wait_for_entity(entry_id, "assist_satellite")
        await self.wait_idle(60.0)

    async def stop(self) -> None:
        """Home Assistant first, then the proxy and the simulator."""
        if self.ha is not None:
            await self.ha.stop()
        if self.proxy is not None:
            await self.proxy.stop()
        self.ha_group.stop_all()
        self.sim_group.stop_all()

    def _replies_done(self) -> int:
        try:
            return int(json.loads(self.metrics_path.read_text())["reply"])
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            return 0

    async def wait_idle(self, within_s: float) -> None:
        """Until the satellite entity is idle."""
        ha = started(self.ha)
        deadline = time.monotonic() + within_s
        while True:
            state = (await ha.states()).get(self.satellite, {}).get("state")
            if state == "idle":
                return
            if time.monotonic() > deadline:
                raise TurnFailed(f"{self.satellite} stays {state}")
            await asyncio.sleep(0.2)

    async def _wake_before_speech(self) -> float:
        """Wake the device just before the command in its microphone loop;
        the wake time (time.monotonic())."""
        sim, mic = started(self.sim), started(self.mic)
        loop_len = len(mic.samples)
        target = mic.speech_start - int(WAKE_BEFORE_SPEECH_S * RATE)
        while True:
            frame = last_mic_frame(self.trace_path)
            if frame is not None and frame.pos >= 0:
                break
            await asyncio.sleep(0.05)
        now_pos = (
            frame.pos + FRAME + (time.monotonic() * 1e6 - frame.read_us) * (RATE / 1e6)
        )
        wait = ((target - now_pos) % loop_len) / RATE
        await asyncio.sleep(wait)
        woke = time.monotonic()
        sim.wake()
        return woke

    async def turn(
        self,
        reply_seconds: float,
        timeout_s: float | None = None,
        *,
        words: str = "",
        **stubs: Any,
    ) -> dict[str, Any]:
        """One voice turn with a reply of reply_seconds; raw observations.

        words: more reply text (a streaming agent needs enough of it before
        Home Assistant starts text-to-speech early)."""
        ha = started(self.ha)
        self.turns += 1
        # A new text every turn: Home Assistant caches TTS results by text.
        # The length marker leads, so it is in the engine's first piece.
        text = f"[[seconds={reply_seconds:.2f}]] Reply number {self.turns}. {words}"
        await ha.configure_stubs(
            reply_text=text.strip(), tts_seconds=reply_seconds, **stubs
        )
        await ha.reset_stubs()
        done_before = self._replies_done()
        woke = await self._wake_before_speech()
        deadline = time.monotonic() + (timeout_s or 30.0 + 2.5 * reply_seconds)
        while self._replies_done() == done_before:
            if time.monotonic() > deadline:
                raise TurnFailed(
                    f"turn {self.turns}: no reply played within {deadline - woke:.0f} s"
                )
            await asyncio.sleep(0.1)
        metrics = json.loads(self.metrics_path.read_text())
        stub = await ha.stub_stats()
        await self.wait_idle(30.0)
        return {
            "turn": self.turns,
            "reply_seconds": reply_seconds,
            "woke": woke,
            "device": metrics,
            "stubs": stub["stats"],
            "link": dataclasses.asdict(self.proxy.stats) if self.proxy else None,
        }


# ---- analysis ------------------------------------------------------------------


def first_event(stats: dict[str, Any], kind: str) -> float | None:
    """When the stubs first recorded an event of this kind (None: never)."""
    times = [e["t"] for e in stats["events"] if e["kind"] == kind]
    return times[0] if times else None


def analyse_turn(raw: dict[str, Any], mic: MicInput, trace: list[MicFrame]) -> dict:
    """Figures of one turn (times in ms)."""
    dev = raw["device"]
    stats = raw["stubs"]
    first_sample = dev["first_sample_us"] / 1e6 if dev["first_sample_us"] else None
    tts_first_byte = first_event(stats, "tts_first_byte")
    tts_first_text = first_event(stats, "tts_first_text")
    agent_first_text = first_event(stats, "agent_text")
    agent_start = first_event(stats, "agent_start")
    agent_end = first_event(stats, "agent_end")
    stt_end = first_event(stats, "stt_stream_end")
    stt_result = first_event(stats, "stt_result")

    def ms(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else 1000.0 * (b - a)

    played_ms = dev["samples_played"] / RATE * 1000
    span_ms = (dev["last_sample_us"] - dev["first_sample_us"]) / 1000
    engines_ms = None
    parts = [ms(stt_end, stt_result), ms(agent_start, agent_end)]
    parts.append(ms(tts_first_text, tts_first_byte))
    if None not in parts:
        engines_ms = sum(p for p in parts if p is not None)
    speech_end_to_first_sample = ms(stt_end, first_sample)
    out = {
        "turn": raw["turn"],
        "reply_seconds": raw["reply_seconds"],
        "first_pcm_to_first_sample_ms": ms(tts_first_byte, first_sample),
        "agent_first_text_to_first_sample_ms": ms(agent_first_text, first_sample),
        "speech_end_to_first_sample_ms": speech_end_to_first_sample,
        "engines_ms": engines_ms,
        "agent_first_text_to_agent_end_ms": ms(agent_first_text, agent_end),
        # Home Assistant began text-to-speech while the agent was still writing.
        "tts_started_before_agent_end": (
            tts_first_text is not None
            and agent_end is not None
            and tts_first_text < agent_end
        ),
        "turn_overhead_ms": (
            None
            if speech_end_to_first_sample is None or engines_ms is None
            else speech_end_to_first_sample - engines_ms
        ),
        "underruns": dev["underruns"],
        "overruns": dev["overruns"],
        "bytes_dropped": dev["bytes_dropped"],
        "pool_high_water": dev["pool_high_water"],
        "pool_slots": dev["pool_slots"],
        "played_s": played_ms / 1000,
        # How much longer the reply took to play than its audio lasts: gaps.
        "stretch_ms": span_ms - played_ms + 1000 / RATE,
        "lead_first_ms": dev["playback_latency_first_chunk_ms"],
        "lead_avg_ms": dev["playback_latency_avg_ms"],
        "lead_max_ms": dev["playback_latency_max_ms"],
        "success": dev["success"],
    }
    out["mic"] = mic_latencies(stats, mic, trace, raw["woke"])
    return out


def mic_latencies(
    stats: dict[str, Any], mic: MicInput, trace: list[MicFrame], woke: float
) -> dict[str, Any]:
    """Per microphone frame: device capture (frame complete) -> its last byte
    handed to the speech-to-text engine in Home Assistant.

    The stream's first bytes are found in the microphone loop; from there,
    stream byte b is loop sample (start + b/2) mod len. Every chunk's CRC is
    checked against the loop, so a byte lost, added or altered anywhere
    between the simulator and the engine shows as a mismatch, not as a
    plausible latency. Frames the device captured before the wake (its
    pre-roll) or while the pipeline was starting are counted apart from the
    live ones (captured after the engine's stream began).
    """
    head = bytes.fromhex(stats.get("stt_head", ""))
    chunks = stats.get("stt_chunks", [])
    if len(head) < 64 or not chunks:
        return {"status": "no speech-to-text audio"}
    loop = mic.samples
    n = len(loop)
    wrapped = np.concatenate([loop, loop[: len(head) // 2]])
    probe = np.frombuffer(head[:64], "<i2")
    hits = np.flatnonzero(
        np.all(
            np.lib.stride_tricks.sliding_window_view(wrapped, len(probe))[:n] == probe,
            axis=1,
        )
    )
    if len(hits) != 1:
        return {"status": f"stream start found {len(hits)} times in the loop"}
    start = int(hits[0])
    loop_bytes = loop.tobytes()
    longest = max(int(c[2]) for c in chunks)
    repeated = loop_bytes * (2 + longest // len(loop_bytes))
    mismatched = 0
    for _t, offset, length, crc in chunks:
        a = (2 * start + int(offset)) % (2 * n)
        want = repeated[a : a + int(length)]
        if zlib.crc32(want) != int(crc):
            mismatched += 1
    # Capture times by loop position, newest last.
    by_pos: dict[int, list[MicFrame]] = {}
    for frame in trace:
        if frame.pos >= 0:
            by_pos.setdefault(frame.pos, []).append(frame)
    stream_start_t = chunks[0][0]
    live: list[float] = []
    startup: list[float] = []
    preroll = 0
    ends = np.cumsum([int(c[2]) for c in chunks])
    total_samples = int(ends[-1]) // 2
    first_boundary = (-start) % FRAME
    for s in range(first_boundary, total_samples - FRAME + 1, FRAME):
        end_byte = 2 * (s + FRAME)
        k = int(np.searchsorted(ends, end_byte))  # first chunk ending at/after it
        arrival = float(chunks[k][0])
        pos = (start + s) % n
        candidates = [f for f in by_pos.get(pos, []) if f.read_us / 1e6 <= arrival]
        if not candidates:
            continue
        frame = candidates[-1]
        read_t = frame.read_us / 1e6
        latency = 1000 * (arrival - read_t)
        if read_t < woke:
            preroll += 1
        elif read_t < stream_start_t:
            startup.append(latency)
        else:
            live.append(latency)
    return {
        "status": "ok" if mismatched == 0 else f"{mismatched} chunk(s) differ",
        "chunks": len(chunks),
        "mismatched_chunks": mismatched,
        "preroll_frames": preroll,
        "startup_ms": startup,
        "live_ms": live,
    }
