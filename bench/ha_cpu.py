"""Home Assistant CPU (issue 7, item 4): HA's process CPU time per
device-second with 1, 5 and 20 simulators streaming microphone audio.

Each simulator runs with ``--mic-wav --mic-loop --continuous``: whenever idle
it asks for a pipeline that starts at the wake word stage and streams its
microphone. The pipeline uses the stub wake word engine, which never detects
anything, so every device streams for the whole window, as an idle satellite
listening for its wake word does.

For every device count a fresh Home Assistant is started, and in that same
process the idle baseline is measured first (no device), then the devices are
added, the run warms up, and CPU time (utime + stime from /proc/<pid>/stat,
children included) is taken over measured windows. Reported: total and idle
CPU in % of one core, and the net cost per streaming device
((total - idle) / devices), medians over the windows. The stub wake word
engine's byte counter checks that every device really streamed in real time.

"ours" (HowdyScreen's integration) needs its Assist satellite: INTEGRATIONS
below has the hook; until it is ready the results say "pending".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import statistics
import time
from typing import Any

from .common import Context, log, summary, target, write_result
from .harness.ha import HaConfig, HomeAssistantProcess
from .harness.procs import ProcessGroup, cpu_seconds
from .harness.sims import Sim, start_sim, write_speech_like_wav

BYTES_PER_SECOND = 16000 * 2
PER_DEVICE_LIMIT_PCT = 0.5


@dataclass(frozen=True)
class Integration:
    """How one integration under test is set up against the simulators."""

    name: str  # column title
    domain: str  # config flow handler
    esphome_mode: bool  # simulator announces/behaves as an ESPHome device
    howdyscreen: bool  # load this checkout's integration into Home Assistant
    ready: bool  # False: reported as pending
    pending_reason: str = ""


INTEGRATIONS = {
    "esphome": Integration("esphome integration", "esphome", True, False, True),
    # The simulators run in HowdyScreen mode and are added through our flow.
    "howdyscreen": Integration("HowdyScreen (ours)", "howdyscreen", False, True, True),
}


async def _streamed_bytes(ha: HomeAssistantProcess) -> tuple[int, int]:
    stats = (await ha.stub_stats())["stats"]
    return int(stats["wake_audio_bytes"]), int(stats["wake_streams_active"])


async def _window(
    ha: HomeAssistantProcess, sims: list[Sim], seconds: float
) -> dict[str, float]:
    bytes0, _ = await _streamed_bytes(ha)
    c0 = ha.cpu_seconds()
    s0 = sum(cpu_seconds(s.pid, children=False) for s in sims)
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    c1 = ha.cpu_seconds()
    s1 = sum(cpu_seconds(s.pid, children=False) for s in sims)
    t1 = time.monotonic()
    bytes1, active = await _streamed_bytes(ha)
    wall = t1 - t0
    return {
        "wall_s": wall,
        "ha_cpu_pct": 100 * (c1 - c0) / wall,
        "sims_cpu_pct": 100 * (s1 - s0) / wall,
        "audio_realtime": (bytes1 - bytes0)
        / BYTES_PER_SECOND
        / wall
        / max(1, len(sims)),
        "streams_active": active,
    }


async def measure(
    ctx: Context,
    integration: Integration,
    devices: int,
    *,
    windows: int,
    window_s: float,
    warmup_s: float,
) -> dict[str, Any]:
    """Idle baseline, then `devices` streaming devices, in one HA process."""
    workdir = ctx.workdir / f"cpu-{integration.domain}-{devices}"
    wav = (
        write_speech_like_wav(ctx.workdir / "mic.wav", 6.0)
        if not (ctx.workdir / "mic.wav").exists()
        else ctx.workdir / "mic.wav"
    )
    with ProcessGroup() as sim_group, ProcessGroup() as ha_group:
        cfg = HaConfig(howdyscreen=integration.howdyscreen)
        async with HomeAssistantProcess(ha_group, workdir, cfg) as ha:
            await ha.use_stub_pipeline()
            await asyncio.sleep(warmup_s)
            idle = [await _window(ha, [], window_s) for _ in range(windows)]
            sims = []
            started = time.monotonic()
            for i in range(devices):
                sim = start_sim(
                    sim_group,
                    workdir,
                    f"cpu-{i}",
                    esphome_mode=integration.esphome_mode,
                    extra_args=["--mic-wav", str(wav), "--mic-loop", "--continuous"],
                )
                sims.append(sim)
                await ha.add_device(integration.domain, sim)
            deadline = time.monotonic() + 60
            while (await _streamed_bytes(ha))[1] < devices:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"only {(await _streamed_bytes(ha))[1]} of {devices} devices stream"
                    )
                await asyncio.sleep(0.5)
            setup_s = time.monotonic() - started
            await asyncio.sleep(warmup_s)
            busy = [await _window(ha, sims, window_s) for _ in range(windows)]
        # Home Assistant is stopped before the simulators (leaving scope order).
    idle_pct = statistics.median(w["ha_cpu_pct"] for w in idle)
    total_pct = [w["ha_cpu_pct"] for w in busy]
    net_per_device = [(t - idle_pct) / devices for t in total_pct]
    result = {
        "devices": devices,
        "window_s": window_s,
        "windows": windows,
        "setup_s": setup_s,
        "idle_windows": idle,
        "busy_windows": busy,
        "idle_pct": idle_pct,
        "total_pct": summary(total_pct),
        "net_per_device_pct": summary(net_per_device),
        "sims_cpu_pct_per_device": statistics.median(w["sims_cpu_pct"] for w in busy)
        / devices,
        "audio_realtime_min": min(w["audio_realtime"] for w in busy),
        "streams_active_min": min(w["streams_active"] for w in busy),
    }
    log(
        f"  {integration.domain} {devices:2d} devices: HA {result['total_pct']['median']:.2f} % "
        f"of a core (idle {idle_pct:.2f} %), net {result['net_per_device_pct']['median']:.3f} "
        f"% per device, audio {result['audio_realtime_min']:.2f}x real time"
    )
    return result


def run(ctx: Context) -> dict[str, Any]:
    """Both columns (ours pending until its satellite exists)."""
    counts = ctx.pick([1, 5], [1, 5, 20])
    windows = ctx.pick(2, 3)
    window_s = ctx.pick(8.0, 15.0)
    warmup_s = ctx.pick(3.0, 6.0)
    columns: dict[str, Any] = {}
    for key, integration in INTEGRATIONS.items():
        if not integration.ready:
            columns[key] = {
                "name": integration.name,
                "status": integration.pending_reason,
            }
            continue
        rows = [
            asyncio.run(
                measure(
                    ctx,
                    integration,
                    n,
                    windows=windows,
                    window_s=window_s,
                    warmup_s=warmup_s,
                )
            )
            for n in counts
        ]
        columns[key] = {"name": integration.name, "status": "measured", "rows": rows}
    targets = []
    ours = columns["howdyscreen"]
    theirs = columns["esphome"]
    ours_at: dict[int, float] = {
        r["devices"]: r["net_per_device_pct"]["median"] for r in ours.get("rows", [])
    }
    theirs_at: dict[int, float] = {
        r["devices"]: r["net_per_device_pct"]["median"] for r in theirs.get("rows", [])
    }
    for n in counts:
        targets.append(
            target(
                f"HowdyScreen: HA CPU per streaming device, {n} device(s)",
                ours_at.get(n),
                PER_DEVICE_LIMIT_PCT,
                "% of one core",
            )
        )
        if n in theirs_at:
            targets.append(
                {
                    **target(
                        f"esphome integration (reference): HA CPU per streaming device, "
                        f"{n} device(s)",
                        theirs_at[n],
                        PER_DEVICE_LIMIT_PCT,
                        "% of one core",
                    ),
                    "reference_only": True,
                }
            )
    top = max(counts)
    targets.append(
        target(
            f"HowdyScreen below the esphome integration at {top} devices",
            ours_at.get(top),
            theirs_at.get(top, 0.0),
            "% of one core per device",
        )
    )
    payload = {
        "counts": counts,
        "windows": windows,
        "window_s": window_s,
        "warmup_s": warmup_s,
        "columns": columns,
        "targets": targets,
    }
    write_result(ctx, "ha_cpu", payload)
    return payload
