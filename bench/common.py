"""Shared pieces of the benchmarks: run context, statistics, targets, results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
import datetime as dt
import json
import math
import os
from pathlib import Path
import platform
import statistics
import subprocess
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


@dataclass
class Context:
    """One benchmark run: its mode, where results and scratch files go."""

    mode: str  # "quick" or "full"
    workdir: Path  # scratch (a temporary directory)
    command: str  # the command line that reproduces the run
    notes: list[str] = field(default_factory=list)

    @property
    def full(self) -> bool:
        """Full mode (what docs/performance.md cites)."""
        return self.mode == "full"

    @property
    def results_dir(self) -> Path:
        """bench/results/<mode>/."""
        path = RESULTS / self.mode
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pick(self, quick: Any, full: Any) -> Any:
        """The quick or the full value of a parameter."""
        return full if self.full else quick


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def summary(values: Sequence[float]) -> dict[str, Any]:
    """n, median, p95, min, max of a sample."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": float(statistics.median(values)),
        "p95": percentile(values, 95),
        "min": float(min(values)),
        "max": float(max(values)),
    }


def target(
    name: str,
    value: float | None,
    limit: float,
    unit: str,
    *,
    lower_is_better: bool = True,
) -> dict[str, Any]:
    """A target as met/missed with its margin (positive margin = room left)."""
    if value is None:
        return {
            "name": name,
            "limit": limit,
            "unit": unit,
            "value": None,
            "status": "pending",
        }
    margin = (limit - value) if lower_is_better else (value - limit)
    return {
        "name": name,
        "limit": limit,
        "unit": unit,
        "value": value,
        "status": "met" if margin >= 0 else "missed",
        "margin": margin,
        "margin_pct_of_limit": (100.0 * margin / limit) if limit else None,
    }


def git_revision() -> str:
    """The checkout's commit (with -dirty when the tree has changes)."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    return rev


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def write_result(ctx: Context, name: str, payload: dict[str, Any]) -> Path:
    """bench/results/<mode>/<name>.json with the run's metadata."""
    doc = {
        "benchmark": name,
        "mode": ctx.mode,
        "command": ctx.command,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "revision": git_revision(),
        "machine": machine(),
        **payload,
    }
    path = ctx.results_dir / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    return path


def log(message: str) -> None:
    """Progress on stdout (flushed: the run is long)."""
    print(message, flush=True)
