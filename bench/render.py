"""Render docs/performance.md (and its PNG plots) from bench/results/<mode>/.

Full runs render into docs/performance.md and docs/performance/*.png; quick
runs into bench/results/quick/ (so a quick run never overwrites the figures
the documentation cites). Everything shown is read from the JSON results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

from . import render_voice
from .common import REPO, RESULTS

PENDING = "not measured in this run"


def _load(mode: str) -> dict[str, dict[str, Any]]:
    results = {}
    for path in sorted((RESULTS / mode).glob("*.json")):
        doc = json.loads(path.read_text())
        results[doc["benchmark"]] = doc
    return results


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if float(value).is_integer():
        digits = 0
    return f"{value:,.{digits}f}".replace(",", " ")


def _target_rows(targets: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| target | measured | limit | status | margin |",
        "|---|---:|---:|---|---:|",
    ]
    for t in targets:
        if t["status"] == "pending":
            rows.append(
                f"| {t['name']} | - | {_fmt(t['limit'], 2)} {t['unit']} | "
                f"{PENDING} | - |"
            )
            continue
        ref = " (reference, not a target)" if t.get("reference_only") else ""
        pct = t.get("margin_pct_of_limit")
        pct_s = f" ({pct:+.0f} % of the limit)" if pct is not None else ""
        rows.append(
            f"| {t['name']}{ref} | {_fmt(t['value'], 3 if abs(t['value']) < 10 else 0)} "
            f"{t['unit']} | {_fmt(t['limit'], 2 if t['limit'] < 10 else 0)} {t['unit']} | "
            f"**{t['status']}** | {_fmt(t['margin'], 3 if abs(t['margin']) < 10 else 0)}"
            f"{pct_s} |"
        )
    return rows


def _device_section(doc: dict[str, Any], plots: Path, rel: str) -> list[str]:
    modes = doc["instructions"]
    names = list(modes)
    values = [modes[m]["per_frame"] for m in names]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    colors = [
        "#888888"
        if m == "memcpy"
        else ("#3b7dd8" if m.startswith("mic") else "#d8833b")
        for m in names
    ]
    ax.barh(names, values, color=colors)
    ax.axvline(40000, color="red", linestyle="--", label="target 40 000")
    ax.set_xlabel("instructions per 10 ms frame (callgrind, x86-64 -O2)")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(plots / "device_instructions.png", dpi=110)
    plt.close(fig)
    ram = doc["ram"]
    allocs = doc["allocations"]
    lines = [
        "## Device cost",
        "",
        f"Instructions per 10 ms frame, counted by callgrind over {doc['frames_per_run']} "
        f"frames per variant ({doc['repeats']} run(s) each; instruction counts are "
        "deterministic, so the runs agree exactly). Only the per-frame work is collected "
        "(`CALLGRIND_TOGGLE_COLLECT` around it in `bench/device/frame_cost.c`); the "
        "baseline is a plain 320-byte `memcpy` per frame, measured in the same run.",
        "",
        "| variant | instructions / frame | x memcpy baseline | repeatable |",
        "|---|---:|---:|---|",
    ]
    for m in names:
        d = modes[m]
        lines.append(
            f"| {d['label']} | {_fmt(d['per_frame'])} | {_fmt(d['x_baseline'], 0)} | "
            f"{'yes' if d['repeatable'] else 'no'} |"
        )
    lines += [
        "",
        f"![instructions per frame]({rel}/device_instructions.png)",
        "",
        "These are host (x86-64, GCC -O2) instruction counts of the same C code the "
        "ESP32-P4 runs; RV32IMAFC needs more instructions for the same work (no SIMD "
        "`memcpy`, 32-bit arithmetic for the 64-bit timestamps), so read them as the "
        "order of magnitude, with the 40 000 budget as the bar.",
        "",
        f"Static RAM (`firmware/tools/size_report.sh`, {ram['toolchain']}): "
        f"`howdy_audio_path_t` **{_fmt(ram['audio_path_bytes'])} B** "
        f"({ram['audio_path_bytes'] / 1024:.1f} KiB), the voice session "
        f"`howdy_voice_t` {_fmt(ram['voice_session_bytes'])} B beside it.",
        "",
        "Heap allocations after start-up: the simulator ran under an `LD_PRELOAD` "
        "counter (`bench/device/malloc_count.c`) and was driven by aioesphomeapi's "
        f"client through {allocs['turns']} voice turns (wake, 1 s of microphone "
        "streaming, pipeline events, a paced reply played to its end). Start-up "
        f"(process start, Noise handshake, entity listing, subscriptions) counted "
        f"{allocs['startup_heap_calls']} heap calls, which shows the counter is live; "
        f"after start-up: **{allocs['after_startup_heap_calls']}** "
        f"(per turn: {', '.join(str(x) for x in allocs['per_turn_heap_calls'])}). "
        f"The ctest `test_audio_noalloc` (asserts 0 through a whole in-process session): "
        f"{'passed' if doc['ctest_noalloc']['passed'] else 'FAILED'}.",
        "",
        *_target_rows(doc["targets"]),
        "",
    ]
    return lines


def _cpu_section(doc: dict[str, Any], plots: Path, rel: str) -> list[str]:
    theirs = doc["columns"]["esphome"]
    ours = doc["columns"]["howdyscreen"]
    rows = theirs.get("rows", [])
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if rows:
        xs = [r["devices"] for r in rows]
        ax.plot(
            xs,
            [r["net_per_device_pct"]["median"] for r in rows],
            "o-",
            color="#d8833b",
            label="esphome integration",
        )
        ax.fill_between(
            xs,
            [r["net_per_device_pct"]["min"] for r in rows],
            [r["net_per_device_pct"]["max"] for r in rows],
            color="#d8833b",
            alpha=0.2,
        )
    for r in ours.get("rows", []):
        ax.plot(r["devices"], r["net_per_device_pct"]["median"], "s", color="#3b7dd8")
    if not ours.get("rows"):
        ax.text(
            0.02,
            0.92,
            f"HowdyScreen (ours): {PENDING}",
            transform=ax.transAxes,
            color="#3b7dd8",
        )
    ax.axhline(0.5, color="red", linestyle="--", label="target 0.5 % per device")
    ax.set_xscale("log")
    ax.set_xticks([1, 5, 20])
    ax.set_xticklabels(["1", "5", "20"])
    ax.set_xlabel("simulated devices streaming microphone audio")
    ax.set_ylabel("HA CPU per device, % of one core")
    tops = [r["net_per_device_pct"]["max"] for r in rows + ours.get("rows", [])]
    ax.set_ylim(0, max([*tops, 0.5]) * 1.35)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(plots / "ha_cpu.png", dpi=110)
    plt.close(fig)
    lines = [
        "## Home Assistant CPU per streaming device",
        "",
        "Every device is a `howdyscreen-sim` streaming a looped microphone WAV "
        "continuously (`--mic-wav --mic-loop --continuous`): the integration runs an "
        "Assist pipeline from the wake word stage on the stub wake word engine, which "
        "never triggers, so each device streams for the whole window (the stub counts "
        "the bytes: the *audio* column is the slowest device's rate, 1.00 = real time). "
        f"For each device count a fresh Home Assistant 2025.4.4 is started; its idle CPU "
        f"is measured first ({doc['windows']} x {doc['window_s']:.0f} s, no device), then "
        f"the devices are added through the config-flow API, {doc['warmup_s']:.0f} s of "
        f"warm-up, then {doc['windows']} windows of {doc['window_s']:.0f} s. CPU is "
        "utime + stime of the Home Assistant process (and children) from "
        "`/proc/<pid>/stat`; *net per device* = (busy - idle) / devices, median over the "
        "windows (min-max in brackets). 2 shared cores: expect noise of a few tenths of "
        "a percent.",
        "",
        "| devices | esphome: HA total (% core) | idle (% core) | esphome: net per device | "
        "audio | HowdyScreen (ours): net per device |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    ours_rows = {r["devices"]: r for r in ours.get("rows", [])}
    for r in rows:
        n = r["devices"]
        net = r["net_per_device_pct"]
        o = ours_rows.get(n)
        ours_s = f"{o['net_per_device_pct']['median']:.3f} %" if o else PENDING
        lines.append(
            f"| {n} | {r['total_pct']['median']:.2f} | {r['idle_pct']:.2f} | "
            f"**{net['median']:.3f} %** ({net['min']:.3f}-{net['max']:.3f}) | "
            f"{r['audio_realtime_min']:.2f}x | {ours_s} |"
        )
    lines += [
        "",
        f"![HA CPU per device]({rel}/ha_cpu.png)",
        "",
        "The esphome integration's figure includes the Assist pipeline's own work on "
        "the stream (audio enhancement and voice activity detection in the wake word "
        "stage) — the same stage our integration feeds, so the comparison is like "
        "for like. The simulators themselves used "
        + ", ".join(
            f"{r['sims_cpu_pct_per_device']:.2f} % ({r['devices']})" for r in rows
        )
        + " of a core per device (not part of Home Assistant's figure).",
        "",
        *_target_rows(doc["targets"]),
        "",
    ]
    return lines


def _link_section(doc: dict[str, Any], plots: Path, rel: str) -> list[str]:
    cases = doc["cases"]
    labels = [
        "direct"
        if c["delay_ms"] is None
        else f"{c['delay_ms']:.0f}+U(0,{c['jitter_ms']:.0f})"
        for c in cases
    ]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.boxplot(
        [c["series_ms"] for c in cases],
        tick_labels=labels,
        whis=(5, 95),
        showfliers=False,
    )
    ax.set_ylabel("one-way latency, ms")
    ax.set_xlabel("link (delay + jitter, ms)")
    fig.tight_layout()
    fig.savefig(plots / "linkproxy.png", dpi=110)
    plt.close(fig)
    lines = [
        "## Degraded-link tool (`bench/linkproxy.py`)",
        "",
        "The proxy for the degraded-link benchmark, checked: timestamped records every "
        f"10 ms ({cases[0]['messages']} per case) through it, against a direct connection "
        "and a 0 ms proxy measured in the same run. Data arrives intact and in order; "
        "the added delay stays within [delay, delay + jitter] plus the proxy's own cost "
        f"(median {doc['proxy_overhead_ms_median']:.2f} ms) and a 15 ms scheduling "
        f"allowance: self-test **{'passed' if doc['passed'] else 'FAILED'}**.",
        "",
        "| link | received in order | median (ms) | p95 (ms) | max (ms) |",
        "|---|---|---:|---:|---:|",
    ]
    for label, c in zip(labels, cases, strict=True):
        lat = c["latency_ms"]
        lines.append(
            f"| {label} | {'yes' if c['in_order'] else 'NO'} "
            f"({c['received']}/{c['messages']}) | {lat['median']:.2f} | "
            f"{lat['p95']:.2f} | {lat['max']:.2f} |"
        )
    lines += ["", f"![link proxy]({rel}/linkproxy.png)", ""]
    return lines


SECTIONS = {
    "device_cost": "Device cost",
    "ha_cpu": "Home Assistant CPU",
    "replies": "Reply delivery, microphone path, turn overhead",
    "streaming_agent": "Streaming conversation agent",
    "degraded_link": "Degraded link",
}


def _glance(results: dict[str, dict[str, Any]]) -> list[str]:
    """Every target of the run in one table (references left out)."""
    lines = [
        "## Targets at a glance",
        "",
        "| section | target | measured | limit | status |",
        "|---|---|---:|---:|---|",
    ]
    for key, title in SECTIONS.items():
        doc = results.get(key)
        if doc is None:
            lines.append(f"| {title} | - | - | - | {PENDING} |")
            continue
        if doc.get("error"):
            lines.append(f"| {title} | - | - | - | failed: {doc['error']} |")
            continue
        for t in doc.get("targets", []):
            if t.get("reference_only"):
                continue
            value = "-" if t["value"] is None else _fmt(t["value"], 1)
            lines.append(
                f"| {title} | {t['name']} | {value} {t['unit']} | "
                f"{_fmt(t['limit'], 2)} {t['unit']} | **{t['status']}** |"
            )
    return [*lines, ""]


def render(mode: str, command: str) -> Path:
    """Write the report for `mode`; return its path."""
    results = _load(mode)
    if mode == "full":
        out = REPO / "docs" / "performance.md"
        plots = REPO / "docs" / "performance"
        rel = "performance"
    else:
        out = RESULTS / mode / "performance.md"
        plots = RESULTS / mode
        rel = "."
    plots.mkdir(parents=True, exist_ok=True)
    any_doc = next(iter(results.values()), {})
    machine = any_doc.get("machine", {})
    lines = [
        "# Performance",
        "",
        "Measured by `bench/` (issue 7). Every figure below is read from the JSON "
        f"results in `bench/results/{mode}/`, written by the run that this page was "
        "rendered from; each is shown next to a baseline measured in the same run, and "
        "each target is reported as met or missed with its margin.",
        "",
        f"- Reproduce: `{command}`",
        "- Revisions (each benchmark's run): "
        + "; ".join(
            f"{d['benchmark']} `{d.get('revision', 'unknown')}` "
            f"({d.get('finished', '?')})"
            for d in results.values()
        ),
        f"- Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores "
        f"(shared), Python {machine.get('python', '?')}, Home Assistant 2025.4.4 "
        "(the streaming-agent section: the newest release)",
        "",
    ]
    lines += _glance(results)
    if "device_cost" in results:
        lines += _device_section(results["device_cost"], plots, rel)
    if "ha_cpu" in results:
        lines += _cpu_section(results["ha_cpu"], plots, rel)
    if "linkproxy" in results:
        lines += _link_section(results["linkproxy"], plots, rel)
    if "replies" in results:
        lines += render_voice.replies_section(
            results["replies"], plots, rel, _target_rows
        )
    if "streaming_agent" in results:
        lines += render_voice.streaming_agent_section(
            results["streaming_agent"], _target_rows
        )
    if "degraded_link" in results:
        lines += render_voice.degraded_link_section(
            results["degraded_link"], plots, rel, _target_rows
        )
    failed = [d for d in results.values() if d.get("error")]
    if failed:
        lines += ["", "## Benchmarks that failed in this run", ""]
        lines += [f"- `{d['benchmark']}`: {d['error']}" for d in failed]
    out.write_text("\n".join(lines) + "\n")
    return out
