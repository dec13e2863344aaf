"""Device cost (issue 7, item 5): instructions per 10 ms frame, static RAM,
heap allocations after start-up.

- Instructions: bench/device/frame_cost.c, linked against the host build's
  howdy_core, under ``valgrind --tool=callgrind --collect-atstart=no``; only
  the per-frame work is collected (CALLGRIND_TOGGLE_COLLECT). Baseline in the
  same run: a 320-byte memcpy per frame.
- Static RAM: firmware/tools/size_report.sh (rv32imafc, picolibc).
- Allocations: the ctest test_audio_noalloc (asserts 0 through a session),
  and the simulator itself under an LD_PRELOAD counter
  (bench/device/malloc_count.c) through real voice turns driven by
  aioesphomeapi: microphone streaming, pipeline events, a paced reply played
  to its end. Baseline in the same run: the calls counted during start-up
  (proves the counter is live).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import time
from typing import Any

from aioesphomeapi import APIClient, VoiceAssistantEventType
from aioesphomeapi.api_pb2 import VoiceAssistantAudio  # type: ignore[attr-defined]

from .common import REPO, Context, log, target, write_result
from .harness.procs import ProcessGroup
from .harness.sims import BUILD_DIR, start_sim, write_speech_like_wav

DEVICE = REPO / "bench" / "device"
OUT = REPO / "bench" / ".build"
CORE = REPO / "firmware" / "components" / "howdy_core"
MODES = {
    "memcpy": "baseline: memcpy of one 320-byte frame",
    "mic": "microphone: howdy_mic_process + packetizing, gain 0 dB",
    "mic_gain": "microphone: the same at +12 dB gain",
    "mic_wire": "microphone: +12 dB, + protobuf pack + Noise encrypt of each packet",
    "speaker": "speaker: howdy_speaker_tick + feed of 1024 B chunks, volume 100 %",
    "speaker_vol": "speaker: the same at volume 50 %",
    "speaker_wire": "speaker: volume 50 %, + Noise decrypt + protobuf unpack of each chunk",
}
INSTR_LIMIT = 40_000
RAM_LIMIT = 64 * 1024
EV = VoiceAssistantEventType


def _pkg_libs() -> list[str]:
    out = subprocess.run(
        ["pkg-config", "--libs", "libsodium", "libprotobuf-c"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def build() -> tuple[Path, Path]:
    """Build the host core (incremental), frame_cost and the malloc counter."""
    subprocess.run(
        [
            "cmake",
            "--build",
            str(BUILD_DIR),
            "-j2",
            "--target",
            "howdy_core",
            "howdyscreen-sim",
            "test_audio_noalloc",
        ],
        check=True,
        capture_output=True,
    )
    OUT.mkdir(parents=True, exist_ok=True)
    frame_cost = OUT / "frame_cost"
    # The host build's flags (RelWithDebInfo: -O2 -g).
    subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-O2",
            "-g",
            "-DNDEBUG",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{CORE / 'include'}",
            f"-I{CORE / 'generated'}",
            str(DEVICE / "frame_cost.c"),
            str(BUILD_DIR / "components" / "howdy_core" / "libhowdy_core.a"),
            *_pkg_libs(),
            "-o",
            str(frame_cost),
        ],
        check=True,
    )
    shim = OUT / "malloc_count.so"
    subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-shared",
            "-fPIC",
            str(DEVICE / "malloc_count.c"),
            "-o",
            str(shim),
        ],
        check=True,
    )
    return frame_cost, shim


def callgrind(
    frame_cost: Path, mode: str, frames: int, workdir: Path
) -> dict[str, Any]:
    """Instructions per frame of one mode."""
    out_file = workdir / f"callgrind.{mode}.out"
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            f"--callgrind-out-file={out_file}",
            str(frame_cost),
            mode,
            str(frames),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"frame_cost {mode} failed:\n{proc.stdout}\n{proc.stderr}")
    match = re.search(r"^totals:\s+(\d+)", out_file.read_text(), re.MULTILINE)
    if not match:
        raise RuntimeError(f"no totals in {out_file}")
    total = int(match.group(1))
    top = top_functions(out_file)
    return {
        "instructions": total,
        "frames": frames,
        "per_frame": total / frames,
        "program_output": proc.stdout.strip(),
        "top_functions_self": top,
    }


def top_functions(out_file: Path, count: int = 5) -> list[dict[str, Any]]:
    """The functions with the most own (exclusive) instructions."""
    if shutil.which("callgrind_annotate") is None:
        return []
    text = subprocess.run(
        ["callgrind_annotate", str(out_file)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+)", line)
        if m and ":" in m.group(2):
            rows.append(
                {
                    "instructions": int(m.group(1).replace(",", "")),
                    "function": m.group(2).split(":", 1)[1].split(" ")[0],
                }
            )
    return rows[:count]


def size_report() -> dict[str, Any]:
    """The audio path's static RAM from the rv32imafc size report."""
    proc = subprocess.run(
        [str(REPO / "firmware" / "tools" / "size_report.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    audio = re.search(r"audio path static RAM: howdy_audio_path_t (\d+) B", proc.stdout)
    voice = re.search(r"voice session static RAM: howdy_voice_t (\d+) B", proc.stdout)
    total = re.search(
        r"^TOTAL\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", proc.stdout, re.MULTILINE
    )
    header = proc.stdout.splitlines()[0] if proc.stdout else ""
    return {
        "exit_code": proc.returncode,
        "toolchain": header,
        "audio_path_bytes": int(audio.group(1)) if audio else None,
        "voice_session_bytes": int(voice.group(1)) if voice else None,
        "core_text": int(total.group(1)) if total else None,
        "core_data": int(total.group(2)) if total else None,
        "core_bss": int(total.group(3)) if total else None,
        "stderr": proc.stderr.strip()[-2000:],
    }


def ctest_noalloc() -> dict[str, Any]:
    """Run the zero-allocation ctest."""
    started = time.monotonic()
    proc = subprocess.run(
        [
            "ctest",
            "--test-dir",
            str(BUILD_DIR),
            "-R",
            "^test_audio_noalloc$",
            "--output-on-failure",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "passed": proc.returncode == 0 and "100% tests passed" in proc.stdout,
        "seconds": time.monotonic() - started,
        "output_tail": proc.stdout.strip().splitlines()[-3:],
    }


# ---- allocations of the running simulator ---------------------------------


def _read_counts(path: Path) -> list[dict[str, int]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        rows.append({k: int(v) for k, v in (item.split("=") for item in line.split())})
    return rows


async def _snapshot(pid: int, path: Path) -> dict[str, int]:
    before = len(_read_counts(path))
    os.kill(pid, signal.SIGUSR1)
    for _ in range(200):
        rows = _read_counts(path)
        if len(rows) > before:
            return rows[-1]
        await asyncio.sleep(0.01)
    raise TimeoutError("the malloc counter did not answer SIGUSR1")


class _Satellite:
    """The Home Assistant side of a voice turn, reduced to what drives it."""

    def __init__(self) -> None:
        self.starts: asyncio.Queue[int] = asyncio.Queue()
        self.audio_bytes = 0
        self.finished: asyncio.Queue[bool] = asyncio.Queue()

    async def handle_start(self, *args: Any) -> int | None:
        # (conversation_id, flags, audio_settings, wake_word_phrase)
        self.starts.put_nowait(int(args[1]))
        return 0  # port 0: audio inside the API connection

    async def handle_stop(self, *_args: Any) -> None:
        return None

    async def handle_audio(self, data: bytes, *_: Any) -> None:
        self.audio_bytes += len(data)

    async def handle_finished(self, msg: Any) -> None:
        self.finished.put_nowait(bool(msg.success))


async def _voice_turn(
    cli: APIClient, sim: Any, sat: _Satellite, reply_s: float
) -> None:
    sim.wake()
    await asyncio.wait_for(sat.starts.get(), 10)
    start_bytes = sat.audio_bytes
    async with asyncio.timeout(10):
        # 1 s of microphone audio (a counter, not an event: poll it).
        while sat.audio_bytes - start_bytes < 32000:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_STT_VAD_START, None)
    cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_STT_VAD_END, None)
    cli.send_voice_assistant_event(
        EV.VOICE_ASSISTANT_STT_END, {"text": "what time is it"}
    )
    cli.send_voice_assistant_event(
        EV.VOICE_ASSISTANT_INTENT_END, {"conversation_id": "c"}
    )
    cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_END, {"url": "x"})
    cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_STREAM_START, None)
    # A tone, paced one 32 ms slot at a time after a lead of 4 slots.
    samples = int(reply_s * 16000)
    pcm = bytes((i * 7) & 0xFF for i in range(samples * 2))
    chunks = [pcm[i : i + 1024] for i in range(0, len(pcm), 1024)]
    t0 = time.monotonic()
    for k, chunk in enumerate(chunks):
        delay = t0 + max(0, k - 3) * 0.032 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        cli.send_voice_assistant_audio(chunk)
    cli._get_connection().send_message(VoiceAssistantAudio(end=True))
    cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_STREAM_END, None)
    cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_RUN_END, None)
    if not await asyncio.wait_for(sat.finished.get(), reply_s + 10):
        raise RuntimeError("the reply did not finish successfully")


