"""The voice-turn sections of docs/performance.md: replies (reply delivery,
microphone path, turn overhead), the streaming agent and the degraded link.

Called by bench/render.py; every figure is read from the JSON results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .common import summary

OURS, THEIRS = "howdyscreen", "esphome"
COLORS = {OURS: "tab:blue", THEIRS: "tab:orange"}


def _ms(stats: dict[str, Any] | None, key: str, digits: int = 1) -> str:
    if not stats or stats.get(key) is None:
        return "-"
    value = float(stats[key])
    if abs(value) < 0.5 * 10**-digits:
        value = 0.0  # no "-0.00" for a rounding residue
    return f"{value:,.{digits}f}".replace(",", " ")


def _dist(stats: dict[str, Any] | None, digits: int = 1) -> str:
    """median / p95 / max of a summary()."""
    if not stats or not stats.get("n"):
        return "-"
    return (
        f"{_ms(stats, 'median', digits)} / {_ms(stats, 'p95', digits)} / "
        f"{_ms(stats, 'max', digits)}"
    )


def _row(label: str, ours: str, theirs: str) -> str:
    return f"| {label} | {ours} | {theirs} |"


def replies_section(
    doc: dict[str, Any], plots: Path, rel: str, target_rows: Any
) -> list[str]:
    """Reply delivery, microphone path, turn overhead."""
    cols = doc["columns"]
    o, t = cols[OURS]["summary"], cols[THEIRS]["summary"]
    n = doc["replies"]
    lengths = doc["lengths_s"]
    _delivery_plot(cols, plots / "reply_delivery.png")
    _mic_plot(cols, plots / "mic_path.png")
    version = cols[OURS].get("ha_version", "?")

    def slots(s: dict[str, Any]) -> str:
        return f"{s['pool_high_water']} of {s['pool_slots']} slots"

    return [
        "## Reply delivery",
        "",
        f"{n} voice turns with replies of {min(lengths):g}-{max(lengths):g} s "
        f"(evenly spread, shuffled), then {doc['conversions']} turns with 3 s replies "
        f"from a 22.05 kHz engine, through each integration on Home Assistant "
        f"{version}: a fresh Home Assistant with the bench's stub engines "
        "(`bench/custom_components/bench_stubs`) and one `howdyscreen-sim` added "
        "through the integration's own config flow (HowdyScreen mode for ours, ESPHome "
        "mode for the esphome integration, the same C core either way). Each turn "
        "wakes the simulator just before a spoken command in its looped microphone, "
        "Home Assistant's voice activity detection ends the command, the stubs answer "
        "(speech-to-text 100 ms after the audio ends, agent 100 ms, text-to-speech "
        "first bytes 100 ms after its first text, then audio at 4x real time in "
        "100 ms chunks of streaming WAV), and the simulator plays the reply in real "
        "time and writes its own measurements (`--metrics-json`) when it ends. "
        "Times are on one clock: the simulator's CLOCK_MONOTONIC and the stubs' "
        "`time.monotonic()` inside Home Assistant.",
        "",
        "- *First PCM chunk → first sample*: the stub engine yields 16 kHz mono PCM "
        "(the device's format), so its first chunk exists in Home Assistant when the "
        "engine yields it; the end is the simulator's first sample at its speaker.",
        "- *TTS first byte → first sample (22.05 kHz engine)*: the same with an engine "
        "whose audio must be resampled (ours in-process; for the esphome integration "
        "Home Assistant converts it with ffmpeg).",
        "- *Pacing*: the device measures, per chunk, how long it waited between "
        "arriving and starting to play: how far ahead of playback the sender runs "
        "(its lead). A sender that keeps real time holds it steady; ours aims at "
        "half the pool; the esphome integration sends at 1/0.9 of real time, so its "
        "lead grows with the reply. Shown per reply: the average and the largest "
        "lead. *Stretch* is how much longer a reply took to play than its audio "
        "lasts (gaps).",
        "",
        "| per reply: median / p95 / max | HowdyScreen (ours) | esphome integration |",
        "|---|---:|---:|",
        _row(
            "first PCM chunk → first sample (ms)",
            _dist(o["delivery_ms"]),
            _dist(t["delivery_ms"]),
        ),
        _row(
            "TTS first byte → first sample, 22.05 kHz engine (ms)",
            _dist(o["conversion_ms"]),
            _dist(t["conversion_ms"]),
        ),
        _row(
            "lead, average over the reply (ms)",
            _dist(_turn_summary(cols[OURS]["delivery"], "lead_avg_ms")),
            _dist(_turn_summary(cols[THEIRS]["delivery"], "lead_avg_ms")),
        ),
        _row(
            "lead, largest in the reply (ms)",
            _dist(_turn_summary(cols[OURS]["delivery"], "lead_max_ms")),
            _dist(_turn_summary(cols[THEIRS]["delivery"], "lead_max_ms")),
        ),
        _row("stretch (ms)", _dist(o["stretch_ms"], 2), _dist(t["stretch_ms"], 2)),
        "",
        f"| over the {n} replies | HowdyScreen (ours) | esphome integration |",
        "|---|---:|---:|",
        _row("underruns", str(o["underruns"]), str(t["underruns"])),
        _row(
            "pool overflows (chunks the device had no room for)",
            str(o["overruns"]),
            str(t["overruns"]),
        ),
        _row("bytes dropped", str(o["bytes_dropped"]), str(t["bytes_dropped"])),
        _row("pool high-water", slots(o), slots(t)),
        _row(
            "turns that played no reply",
            str(len(cols[OURS]["failures"])),
            str(len(cols[THEIRS]["failures"])),
        ),
        "",
        f"![reply delivery]({rel}/reply_delivery.png)",
        "",
        "The esphome integration plays nothing until the pipeline's `tts-end` and the "
        "whole reply file (it reads the complete TTS result, then sends 512-sample "
        "chunks every 90 % of their duration), so its first sample waits for the "
        "engine to finish: its delay grows with the reply's length, and its 10 % "
        "surplus accumulates in the device's buffer (its growing lead); on long "
        f"replies that outgrows the simulator's {t['pool_slots']}-slot pool "
        f"({t['pool_slots'] * 32} ms): those are its pool overflows. The simulator "
        "runs the same C core for both integrations; a device with a buffer as "
        "large as the longest reply's surplus would hold them, at the cost of RAM.",
        "",
        "## Microphone path",
        "",
        "Per microphone frame (10 ms): captured on the device (the frame complete, "
        "from the simulator's `--mic-trace`) → its last byte handed to the "
        "speech-to-text engine in Home Assistant (the stub timestamps every chunk). "
        "Frames are matched by content: the stream's first bytes are found in the "
        "microphone loop, and every chunk's CRC-32 is checked against it, so a byte "
        "lost or altered on the way would show as a mismatch. *Live* frames are those "
        "captured after the engine's stream began; frames captured between the wake "
        "and the stream's start wait for the pipeline to start and are shown apart "
        "(*start-up*); the 300 ms pre-roll captured before the wake is excluded. "
        "The device sends 2 frames per packet, so every other frame waits 10 ms for "
        "its partner.",
        "",
        "| | HowdyScreen (ours) | esphome integration |",
        "|---|---:|---:|",
        _row(
            "live frames: p50 / p95 / p99 (ms)",
            _mic(o["mic_live_ms"]),
            _mic(t["mic_live_ms"]),
        ),
        _row("live frames measured", _n(o["mic_live_ms"]), _n(t["mic_live_ms"])),
        _row(
            "start-up frames: median / p95 / max (ms)",
            _dist(o["mic_startup_ms"]),
            _dist(t["mic_startup_ms"]),
        ),
        _row(
            "content check",
            ", ".join(o["mic_status"]),
            ", ".join(t["mic_status"]),
        ),
        "",
        f"![microphone path]({rel}/mic_path.png)",
        "",
        "## Turn overhead",
        "",
        "(end of speech → first reply sample played) minus the engines' own time, "
        "per turn of the delivery set. *End of speech* is when Home Assistant's voice "
        "activity detection closed the speech-to-text stream (the stub notes it); the "
        "engines' time is what the stubs measured of themselves: speech-to-text's "
        "answer delay, the agent's, and text-to-speech's time from its first text to "
        "its first audio bytes. The rest is what the integration, the pipeline and "
        "the device add.",
        "",
        "| per turn: median / p95 / max | HowdyScreen (ours) | esphome integration |",
        "|---|---:|---:|",
        _row("turn overhead (ms)", _dist(o["overhead_ms"]), _dist(t["overhead_ms"])),
        _row("engines' own time (ms)", _dist(o["engines_ms"]), _dist(t["engines_ms"])),
        "",
        "The esphome integration's overhead includes waiting for the whole reply to be "
        "synthesized (its first sample comes after the engine's last byte), so it "
        "grows with the reply's length.",
        "",
        *target_rows(doc["targets"]),
        "",
    ]


def _turn_summary(turns: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return summary([t[key] for t in turns if t.get(key) is not None])


def _mic(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "-"
    return (
        f"{stats['p50']:.1f} / {stats['p95']:.1f} / {stats['p99']:.1f}"
        if stats.get("p99") is not None
        else "-"
    )


def _n(stats: dict[str, Any]) -> str:
    return str(stats.get("n", 0))


def _delivery_plot(cols: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for key, col in cols.items():
        turns = [
            t for t in col["delivery"] if t["first_pcm_to_first_sample_ms"] is not None
        ]
        ax.scatter(
            [t["reply_seconds"] for t in turns],
            [t["first_pcm_to_first_sample_ms"] for t in turns],
            s=14,
            color=COLORS[key],
            label=col["name"],
        )
    ax.set_yscale("log")
    ax.set_xlabel("reply length, s")
    ax.set_ylabel("first PCM chunk → first sample, ms")
    ax.axhline(50, color="gray", linestyle="--", linewidth=0.8)
    ax.text(
        0.99,
        50,
        " 50 ms target",
        va="bottom",
        ha="right",
        fontsize=8,
        transform=ax.get_yaxis_transform(),
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _mic_plot(cols: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for key, col in cols.items():
        live = sorted(
            v
            for t in col["delivery"] + col["conversion"]
            for v in t["mic"].get("live_ms", [])
        )
        if live:
            ax.plot(
                live,
                np.arange(1, len(live) + 1) / len(live),
                color=COLORS[key],
                label=col["name"],
            )
    ax.axvline(15, color="gray", linestyle="--", linewidth=0.8)
    ax.set_xlabel("frame captured → bytes at the speech-to-text engine, ms")
    ax.set_ylabel("fraction of frames")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def streaming_agent_section(doc: dict[str, Any], target_rows: Any) -> list[str]:
    """The streaming agent on the newest Home Assistant."""
    cols = doc["columns"]
    o, t = cols[OURS], cols[THEIRS]

    def streamed(col: dict[str, Any]) -> str:
        turns = col["turns"]
        early = sum(1 for r in turns if r["tts_started_before_agent_end"])
        return f"{early} of {len(turns)}"

    return [
        "## Streaming conversation agent",
        "",
        f"On Home Assistant {o.get('ha_version', '?')} (Python 3.14, in the Debian sid "
        "root of `scripts/lib/sid-root`), the stub agent writes its reply in "
        f"{doc['agent_pieces']} pieces over {doc['agent_seconds']:g} s; {doc['turns']} "
        f"turns with {doc['reply_seconds']:g} s replies per integration. Measured: the "
        "agent's first text → the first reply sample played. Home Assistant starts "
        "text-to-speech while the agent is still writing once more than 60 characters "
        "have come; ours plays that stream as it comes, the esphome integration waits "
        "for `tts-end`.",
        "",
        "| per turn: median / p95 / max | HowdyScreen (ours) | esphome integration |",
        "|---|---:|---:|",
        _row(
            "agent's first text → first sample (ms)",
            _dist(o["first_text_to_first_sample_ms"], 0),
            _dist(t["first_text_to_first_sample_ms"], 0),
        ),
        _row(
            "agent's first text → agent done (ms)",
            _dist(o["agent_writing_ms"], 0),
            _dist(t["agent_writing_ms"], 0),
        ),
        _row("turns where TTS began before the agent ended", streamed(o), streamed(t)),
        _row(
            "turns that played no reply",
            str(len(o["failures"])),
            str(len(t["failures"])),
        ),
        "",
        *target_rows(doc["targets"]),
        "",
    ]


def degraded_link_section(
    doc: dict[str, Any], plots: Path, rel: str, target_rows: Any
) -> list[str]:
    """Underruns vs jitter."""
    cols = doc["columns"]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for key, col in cols.items():
        rows = col["rows"]
        ax.plot(
            [r["jitter_ms"] for r in rows],
            [r["underruns"] for r in rows],
            marker="o",
            color=COLORS[key],
            label=f"{col['name']}: underruns",
        )
        ax.plot(
            [r["jitter_ms"] for r in rows],
            [r["overruns"] for r in rows],
            marker="x",
            linestyle=":",
            color=COLORS[key],
            label=f"{col['name']}: pool overflows",
        )
    ax.axvline(100, color="gray", linestyle="--", linewidth=0.8)
    ax.set_xlabel(f"jitter U(0, j) on top of {doc['delay_ms']:g} ms delay, ms")
    ax.set_ylabel(f"count over {len(doc['lengths_s'])} replies")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(plots / "degraded_link.png", dpi=110)
    plt.close(fig)
    lines = [
        "## Degraded link",
        "",
        "Home Assistant reaches the simulator only through `bench/linkproxy.py`, which "
        f"holds every TCP segment for {doc['delay_ms']:g} ms + U(0, jitter) in both "
        "directions, keeping TCP's order (jitter shows as bunching). For each jitter "
        f"a fresh Home Assistant and simulator run {len(doc['lengths_s'])} voice turns "
        f"with replies of {', '.join(f'{s:g}' for s in doc['lengths_s'])} s (the "
        "delivery set's engine); the simulator counts what it played.",
        "",
        "| jitter (ms) | ours: underruns | ours: overflows | ours: max stretch (ms) "
        "| esphome: underruns | esphome: overflows | esphome: max stretch (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ours, theirs = cols[OURS]["rows"], cols[THEIRS]["rows"]
    for a, b in zip(ours, theirs, strict=True):
        lines.append(
            f"| {a['jitter_ms']:g} | {a['underruns']} | {a['overruns']} | "
            f"{_ms(a['stretch_ms'], 'max')} | {b['underruns']} | {b['overruns']} | "
            f"{_ms(b['stretch_ms'], 'max')} |"
        )
    fails = [
        f"{cols[k]['name']} at {r['jitter_ms']:g} ms: {len(r['failures'])}"
        for k in (OURS, THEIRS)
        for r in cols[k]["rows"]
        if r["failures"]
    ]
    lines += [
        "",
        f"![degraded link]({rel}/degraded_link.png)",
        "",
        "Turns that played no reply: " + ("; ".join(fails) if fails else "none") + ".",
        "",
        *target_rows(doc["targets"]),
        "",
    ]
    return lines
