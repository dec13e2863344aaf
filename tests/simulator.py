"""Run howdyscreen-sim from tests.

A reusable helper for every test that needs a device: it finds (or builds)
the simulator binary, starts it on a free loopback port with its own state
file, waits until it listens, and stops it cleanly afterwards.

The binary is ``$HOWDY_SIM`` when set (nothing is built then), otherwise
``firmware/build/host/host/howdyscreen-sim`` (or
``firmware/build/host/howdyscreen-sim``), built with CMake first so that it
is current.

Use it through the pytest fixtures (import them into a conftest.py)::

    from tests.simulator import sim_binary, start_sim  # noqa: F401

    async def test_x(start_sim):
        sim = start_sim(encrypted=True)
        cli = APIClient(sim.host, sim.port, None, noise_psk=sim.key)

or directly with :func:`start_simulator` and :meth:`Simulator.stop`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import time

import pytest

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
BUILD_DIR = FIRMWARE / "build" / "host"
_CANDIDATES = (BUILD_DIR / "host" / "howdyscreen-sim", BUILD_DIR / "howdyscreen-sim")
_LISTENING = re.compile(r"api: listening on (\S+):(\d+)")


def build_simulator() -> Path:
    """Return the simulator binary, building it unless $HOWDY_SIM names one."""
    override = os.environ.get("HOWDY_SIM")
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"HOWDY_SIM={override} does not exist")
        return path
    cmake = shutil.which("cmake")
    if cmake is not None:
        if not (BUILD_DIR / "CMakeCache.txt").exists():
            subprocess.run(
                [cmake, "-S", str(FIRMWARE), "-B", str(BUILD_DIR)],
                check=True,
                capture_output=True,
            )
        # Incremental: a no-op when the binary is current.
        subprocess.run(
            [cmake, "--build", str(BUILD_DIR), "--target", "howdyscreen-sim", "-j2"],
            check=True,
            capture_output=True,
        )
    for path in _CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "howdyscreen-sim not found; build it with "
        "`cmake -S firmware -B firmware/build/host && cmake --build firmware/build/host`"
    )


@dataclass
class Simulator:
    """A running howdyscreen-sim."""

    proc: subprocess.Popen[bytes]
    host: str
    port: int
    name: str
    key: str | None  # base64 Noise PSK, None in plaintext mode
    state_file: Path
    log_path: Path
    stdout_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.proc.poll() is None

    def log(self) -> str:
        """Everything the simulator logged so far (stderr)."""
        return self.log_path.read_text(errors="replace")

    def stdout(self) -> str:
        """What the simulator printed on stdout (the key block)."""
        return self.stdout_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Block until a log line matches the regex; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log())
            if match:
                return match
            if time.monotonic() > deadline:
                raise TimeoutError(f"no log line matching {pattern!r}:\n{self.log()}")
            if not self.running:
                raise RuntimeError(f"simulator exited:\n{self.log()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT (a clean shutdown), SIGKILL if it hangs; return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        return self.proc.returncode


def start_simulator(
    binary: Path,
    workdir: Path,
    *,
    encrypted: bool = True,
    key: str | None = None,
    name: str = "howdy-test",
    mdns: bool = False,
    extra_args: Sequence[str] = (),
    timeout: float = 10.0,
    stdin_pipe: bool = False,
) -> Simulator:
    """Start the simulator on 127.0.0.1 and a free port; wait until it listens.

    With encrypted=True and no key, the simulator generates one on first run
    into workdir/<name>.json; Simulator.key holds it either way. With
    stdin_pipe=True, Simulator.proc.stdin is a pipe (for --wake-on-stdin).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    state_file = workdir / f"{name}.json"
    log_path = workdir / f"{name}.log"
    stdout_path = workdir / f"{name}.stdout"
    args = [
        str(binary),
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--name",
        name,
        "--state-file",
        str(state_file),
    ]
    if not encrypted:
        args.append("--plaintext")
    elif key is not None:
        args += ["--key", key]
    if not mdns:
        args.append("--no-mdns")
    args += list(extra_args)
    # Files, not pipes: a pipe nobody reads would stall the simulator once
    # its buffer is full.
    with log_path.open("wb") as err, stdout_path.open("wb") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=err,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
        )
    sim = Simulator(
        proc=proc,
        host="127.0.0.1",
        port=0,
        name=name,
        key=None,
        state_file=state_file,
        log_path=log_path,
        stdout_path=stdout_path,
        args=args,
    )
    try:
        match = sim.wait_for_log(_LISTENING.pattern, timeout)
    except Exception:
        sim.stop()
        raise
    sim.port = int(match.group(2))
    if encrypted:
        sim.key = key if key is not None else json.loads(state_file.read_text())["key"]
    return sim


@pytest.fixture(scope="session")
def sim_binary() -> Path:
    """The simulator binary (built once per session)."""
    return build_simulator()


@pytest.fixture
def start_sim(sim_binary: Path, tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """Factory: start_sim(**start_simulator kwargs) -> Simulator.

    Every simulator started is stopped at teardown, and must exit cleanly.
    """
    started: list[Simulator] = []
    counter = iter(range(1000))

    def _start(**kwargs: object) -> Simulator:
        kwargs.setdefault("name", f"howdy-test-{next(counter)}")
        sim = start_simulator(sim_binary, tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield _start
    for sim in started:
        code = sim.stop()
        assert code == 0, f"simulator exit code {code}:\n{sim.log()}"
