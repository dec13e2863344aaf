"""Processes started by the benchmarks: CPU accounting and clean stopping.

Every process a benchmark starts is registered with a ProcessGroup, which
stops them by PID (SIGINT, then SIGKILL after a grace period) when its
``with`` block ends, whether the benchmark succeeded or not.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import signal
import socket
import subprocess
import time
from typing import Self

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces and parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """utime + stime of pid (plus its reaped children's, and its live
    descendants' own), in seconds, from /proc."""
    fields = _stat_fields(pid)
    # After the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17)
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
        for child in descendants(pid):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
                cf = _stat_fields(child)
                ticks += int(cf[11]) + int(cf[12])
    return ticks / CLK_TCK


def descendants(pid: int) -> list[int]:
    """Live descendants of pid."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
            parent_of[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, ppid in parent_of.items() if ppid == current]
        found += kids
        frontier += kids
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of pid."""
    return int(_stat_fields(pid)[21]) * os.sysconf("SC_PAGE_SIZE")


def stop_process(proc: subprocess.Popen[bytes], grace: float = 15.0) -> int:
    """SIGINT the process by PID, SIGKILL it if it is still there after grace."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stdin is not None and not proc.stdin.closed:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    return int(proc.returncode)


class ProcessGroup:
    """Processes to stop at the end of a block, newest first."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def add(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        """Register a started process."""
        self.procs.append(proc)
        return proc

    def stop_all(self) -> dict[int, int]:
        """Stop every registered process; return {pid: exit code}."""
        codes: dict[int, int] = {}
        while self.procs:
            proc = self.procs.pop()
            codes[proc.pid] = stop_process(proc)
        return codes

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


@contextlib.contextmanager
def process_group() -> Iterator[ProcessGroup]:
    """A ProcessGroup as a context manager function."""
    group = ProcessGroup()
    try:
        yield group
    finally:
        group.stop_all()


def wait_until(
    predicate: object, timeout: float, what: str, step: float = 0.05
) -> None:
    """Poll a callable until it returns truthy (blocking helper for set-up)."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(step)


class StartStop:
    """start() and stop() as an async context manager; stop() also runs when
    start() fails half-way, so nothing it started outlives the block."""

    async def start(self) -> None:
        """Bring the thing up."""
        raise NotImplementedError

    async def stop(self) -> object:
        """Take it down (whatever start() got to)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
