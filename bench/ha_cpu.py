"""Home Assistant CPU (issue 7, item 4): Home Assistant's process CPU time
per device-second with 1, 5 and 20 simulated devices, under two loads.

listening
    Every simulator runs ``--mic-wav --mic-loop --continuous``: whenever idle
    it asks for a pipeline from the wake word stage and streams its
    microphone, as a satellite that leaves the wake word to Home Assistant
    does. The stub wake word engine never detects anything, so every device
    streams for the whole window; the stub counts the bytes, which checks
    that every device really streamed in real time.
talking
    Every simulator takes voice turns back to back: it wakes on its own (a
    button press, ``--wake-on-stdin``), streams the command until Home
    Assistant's voice activity detection ends it, and plays a 3 s reply
    (stub STT, agent and TTS; every reply text differs, so the TTS cache
    never answers), then wakes again 0.5 s after its reply has played. This
    is "streaming and replying": the microphone stream, the pipeline, TTS
    and the reply's delivery all run at once across the devices.

Columns: ours, the esphome integration on the same simulator in its ESPHome
mode, and, for the listening load, "pipeline alone": the same number of
wake-word-stage pipelines fed in-process by bench_stubs/feed (no device, no
protocol, no integration). That column is the floor every satellite
integration pays inside Home Assistant; the difference to it is what an
integration itself adds.

For every (device count, load) the columns are run one after another, in
an order that alternates from one row to the next, so that drift on these
shared machines does not always favour the same column. Each run is a fresh
Home Assistant: its idle CPU is measured first (no device), then the load
starts, the run warms up, and CPU time (utime + stime from /proc/<pid>/stat,
children included: the esphome integration's ffmpeg conversions count) is
taken over measured windows. Reported: total and idle CPU in % of one core
and the net cost per device ((total - idle) / devices), medians over the
windows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import contextlib
from dataclasses import dataclass, field
import json
from pathlib import Path
import statistics
import time
from typing import Any

from .common import Context, log, summary, target, write_result
from .harness.ha import HaConfig, HomeAssistantProcess
from .harness.procs import ProcessGroup, cpu_seconds
from .harness.sims import Sim, start_sim, write_speech_like_wav
from .harness.voice import bench_mic_wav

BYTES_PER_SECOND = 16000 * 2
PER_DEVICE_LIMIT_PCT = 0.5
# The talking load's engines: short, fixed latencies, a 3 s reply, and a
# different reply text every turn (no TTS cache hits).
TALK_STUBS = {
    "stt_latency_ms": 100.0,
    "agent_latency_ms": 100.0,
    "tts_first_byte_ms": 100.0,
    "tts_seconds": 3.0,
    "reply_serial": True,
}
TURN_GAP_S = 0.5
TURN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Column:
    """One way of getting microphone streams into Home Assistant."""

    key: str
    name: str
    domain: str | None  # config flow that adds the devices; None: bench_stubs/feed
    esphome_mode: bool = False  # simulator behaves as an ESPHome device


OURS = Column("howdyscreen", "HowdyScreen (ours)", "howdyscreen")
ESPHOME = Column("esphome", "esphome integration", "esphome", esphome_mode=True)
FLOOR = Column("pipeline", "Assist pipeline alone (in-process feed)", None)
LOADS: dict[str, tuple[Column, ...]] = {
    "listening": (OURS, ESPHOME, FLOOR),
    "talking": (OURS, ESPHOME),
}


class Talker:
    """Takes one simulator through voice turns back to back (talking load).

    Progress is read from the simulator's --metrics-json, which it replaces
    atomically after every reply: nothing here asks Home Assistant anything,
    so the driver adds no load to the process being measured."""

    def __init__(self, sim: Sim, metrics: Path) -> None:
        self.sim = sim
        self.metrics = metrics
        self.replies = 0
        self.timeouts = 0
        self.last: dict[str, Any] = {}

    def _read(self) -> dict[str, Any]:
        with contextlib.suppress(FileNotFoundError):
            doc: dict[str, Any] = json.loads(self.metrics.read_text())
            return doc
        return {}

    async def run(self) -> None:
        """Turns until cancelled."""
        while True:
            before = int(self._read().get("reply", 0))
            # A button press: Home Assistant ignores a wake word phrase that
            # another device reported less than 2 s before (WAKE_WORD_COOLDOWN),
            # which would turn most of 20 devices' turns into no-ops.
            self.sim.wake(button=True)
            deadline = time.monotonic() + TURN_TIMEOUT_S
            while True:
                doc = self._read()
                if int(doc.get("reply", 0)) != before:
                    self.replies += 1
                    self.last = doc
                    break
                if time.monotonic() > deadline:
                    self.timeouts += 1
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(TURN_GAP_S)

    def snapshot(self) -> dict[str, int]:
        """Cumulative counters (the device's own, from its last reply)."""
        return {
            "replies": self.replies,
            "timeouts": self.timeouts,
            "underruns": int(self.last.get("underruns_total", 0)),
            "overruns": int(self.last.get("overruns_total", 0)),
        }


async def _stub_counters(ha: HomeAssistantProcess) -> dict[str, int]:
    stats = (await ha.stub_stats())["stats"]
    return {
        "wake_bytes": int(stats["wake_audio_bytes"]),
        "wake_active": int(stats["wake_streams_active"]),
        "stt_bytes": int(stats["stt_audio_bytes"]),
    }


async def _window(
    ha: HomeAssistantProcess,
    sims: list[Sim],
    talkers: list[Talker],
    streams: int,
    seconds: float,
) -> dict[str, float]:
    """One measured window; streams = devices (or in-process feeds)."""
    stubs0 = await _stub_counters(ha)
    talk0 = [t.snapshot() for t in talkers]
    c0 = ha.cpu_seconds()
    s0 = sum(cpu_seconds(s.pid, children=False) for s in sims)
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    c1 = ha.cpu_seconds()
    s1 = sum(cpu_seconds(s.pid, children=False) for s in sims)
    t1 = time.monotonic()
    stubs1 = await _stub_counters(ha)
    wall = t1 - t0
    per = max(1, streams) * wall
    out = {
        "wall_s": wall,
        "ha_cpu_pct": 100 * (c1 - c0) / wall,
        "sims_cpu_pct": 100 * (s1 - s0) / wall,
        # seconds of microphone audio per device-second, in each stage
        "wake_audio_realtime": (stubs1["wake_bytes"] - stubs0["wake_bytes"])
        / BYTES_PER_SECOND
        / per,
        "stt_audio_realtime": (stubs1["stt_bytes"] - stubs0["stt_bytes"])
        / BYTES_PER_SECOND
        / per,
        "streams_active": stubs1["wake_active"],
    }
    if talkers:
        talk1 = [t.snapshot() for t in talkers]
        delta = {
            k: sum(b[k] - a[k] for a, b in zip(talk0, talk1, strict=True))
            for k in talk1[0]
        }
        out["replies_per_device_min"] = delta["replies"] / per * 60
        out["turn_timeouts"] = delta["timeouts"]
        out["underruns"] = delta["underruns"]
        out["overruns"] = delta["overruns"]
    return out


async def _wait_for(
    check: Callable[[], Coroutine[Any, Any, bool]], what: str, within_s: float
) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting until {what}")
        await asyncio.sleep(0.5)


@dataclass
class Devices:
    """The simulators of one run and, for the talking load, their drivers."""

    sims: list[Sim] = field(default_factory=list)
    talkers: list[Talker] = field(default_factory=list)
    satellites: list[str] = field(default_factory=list)  # entity ids


async def _add_devices(
    ha: HomeAssistantProcess,
    group: ProcessGroup,
    workdir: Path,
    *,
    column: Column,
    load: str,
    wav: Path,
    count: int,
) -> Devices:
    """Start `count` simulators and add them through the column's config flow."""
    if column.domain is None:
        raise ValueError(f"{column.name} has no devices")
    out = Devices()
    for i in range(count):
        name = f"cpu-{i}"
        metrics = workdir / f"{name}-metrics.json"
        extra = ["--mic-wav", str(wav), "--mic-loop"]
        if load == "listening":
            extra.append("--continuous")
        else:
            extra += ["--wake-on-stdin", "--metrics-json", str(metrics)]
        sim = start_sim(
            group,
            workdir,
            name,
            esphome_mode=column.esphome_mode,
            stdin_pipe=load == "talking",
            extra_args=extra,
        )
        out.sims.append(sim)
        entry_id = await ha.add_device(column.domain, sim)
        if load == "talking":
            out.satellites.append(
                await ha.wait_for_entity(entry_id, "assist_satellite")
            )
            out.talkers.append(Talker(sim, metrics))
    return out


async def _until_loaded(
    ha: HomeAssistantProcess, devices: Devices, count: int
) -> list[asyncio.Task[None]]:
    """Wait until every stream runs (listening) or start the talkers and wait
    until every device has played a reply; the talkers' tasks."""
    if not devices.talkers:

        async def all_streaming() -> bool:
            return (await _stub_counters(ha))["wake_active"] >= count

        await _wait_for(all_streaming, f"{count} streams run", 60)
        return []

    # A wake before the integration has subscribed to the device's voice
    # assistant would go nowhere.
    async def all_idle() -> bool:
        states = await ha.states()
        return all(states.get(e, {}).get("state") == "idle" for e in devices.satellites)

    await _wait_for(all_idle, "every satellite is idle", 60)
    tasks = [asyncio.create_task(t.run()) for t in devices.talkers]

    async def all_replied() -> bool:
        return all(t.replies for t in devices.talkers)

    await _wait_for(all_replied, "every device played a reply", 90)
    return tasks


async def measure(
    ctx: Context,
    column: Column,
    load: str,
    count: int,
    *,
    windows: int,
    window_s: float,
    warmup_s: float,
) -> dict[str, Any]:
    """Idle baseline, then `count` devices under `load`, in one HA process."""
    workdir = ctx.workdir / f"cpu-{load}-{column.key}-{count}"
    workdir.mkdir(parents=True, exist_ok=True)
    if load == "listening":
        # Bursts of tones between short silences, looped: a talkative room.
        wav = write_speech_like_wav(workdir / "mic.wav", 6.0)
    else:
        # A spoken command between silences: Home Assistant's VAD ends each turn.
        wav = bench_mic_wav(workdir / "mic.wav").path
    devices = Devices()
    tasks: list[asyncio.Task[None]] = []
    with ProcessGroup() as sim_group, ProcessGroup() as ha_group:
        cfg = HaConfig(
            howdyscreen=column.key == OURS.key,
            stubs=TALK_STUBS if load == "talking" else {},
        )
        async with HomeAssistantProcess(ha_group, workdir, cfg) as ha:
            await ha.use_stub_pipeline()
            await asyncio.sleep(warmup_s)
            idle = [await _window(ha, [], [], 0, window_s) for _ in range(windows)]
            started = time.monotonic()
            try:
                if column.domain is None:
                    await ha.call("bench_stubs/feed", streams=count, wav=str(wav))
                else:
                    devices = await _add_devices(
                        ha,
                        sim_group,
                        workdir,
                        column=column,
                        load=load,
                        wav=wav,
                        count=count,
                    )
                tasks = await _until_loaded(ha, devices, count)
                setup_s = time.monotonic() - started
                await asyncio.sleep(warmup_s)
                busy = [
                    await _window(ha, devices.sims, devices.talkers, count, window_s)
                    for _ in range(windows)
                ]
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if column.domain is None:
                    await ha.call("bench_stubs/feed", streams=0)
        # Home Assistant is stopped before the simulators (leaving scope order).
    result = _summarise(count, idle, busy, bool(devices.talkers))
    result["setup_s"] = setup_s
    log(
        f"  {load} {column.key} {count:2d}: HA {result['total_pct']['median']:.2f} % "
        f"of a core (idle {result['idle_pct']:.2f} %), net "
        f"{result['net_per_device_pct']['median']:.3f} % per device"
        + (
            f", {result['replies_per_device_min']:.1f} replies/device/min, "
            f"mic {result['stt_audio_realtime_median']:.2f} of the time"
            if devices.talkers
            else f", wake audio {result['wake_audio_realtime_min']:.2f}x real time"
        )
    )
    return result


def _summarise(
    count: int,
    idle: list[dict[str, float]],
    busy: list[dict[str, float]],
    talking: bool,
) -> dict[str, Any]:
    idle_pct = statistics.median(w["ha_cpu_pct"] for w in idle)
    total_pct = [w["ha_cpu_pct"] for w in busy]
    result: dict[str, Any] = {
        "devices": count,
        "idle_windows": idle,
        "busy_windows": busy,
        "idle_pct": idle_pct,
        "total_pct": summary(total_pct),
        "net_per_device_pct": summary([(t - idle_pct) / count for t in total_pct]),
        "sims_cpu_pct_per_device": statistics.median(w["sims_cpu_pct"] for w in busy)
        / count,
        "wake_audio_realtime_min": min(w["wake_audio_realtime"] for w in busy),
        "stt_audio_realtime_median": statistics.median(
            w["stt_audio_realtime"] for w in busy
        ),
        "streams_active_min": min(w["streams_active"] for w in busy),
    }
    if talking:
        result["replies_per_device_min"] = statistics.median(
            w["replies_per_device_min"] for w in busy
        )
        for key in ("turn_timeouts", "underruns", "overruns"):
            result[key] = sum(int(w[key]) for w in busy)
    return result


def _targets(
    counts: list[int], loads: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    targets = []

    def at(load: str, key: str) -> dict[int, float]:
        rows = loads[load]["columns"].get(key, {}).get("rows", [])
        return {r["devices"]: r["net_per_device_pct"]["median"] for r in rows}

    for load in loads:
        ours, theirs = at(load, OURS.key), at(load, ESPHOME.key)
        for n in counts:
            targets.append(
                target(
                    f"HowdyScreen, {load}: HA CPU per device, {n} device(s)",
                    ours.get(n),
                    PER_DEVICE_LIMIT_PCT,
                    "% of one core",
                )
            )
            if n in theirs:
                targets.append(
                    {
                        **target(
                            f"esphome integration (reference), {load}: HA CPU per "
                            f"device, {n} device(s)",
                            theirs[n],
                            PER_DEVICE_LIMIT_PCT,
                            "% of one core",
                        ),
                        "reference_only": True,
                    }
                )
        top = max(counts)
        targets.append(
            target(
                f"HowdyScreen below the esphome integration, {load}, {top} devices",
                ours.get(top),
                theirs.get(top, 0.0),
                "% of one core per device",
            )
        )
    return targets


def run(ctx: Context) -> dict[str, Any]:
    """Every load, device count and column, interleaved."""
    counts = ctx.pick([5], [1, 5, 20])
    windows = ctx.pick(2, 3)
    window_s = ctx.pick(8.0, 15.0)
    warmup_s = ctx.pick(3.0, 6.0)
    loads: dict[str, dict[str, Any]] = {
        load: {
            "columns": {c.key: {"name": c.name, "rows": []} for c in columns},
        }
        for load, columns in LOADS.items()
    }
    row = 0
    for n in counts:
        for load, columns in LOADS.items():
            order = columns if row % 2 == 0 else tuple(reversed(columns))
            row += 1
            for column in order:
                result = asyncio.run(
                    measure(
                        ctx,
                        column,
                        load,
                        n,
                        windows=windows,
                        window_s=window_s,
                        warmup_s=warmup_s,
                    )
                )
                result["order"] = [c.key for c in order]
                loads[load]["columns"][column.key]["rows"].append(result)
    payload = {
        "counts": counts,
        "windows": windows,
        "window_s": window_s,
        "warmup_s": warmup_s,
        "talk_stubs": TALK_STUBS,
        "turn_gap_s": TURN_GAP_S,
        "loads": loads,
        "targets": _targets(counts, loads),
    }
    write_result(ctx, "ha_cpu", payload)
    return payload