async def session_allocations(ctx: Context, shim: Path, turns: int) -> dict[str, Any]:
    """Heap calls of the simulator after start-up, through real voice turns."""
    workdir = ctx.workdir / "alloc"
    workdir.mkdir(parents=True, exist_ok=True)
    counts = workdir / "malloc-counts.txt"
    wav = write_speech_like_wav(workdir / "mic.wav", 4.0)
    with ProcessGroup() as group:
        sim = start_sim(
            group,
            workdir,
            "alloc-0",
            extra_args=["--mic-wav", str(wav), "--mic-loop", "--wake-on-stdin"],
            env={"LD_PRELOAD": str(shim), "HOWDY_MALLOC_COUNT_FILE": str(counts)},
            stdin_pipe=True,
        )
        cli = APIClient(sim.host, sim.port, None, noise_psk=sim.key)
        await asyncio.wait_for(cli.connect(login=False), 15)
        try:
            await cli.device_info()
            await cli.list_entities_services()
            cli.subscribe_states(lambda _state: None)
            sat = _Satellite()
            cli.subscribe_voice_assistant(
                handle_start=sat.handle_start,
                handle_stop=sat.handle_stop,
                handle_audio=sat.handle_audio,
                handle_announcement_finished=sat.handle_finished,
            )
            await asyncio.sleep(1.0)  # states pushed, the voice subscription settled
            after_startup = await _snapshot(sim.pid, counts)
            per_turn = []
            last = after_startup
            for k in range(turns):
                await _voice_turn(cli, sim, sat, reply_s=1.5 + k % 3)
                await asyncio.sleep(0.3)
                now = await _snapshot(sim.pid, counts)
                per_turn.append(now["heap_calls"] - last["heap_calls"])
                last = now
        finally:
            await cli.disconnect()
        code = group.stop_all()
    return {
        "turns": turns,
        "startup_heap_calls": after_startup["heap_calls"],
        "after_startup_heap_calls": last["heap_calls"] - after_startup["heap_calls"],
        "per_turn_heap_calls": per_turn,
        "detail_after_startup": {
            k: last[k] - after_startup[k] for k in after_startup if k != "heap_calls"
        },
        "simulator_exit_codes": list(code.values()),
    }


