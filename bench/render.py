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
        pct_s = (
            f" ({pct:+.{1 if abs(pct) < 10 else 0}f} % of the limit)"
            if pct is not None
            else ""
        )
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


COLORS = {"howdyscreen": "#3b7dd8", "esphome": "#d8833b", "pipeline": "#777777"}
LOAD_TITLES = {
    "listening": "listening: every device streams into HA's wake word stage",
    "talking": "talking: every device takes voice turns back to back",
}


def _net(row: dict[str, Any] | None) -> float | None:
    return None if row is None else float(row["net_per_device_pct"]["median"])


def _minus(row: dict[str, Any] | None, floor: dict[str, Any] | None) -> float | None:
    a, b = _net(row), _net(floor)
    return None if a is None or b is None else a - b


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f} %"


def _cpu_plot(doc: dict[str, Any], plots: Path) -> None:
    loads = doc["loads"]
    fig, axes = plt.subplots(1, len(loads), figsize=(10, 3.8), sharey=True)
    top = 0.5
    for ax, (load, data) in zip(axes, loads.items(), strict=True):
        for key, column in data["columns"].items():
            rows = column["rows"]
            if not rows:
                continue
            xs = [r["devices"] for r in rows]
            ax.plot(
                xs,
                [_net(r) for r in rows],
                "o-",
                color=COLORS.get(key, "black"),
                label=column["name"],
            )
            ax.fill_between(
                xs,
                [r["net_per_device_pct"]["min"] for r in rows],
                [r["net_per_device_pct"]["max"] for r in rows],
                color=COLORS.get(key, "black"),
                alpha=0.15,
            )
            top = max(top, *(r["net_per_device_pct"]["max"] for r in rows))
        ax.axhline(0.5, color="red", linestyle="--", label="target 0.5 % per device")
        ax.set_xscale("log")
        ax.set_xticks(doc["counts"])
        ax.set_xticklabels([str(n) for n in doc["counts"]])
        ax.set_title(load, fontsize=10)
        ax.set_xlabel("simulated devices")
        ax.legend(loc="lower left", fontsize=8)
    axes[0].set_ylabel("HA CPU per device, % of one core")
    axes[0].set_ylim(0, top * 1.3)
    fig.tight_layout()
    fig.savefig(plots / "ha_cpu.png", dpi=110)
    plt.close(fig)


def _rows_by_devices(data: dict[str, Any]) -> dict[str, dict[int, dict[str, Any]]]:
    """A load's rows: column key -> device count -> row."""
    return {
        key: {r["devices"]: r for r in col["rows"]}
        for key, col in data["columns"].items()
    }


