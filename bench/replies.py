"""Voice turns end to end (issue 7, items 1-3): reply delivery, microphone
path and turn overhead, ours and the esphome integration's, in one run.

For each integration a fresh Home Assistant (bench_stubs engines) and one
simulator (HowdyScreen mode for ours, ESPHome mode for Home Assistant's
esphome integration) are started and the simulator is added through the
integration's config flow. Then voice turns: the simulator wakes just before
a spoken command in its looped microphone input, Home Assistant's voice
activity detection ends the command, the stub engines answer with fixed
latencies, and the reply is streamed to the simulator, which plays it in real
time and writes its own measurements (first sample time, underruns,
overruns, pool high-water, chunk lead) after each reply.

Two sets of turns per integration:

- delivery: replies of 1-20 s from a text-to-speech engine that streams
  16 kHz mono WAV (the device's own format, so the first PCM chunk exists in
  Home Assistant the moment the engine yields it), at 4x real time;
- conversion: 3 s replies from the same engine at 22.05 kHz, the common case
  of an engine whose audio must be resampled (in-process by ours; with
  ffmpeg by Home Assistant for the esphome integration).

Every turn also yields microphone-path samples (frame captured on the
device -> its bytes handed to the speech-to-text engine, frames matched by
content) and the turn overhead (end of speech -> first reply sample, minus
the engines' own time as the stubs timed it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from .common import Context, log, percentile, summary, target, write_result
from .harness.voice import (
    TurnFailed,
    VoiceRig,
    analyse_turn,
    read_mic_trace,
    started,
)

INTEGRATIONS = {
    "howdyscreen": "HowdyScreen (ours)",
    "esphome": "esphome integration",
}
DELIVERY_P95_LIMIT_MS = 50.0
MIC_P95_LIMIT_MS = 15.0
OVERHEAD_LIMIT_MS = 60.0


def reply_lengths(count: int, low: float, high: float) -> list[float]:
    """count lengths spread evenly over [low, high], in a fixed shuffled order
    (so long and short replies alternate and drift would show)."""
    lengths = np.round(np.linspace(low, high, count), 2)
    order = np.random.default_rng(7).permutation(count)
    return [float(lengths[i]) for i in order]


async def run_turns(
    rig: VoiceRig, lengths: list[float], label: str, **stubs: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    """Turns with these reply lengths; (analysed turns, failures)."""
    mic = started(rig.mic)
    raws, failures = [], []
    for i, seconds in enumerate(lengths):
        try:
            raws.append(await rig.turn(seconds, **stubs))
        except TurnFailed as err:
            failures.append(str(err))
            log(f"    {label} {i + 1}/{len(lengths)}: FAILED {err}")
            await asyncio.sleep(3)
            continue
        last = raws[-1]["device"]
        log(
            f"    {label} {i + 1}/{len(lengths)}: {seconds:5.2f} s reply, "
            f"underruns {last['underruns']}, overruns {last['overruns']}"
        )
    trace = read_mic_trace(rig.trace_path)
    return [analyse_turn(raw, mic, trace) for raw in raws], failures


def _values(turns: list[dict[str, Any]], key: str) -> list[float]:
    return [t[key] for t in turns if t.get(key) is not None]


def column_summary(
    delivery: list[dict[str, Any]], conversion: list[dict[str, Any]]
) -> dict[str, Any]:
    """The figures of one integration."""
    turns = delivery + conversion
    live = [v for t in turns for v in t["mic"].get("live_ms", [])]
    startup = [v for t in turns for v in t["mic"].get("startup_ms", [])]
    mic_status = sorted({t["mic"]["status"] for t in turns})
    return {
        "delivery_ms": summary(_values(delivery, "first_pcm_to_first_sample_ms")),
        "conversion_ms": summary(_values(conversion, "first_pcm_to_first_sample_ms")),
        "underruns": sum(t["underruns"] for t in delivery),
        "overruns": sum(t["overruns"] for t in delivery),
        "bytes_dropped": sum(t["bytes_dropped"] for t in delivery),
        "pool_high_water": max((t["pool_high_water"] for t in turns), default=None),
        "pool_slots": max((t["pool_slots"] for t in turns), default=None),
        "stretch_ms": summary(_values(delivery, "stretch_ms")),
        "lead_avg_ms": summary(_values(delivery, "lead_avg_ms")),
        "lead_max_ms": summary(_values(delivery, "lead_max_ms")),
        "mic_live_ms": {
            **summary(live),
            "p99": percentile(live, 99) if live else None,
            "p50": percentile(live, 50) if live else None,
        },
        "mic_startup_ms": summary(startup),
        "mic_status": mic_status,
        "overhead_ms": summary(_values(delivery, "turn_overhead_ms")),
        "engines_ms": summary(_values(delivery, "engines_ms")),
    }


async def measure(
    ctx: Context, domain: str, lengths: list[float], conversions: int
) -> dict[str, Any]:
    """Both sets of turns through one integration."""
    workdir: Path = ctx.workdir / domain
    async with VoiceRig(workdir, domain) as rig:
        version = (await started(rig.ha).call("get_config")).get("version")
        log(f"  {domain}: Home Assistant {version}, {rig.satellite}")
        delivery, failed_d = await run_turns(
            rig, lengths, "delivery", tts_rate=16000, tts_speed=4.0
        )
        conversion, failed_c = await run_turns(
            rig, [3.0] * conversions, "conversion", tts_rate=22050, tts_speed=4.0
        )
    return {
        "name": INTEGRATIONS[domain],
        "ha_version": version,
        "delivery": delivery,
        "conversion": conversion,
        "failures": failed_d + failed_c,
        "summary": column_summary(delivery, conversion),
    }


def run(ctx: Context) -> dict[str, Any]:
    """Both integrations, the same replies."""
    count = ctx.pick(3, 50)
    lengths = reply_lengths(count, 1.0, ctx.pick(6.0, 20.0))
    conversions = ctx.pick(1, 10)
    columns = {}
    for domain in INTEGRATIONS:
        columns[domain] = asyncio.run(measure(ctx, domain, lengths, conversions))
        s = columns[domain]["summary"]
        log(
            f"  {domain}: first PCM -> first sample p95 "
            f"{s['delivery_ms'].get('p95', float('nan')):.1f} ms, underruns "
            f"{s['underruns']}, overruns {s['overruns']}, mic p95 "
            f"{s['mic_live_ms'].get('p95') or float('nan'):.1f} ms, overhead median "
            f"{s['overhead_ms'].get('median', float('nan')):.1f} ms"
        )
    ours = columns["howdyscreen"]["summary"]
    targets = [
        target(
            "first reply sample after the first PCM chunk exists in HA (p95)",
            ours["delivery_ms"].get("p95"),
            DELIVERY_P95_LIMIT_MS,
            "ms",
        ),
        target(
            f"underruns across the {count} replies on loopback",
            float(ours["underruns"]),
            0.0,
            "underruns",
        ),
        target(
            f"pool overflows (overruns) across the {count} replies on loopback",
            float(ours["overruns"]),
            0.0,
            "overruns",
        ),
        target(
            "microphone path p95 on loopback",
            ours["mic_live_ms"].get("p95"),
            MIC_P95_LIMIT_MS,
            "ms",
        ),
        target(
            "turn overhead (median)",
            ours["overhead_ms"].get("median"),
            OVERHEAD_LIMIT_MS,
            "ms",
        ),
    ]
    payload = {
        "replies": count,
        "lengths_s": lengths,
        "conversions": conversions,
        "columns": columns,
        "targets": targets,
    }
    write_result(ctx, "replies", payload)
    return payload
