"""Run HowdyScreen's benchmarks and render their report (scripts/bench).

python -m bench.run [--quick|--full] [--only NAME ...] [--render-only] [--keep]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
import shlex
import sys
import tempfile
import time
import traceback
from typing import Any

from . import (
    degraded_link,
    device_cost,
    ha_cpu,
    linkproxy,
    render,
    replies,
    streaming_agent,
)
from .common import Context, log, write_result

BENCHMARKS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "device_cost": device_cost.run,
    "ha_cpu": ha_cpu.run,
    "linkproxy": linkproxy.run,
    "replies": replies.run,
    "streaming_agent": streaming_agent.run,
    "degraded_link": degraded_link.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_const",
        dest="mode",
        const="quick",
        help="a few minutes; results in bench/results/quick/ (default)",
    )
    mode.add_argument(
        "--full",
        action="store_const",
        dest="mode",
        const="full",
        help="what docs/performance.md cites; renders docs/performance.md",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only these ({', '.join(sorted(BENCHMARKS))})",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="re-render the report from the existing JSON results",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the scratch directory (logs of HA and the simulators)",
    )
    args = parser.parse_args(argv)
    run_mode = args.mode or "quick"
    command = "scripts/bench --" + run_mode
    if args.only:
        command += " --only " + " ".join(shlex.quote(n) for n in args.only)
    if args.render_only:
        out = render.render(run_mode, command)
        log(f"rendered {out}")
        return 0
    names = args.only or list(BENCHMARKS)
    failed = []
    scratch = tempfile.mkdtemp(prefix="howdy-bench-") if args.keep else None
    with tempfile.TemporaryDirectory(prefix="howdy-bench-") as tmp:
        root = Path(scratch or tmp)
        for name in names:
            ctx = Context(mode=run_mode, workdir=root / name, command=command)
            ctx.workdir.mkdir(parents=True, exist_ok=True)
            log(f"==> {name} ({run_mode})")
            started = time.monotonic()
            try:
                BENCHMARKS[name](ctx)
            except Exception as err:
                traceback.print_exc()
                failed.append(name)
                write_result(ctx, name, {"error": f"{type(err).__name__}: {err}"})
            log(f"    {name}: {time.monotonic() - started:.0f} s")
    if scratch:
        log(f"scratch kept in {scratch}")
    # With --only, the report still shows every benchmark's latest results.
    report_command = "scripts/bench --" + run_mode
    out = render.render(run_mode, report_command)
    log(f"rendered {out}")
    if failed:
        log(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
