"""Streaming conversation agent (issue 7, item 1): time from the agent's first
text to the first reply sample played, on the newest Home Assistant, ours vs
the esphome integration.

The stub agent yields its reply in pieces over several seconds
(agent_stream_seconds). Home Assistant starts text-to-speech before the agent
is done once enough text has come (its pipeline then sends intent-progress
with tts_start_streaming); a satellite that plays the reply stream from that
moment can start speaking while the agent is still writing. Ours does; the
esphome integration waits for the pipeline's tts-end and the whole reply.

Agents stream on Home Assistant 2025.5 and newer, so this runs on the newest
release, inside the Debian sid root of scripts/lib/sid-root (Python 3.14,
requirements/ha-latest.txt), the same one `scripts/test --ha latest` uses:
the host side starts `python -m bench.streaming_agent --inside ...` in there
and keeps what it writes. Timestamps stay comparable: the root shares the
host's CLOCK_MONOTONIC.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
from typing import Any

from .common import REPO, Context, log, summary, target, write_result
from .harness.voice import VoiceRig, started
from .replies import INTEGRATIONS, run_turns

SID_ROOT = REPO / "scripts" / "lib" / "sid-root"
SID_PYTHON = "/opt/howdy-venv/bin/python"
SID_SIM = REPO / "firmware" / "build" / "sid" / "host" / "howdyscreen-sim"
AGENT_SECONDS = 4.0
AGENT_PIECES = 8
REPLY_SECONDS = 3.0
# Enough text for Home Assistant to start text-to-speech while the agent streams.
WORDS = (
    "The kitchen lights are on, the living room is at twenty one degrees, "
    "and nothing else in the house needs your attention right now."
)


async def measure_inside(workdir: Path, domain: str, turns: int) -> dict[str, Any]:
    """Streaming-agent turns through one integration (inside the root)."""
    stubs = {
        "agent_stream_seconds": AGENT_SECONDS,
        "agent_stream_pieces": AGENT_PIECES,
        "tts_rate": 16000,
    }
    async with VoiceRig(workdir / domain, domain, stubs=stubs) as rig:
        version = (await started(rig.ha).call("get_config")).get("version")
        turns_done, failures = await run_turns(
            rig, [REPLY_SECONDS] * turns, domain, words=WORDS
        )
    keep = (
        "agent_first_text_to_first_sample_ms",
        "agent_first_text_to_agent_end_ms",
        "tts_started_before_agent_end",
        "first_pcm_to_first_sample_ms",
        "underruns",
    )
    rows = [{key: turn[key] for key in keep} for turn in turns_done]
    return {
        "name": INTEGRATIONS[domain],
        "ha_version": version,
        "turns": rows,
        "failures": failures,
        "first_text_to_first_sample_ms": summary(
            [
                r["agent_first_text_to_first_sample_ms"]
                for r in rows
                if r["agent_first_text_to_first_sample_ms"] is not None
            ]
        ),
        "agent_writing_ms": summary(
            [
                r["agent_first_text_to_agent_end_ms"]
                for r in rows
                if r["agent_first_text_to_agent_end_ms"] is not None
            ]
        ),
    }


def inside(args: argparse.Namespace) -> int:
    """Entry point inside the sid root."""
    workdir = Path(args.workdir)
    columns = {
        domain: asyncio.run(measure_inside(workdir, domain, args.turns))
        for domain in INTEGRATIONS
    }
    Path(args.out).write_text(json.dumps(columns, indent=2) + "\n")
    return 0


def in_sid_root(*command: str, env: dict[str, str] | None = None) -> None:
    """Run a command inside the sid root, from the project folder."""
    subprocess.run(
        [str(SID_ROOT), "run", "--", *command], check=True, cwd=REPO, env=env
    )


def run(ctx: Context) -> dict[str, Any]:
    """Host side: run the turns in the sid root, keep the result."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        raise RuntimeError("needs root and unshare (scripts/lib/sid-root)")
    turns = ctx.pick(1, 10)
    # In the project tree: the root bind-mounts the project, and its /tmp is
    # private.
    workdir = REPO / ".cache" / "bench" / f"streaming_agent-{ctx.mode}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    out = workdir / "result.json"
    subprocess.run([str(SID_ROOT), "ensure"], check=True)
    # A Home Assistant process (not only its tests) needs its frontend and
    # the libraries of the integrations it always loads.
    in_sid_root(
        SID_PYTHON,
        *("-m", "pip", "install", "-q", "-r"),
        str(REPO / "requirements" / "bench-latest.txt"),
    )
    # The simulator built inside the root (against its libraries), as
    # `scripts/test --ha latest` builds it.
    in_sid_root(
        "bash",
        "-c",
        'source scripts/lib/common.sh && build_firmware "$1" '
        "-DHOWDY_BUILD_TESTS=OFF >/dev/null",
        "build",
        str(SID_SIM.parents[1]),
    )
    sim = SID_SIM
    log(f"  newest Home Assistant in the sid root; simulator {sim}")
    in_sid_root(
        SID_PYTHON,
        *("-m", "bench.streaming_agent", "--inside"),
        *("--workdir", str(workdir)),
        *("--out", str(out)),
        *("--turns", str(turns)),
        env={**os.environ, "HOWDY_SIM": str(sim)},
    )
    columns = json.loads(out.read_text())
    ours = columns["howdyscreen"]["first_text_to_first_sample_ms"]
    theirs = columns["esphome"]["first_text_to_first_sample_ms"]
    for domain, col in columns.items():
        log(
            f"  {domain}: agent first text -> first sample median "
            f"{col['first_text_to_first_sample_ms'].get('median', float('nan')):.0f} ms"
        )
    payload = {
        "turns": turns,
        "agent_seconds": AGENT_SECONDS,
        "agent_pieces": AGENT_PIECES,
        "reply_seconds": REPLY_SECONDS,
        "columns": columns,
        "targets": [
            target(
                "agent's first text -> first sample, below the esphome "
                "integration's (median)",
                ours.get("median"),
                theirs.get("median", 0.0),
                "ms",
            )
        ],
    }
    write_result(ctx, "streaming_agent", payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    """python -m bench.streaming_agent --inside (used by run())."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inside", action="store_true", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--turns", type=int, default=2)
    return inside(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