def _cpu_listening_rows(data: dict[str, Any]) -> list[str]:
    by_n = _rows_by_devices(data)
    lines = [
        "| devices | HowdyScreen (ours) | esphome integration | pipeline alone | "
        "ours minus pipeline | esphome minus pipeline | HA idle | slowest stream |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(by_n["howdyscreen"]):
        ours, theirs = by_n["howdyscreen"].get(n), by_n["esphome"].get(n)
        floor = by_n["pipeline"].get(n)
        rows = [r for r in (ours, theirs, floor) if r]
        lines.append(
            f"| {n} | **{_pct(_net(ours))}** | {_pct(_net(theirs))} | "
            f"{_pct(_net(floor))} | {_pct(_minus(ours, floor))} | "
            f"{_pct(_minus(theirs, floor))} | "
            + " / ".join(f"{r['idle_pct']:.2f}" for r in rows)
            + " % | "
            + f"{min(r['wake_audio_realtime_min'] for r in rows):.2f}x |"
        )
    return lines


def _cpu_talking_rows(data: dict[str, Any]) -> list[str]:
    by_n = _rows_by_devices(data)
    lines = [
        "| devices | HowdyScreen (ours) | esphome integration | HA CPU per turn, ms "
        "(ours / esphome) | replies per device-minute (ours / esphome) | microphone "
        "streaming, share of the time | underruns, overruns, failed turns "
        "(ours / esphome) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(by_n["howdyscreen"]):
        ours, theirs = by_n["howdyscreen"].get(n), by_n["esphome"].get(n)
        rows = [r for r in (ours, theirs) if r]

        def faults(r: dict[str, Any]) -> str:
            return f"{r['underruns']}, {r['overruns']}, {r['turn_timeouts']}"

        lines.append(
            f"| {n} | **{_pct(_net(ours))}** | {_pct(_net(theirs))} | "
            + " / ".join(f"{_cpu_ms_per_turn(r):.0f}" for r in rows)
            + " | "
            + " / ".join(f"{r['replies_per_device_min']:.1f}" for r in rows)
            + " | "
            + " / ".join(f"{r['stt_audio_realtime_median']:.2f}" for r in rows)
            + " | "
            + " / ".join(faults(r) for r in rows)
            + " |"
        )
    return lines


def _cpu_ms_per_turn(row: dict[str, Any]) -> float:
    """Net HA CPU per device-second spread over that device's turns: columns
    that finish more turns a minute are not charged for their extra work."""
    return float(_net(row) or 0.0) / 100 * 60e3 / float(row["replies_per_device_min"])


def _cpu_section(doc: dict[str, Any], plots: Path, rel: str) -> list[str]:
    _cpu_plot(doc, plots)
    *head, last = [str(n) for n in doc["counts"]]
    counts = f"{', '.join(head)} and {last}" if head else last
    loads = doc["loads"]
    stubs = doc["talk_stubs"]
    lines = [
        "## Home Assistant CPU per device",
        "",
        f"Two loads, each with {counts} `howdyscreen-sim` devices:",
        "",
        "- **listening**: every device streams a looped microphone WAV continuously "
        "(`--mic-wav --mic-loop --continuous`) into an Assist pipeline that starts at the "
        "wake word stage, as a satellite that leaves the wake word to Home Assistant "
        "does. The stub wake word engine never triggers, so every device streams for the "
        "whole window; the stub counts the bytes (*slowest stream*: 1.00x = real time).",
        "- **talking** (streaming and replying): every device takes voice turns back to "
        "back: a button-press wake (`--wake-on-stdin`), the spoken command of "
        "`tests/fixtures` streamed until Home Assistant's voice activity detection ends "
        f"it, stub engines (STT {stubs['stt_latency_ms']:.0f} ms, agent "
        f"{stubs['agent_latency_ms']:.0f} ms, TTS first bytes after "
        f"{stubs['tts_first_byte_ms']:.0f} ms), a {stubs['tts_seconds']:.0f} s reply "
        "with a new text every turn (no TTS cache hits), the next wake "
        f"{doc['turn_gap_s']:.1f} s after the reply has played. Button presses, because "
        "Home Assistant drops a wake word phrase that another device reported less than "
        "2 s earlier. *HA CPU per turn* spreads a device's net CPU over the turns it "
        "finished, so a column that completes more turns a minute is not charged for "
        "the extra work.",
        "",
        "Columns: ours; Home Assistant's esphome integration driving the same simulator "
        "in its ESPHome mode; and, for listening, *pipeline alone*: the same number of "
        "wake-word-stage pipelines fed in-process by the stub component "
        "(`bench_stubs/feed`, 20 ms chunks at real time, the satellite entity's audio "
        "settings; no device, no protocol, no integration). *Pipeline alone* is the "
        "floor every satellite integration pays inside Home Assistant (its audio "
        "enhancer runs micro-VAD on every 10 ms chunk, in the wake word stage too); "
        "*minus pipeline* is what the integration adds. The device columns also have "
        "the simulators competing for the same 2 cores, so their difference to the "
        "floor is an upper bound.",
        "",
        "Each cell is a fresh Home Assistant 2025.4.4: idle CPU first "
        f"({doc['windows']} x {doc['window_s']:.0f} s, no device), then the load, "
        f"{doc['warmup_s']:.0f} s of warm-up, then {doc['windows']} windows of "
        f"{doc['window_s']:.0f} s. CPU is utime + stime of the Home Assistant process "
        "and its children (the esphome integration's ffmpeg conversions count) from "
        "`/proc/<pid>/stat`; *per device* = (busy - idle) / devices, the median over "
        "the windows. The columns of one row run one after another, in an order that "
        "alternates from row to row, so drift on these shared machines does not "
        "favour one column.",
        "",
        f"![HA CPU per device]({rel}/ha_cpu.png)",
        "",
    ]
    for load, data in loads.items():
        lines += [f"### {LOAD_TITLES.get(load, load)}", ""]
        if load == "listening":
            lines += _cpu_listening_rows(data)
        else:
            lines += _cpu_talking_rows(data)
        lines.append("")
    sims = loads["listening"]["columns"]["howdyscreen"]["rows"]
    lines += [
        "The simulators themselves used "
        + ", ".join(
            f"{r['sims_cpu_pct_per_device']:.2f} % ({r['devices']})" for r in sims
        )
        + " of a core per device while listening (not part of Home Assistant's "
        "figure).",
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
            value = (
                "-"
                if t["value"] is None
                else _fmt(t["value"], 2 if abs(t["value"]) < 10 else 1)
            )
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
