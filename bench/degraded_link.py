"""Degraded link (issue 7, item 6): replies through a link with added delay
and jitter, underruns vs jitter, ours and the esphome integration's.

Home Assistant reaches the simulator only through bench/linkproxy.py's
LinkProxy, which holds every TCP segment for delay + U(0, jitter) in both
directions while keeping TCP's order (so jitter shows as bunching, as on a
congested WiFi link). For each jitter a fresh Home Assistant and simulator
run the same voice turns as the replies benchmark (16 kHz streaming engine),
and the simulator reports what it played: underruns, overruns, dropped
bytes, and how much longer than its audio the reply took to play.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .common import Context, log, summary, target, write_result
from .harness.voice import VoiceRig
from .replies import INTEGRATIONS, reply_lengths, run_turns

DELAY_MS = 20.0


async def measure(
    ctx: Context, domain: str, jitter_ms: float, lengths: list[float]
) -> dict[str, Any]:
    """One integration, one jitter."""
    workdir = ctx.workdir / f"{domain}-jitter-{jitter_ms:g}"
    async with VoiceRig(workdir, domain, delay_ms=DELAY_MS, jitter_ms=jitter_ms) as rig:
        turns, failures = await run_turns(
            rig, lengths, f"jitter {jitter_ms:g} ms", tts_rate=16000, tts_speed=4.0
        )
        link = rig.proxy.stats if rig.proxy else None
    added = link.added_ms if link else []
    row = {
        "jitter_ms": jitter_ms,
        "delay_ms": DELAY_MS,
        "replies": len(turns),
        "failures": failures,
        "underruns": sum(t["underruns"] for t in turns),
        "overruns": sum(t["overruns"] for t in turns),
        "bytes_dropped": sum(t["bytes_dropped"] for t in turns),
        "replies_with_underruns": sum(1 for t in turns if t["underruns"]),
        "stretch_ms": summary([t["stretch_ms"] for t in turns]),
        "delivery_ms": summary(
            [
                t["first_pcm_to_first_sample_ms"]
                for t in turns
                if t["first_pcm_to_first_sample_ms"] is not None
            ]
        ),
        "link_added_ms": summary(added),
        "played_s": sum(t["played_s"] for t in turns),
    }
    log(
        f"  {domain} jitter {jitter_ms:g} ms: underruns {row['underruns']}, "
        f"overruns {row['overruns']}, failures {len(failures)}"
    )
    return row


def run(ctx: Context) -> dict[str, Any]:
    """Every jitter, both integrations."""
    jitters = ctx.pick([100.0], [0.0, 25.0, 50.0, 100.0, 200.0])
    lengths = reply_lengths(ctx.pick(2, 6), 3.0, ctx.pick(5.0, 12.0))
    columns: dict[str, Any] = {}
    for domain, name in INTEGRATIONS.items():
        rows = [asyncio.run(measure(ctx, domain, j, lengths)) for j in jitters]
        columns[domain] = {"name": name, "rows": rows}
    ours = columns["howdyscreen"]["rows"]
    within = [r for r in ours if r["jitter_ms"] <= 100.0]
    targets = [
        target(
            "underruns with up to 100 ms of jitter "
            f"({DELAY_MS:g} ms delay, {sum(r['replies'] for r in within)} replies)",
            float(sum(r["underruns"] for r in within)),
            0.0,
            "underruns",
        )
    ]
    payload = {
        "jitters_ms": jitters,
        "delay_ms": DELAY_MS,
        "lengths_s": lengths,
        "columns": columns,
        "targets": targets,
    }
    write_result(ctx, "degraded_link", payload)
    return payload