def run(ctx: Context) -> dict[str, Any]:
    """The whole device-cost benchmark."""
    frame_cost, shim = build()
    frames = ctx.pick(500, 5000)
    reps = ctx.pick(1, 3)
    modes: dict[str, Any] = {}
    for mode, label in MODES.items():
        runs = [callgrind(frame_cost, mode, frames, ctx.workdir) for _ in range(reps)]
        per_frame = [r["per_frame"] for r in runs]
        modes[mode] = {
            "label": label,
            "per_frame_runs": per_frame,
            "per_frame": sorted(per_frame)[len(per_frame) // 2],
            "repeatable": len(set(per_frame)) == 1,
            "top_functions_self": runs[0]["top_functions_self"],
            "program_output": runs[0]["program_output"],
        }
        log(f"  {mode:13s} {modes[mode]['per_frame']:10.0f} instructions/frame")
    base = modes["memcpy"]["per_frame"]
    for data in modes.values():
        data["x_baseline"] = data["per_frame"] / base if base else None
    ram = size_report()
    log(f"  audio path static RAM {ram['audio_path_bytes']} B")
    noalloc = ctest_noalloc()
    log(f"  ctest test_audio_noalloc passed={noalloc['passed']}")
    turns = ctx.pick(3, 10)
    allocs = asyncio.run(session_allocations(ctx, shim, turns))
    log(
        f"  simulator heap calls after start-up over {turns} voice turns: "
        f"{allocs['after_startup_heap_calls']} (start-up: {allocs['startup_heap_calls']})"
    )
    worst_mic = max(modes[m]["per_frame"] for m in ("mic", "mic_gain", "mic_wire"))
    worst_spk = max(
        modes[m]["per_frame"] for m in ("speaker", "speaker_vol", "speaker_wire")
    )
    targets = [
        target(
            "microphone path instructions per 10 ms frame (worst variant)",
            worst_mic,
            INSTR_LIMIT,
            "instructions",
        ),
        target(
            "speaker path instructions per 10 ms frame (worst variant)",
            worst_spk,
            INSTR_LIMIT,
            "instructions",
        ),
        target("audio path static RAM", ram["audio_path_bytes"], RAM_LIMIT, "B"),
        target(
            "heap allocations after start-up (simulator, voice turns)",
            allocs["after_startup_heap_calls"],
            0,
            "calls",
        ),
    ]
    for t in targets:
        log(
            f"  target {t['name']}: {t['status']} ({t['value']} vs {t['limit']} {t['unit']})"
        )
    payload = {
        "frames_per_run": frames,
        "repeats": reps,
        "instructions": modes,
        "ram": ram,
        "ctest_noalloc": noalloc,
        "allocations": allocs,
        "targets": targets,
    }
    write_result(ctx, "device_cost", payload)
    return payload
