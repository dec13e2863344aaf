"""Launch howdyscreen-sim instances for benchmarks.

Each simulator listens on 127.0.0.1 (a port it picks), keeps its key in its
own state file under the work directory, logs to a file, and is registered
with the caller's ProcessGroup so it is stopped by PID whatever happens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import json
import math
import os
from pathlib import Path
import re
import shutil
import struct
import subprocess
import time
import wave

from .procs import ProcessGroup

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
BUILD_DIR = Path(os.environ.get("HOWDY_FIRMWARE_BUILD", FIRMWARE / "build" / "host"))
LISTENING = re.compile(r"api: listening on (\S+):(\d+)")
RATE = 16000


def simulator_binary() -> Path:
    """$HOWDY_SIM, or the host build's howdyscreen-sim (brought up to date)."""
    override = os.environ.get("HOWDY_SIM")
    if override:
        return Path(override)
    cmake = shutil.which("cmake")
    if cmake and (BUILD_DIR / "CMakeCache.txt").exists():
        subprocess.run(
            [cmake, "--build", str(BUILD_DIR), "--target", "howdyscreen-sim", "-j2"],
            check=True,
            capture_output=True,
        )
    binary = BUILD_DIR / "host" / "howdyscreen-sim"
    if not binary.is_file():
        raise FileNotFoundError(f"{binary} missing: run scripts/setup")
    return binary


def write_speech_like_wav(path: Path, seconds: float, seed: int = 1) -> Path:
    """A 16 kHz mono WAV of bursts of tones and silence (speech-like levels).

    Deterministic, generated here: the microphone input of the benchmarks.
    """
    samples = bytearray()
    n = int(seconds * RATE)
    state = seed & 0xFFFFFFFF
    for i in range(n):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        t = i / RATE
        burst = (int(t * 2.5) % 3) != 2  # 400 ms on, 200 ms off
        tone = math.sin(2 * math.pi * (180 + 40 * math.sin(t * 3)) * t)
        value = (6000 * tone if burst else 0) + ((state >> 20) - 2048) * 0.5
        samples += struct.pack("<h", int(max(-32768, min(32767, value))))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(samples))
    return path


@dataclass
class Sim:
    """One running simulator."""

    proc: subprocess.Popen[bytes]
    name: str
    host: str
    port: int
    key: str | None
    log_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """Process id."""
        return self.proc.pid

    def log(self) -> str:
        """Everything logged so far."""
        return self.log_path.read_text(errors="replace")

    def wake(self, button: bool = False) -> None:
        """With --wake-on-stdin: one wake (wake word, or button press)."""
        if self.proc.stdin is None:
            raise RuntimeError(f"{self.name} was started without stdin_pipe=True")
        self.proc.stdin.write(b"b\n" if button else b"w\n")
        self.proc.stdin.flush()


def start_sim(
    group: ProcessGroup,
    workdir: Path,
    name: str,
    *,
    esphome_mode: bool = False,
    encrypted: bool = True,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    stdin_pipe: bool = False,
    wrapper: Sequence[str] = (),
    timeout: float = 20.0,
) -> Sim:
    """Start one simulator and wait until it listens.

    wrapper: a command prefix (e.g. valgrind ...) the simulator runs under.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    state = workdir / f"{name}.json"
    log_path = workdir / f"{name}.log"
    args = [
        *wrapper,
        str(simulator_binary()),
        *("--bind", "127.0.0.1", "--port", "0", "--name", name),
        *("--state-file", str(state), "--no-mdns"),
    ]
    if esphome_mode:
        args.append("--esphome-mode")
    if not encrypted:
        args.append("--plaintext")
    args += list(extra_args)
    with log_path.open("wb") as err, (workdir / f"{name}.stdout").open("wb") as out:
        proc = group.add(
            subprocess.Popen(
                args,
                stdout=out,
                stderr=err,
                stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        )
    deadline = time.monotonic() + timeout
    while True:
        match = LISTENING.search(log_path.read_text(errors="replace"))
        if match:
            break
        if proc.poll() is not None:
            raise RuntimeError(f"simulator {name} exited:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"simulator {name} did not listen:\n{log_path.read_text()}"
            )
        time.sleep(0.05)
    key = json.loads(state.read_text())["key"] if encrypted else None
    return Sim(
        proc=proc,
        name=name,
        host="127.0.0.1",
        port=int(match.group(2)),
        key=key,
        log_path=log_path,
        args=args,
    )


def start_sims(
    group: ProcessGroup,
    workdir: Path,
    count: int,
    prefix: str = "bench",
    **kwargs: object,
) -> list[Sim]:
    """Start `count` simulators named prefix-0 .. prefix-(count-1)."""
    return [
        start_sim(group, workdir, f"{prefix}-{i}", **kwargs)  # type: ignore[arg-type]
        for i in range(count)
    ]
