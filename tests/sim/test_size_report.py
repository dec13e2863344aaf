"""firmware/tools/size_report.sh: a row for every core source, and it fails loudly.

Run here so the report cannot rot: a new module of howdy_core must compile for
the ESP32-P4's RISC-V target (picolibc, no host headers) and show up in the
table, and a file that does not compile must fail the run.
"""

from __future__ import annotations

from pathlib import Path
import re
import shutil
import subprocess

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "firmware/tools/size_report.sh"
CORE = REPO / "firmware/components/howdy_core"
ROW = re.compile(r"^(\S+\.c)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$")
TOTAL = re.compile(r"^TOTAL\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$")

pytestmark = pytest.mark.skipif(
    shutil.which("riscv64-unknown-elf-gcc") is None,
    reason="gcc-riscv64-unknown-elf is not installed",
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _sources(core: Path) -> set[str]:
    return {
        str(p.relative_to(core))
        for folder in ("src", "generated")
        for p in (core / folder).glob("*.c")
    }


def test_report_lists_every_source() -> None:
    result = _run()
    assert result.returncode == 0, result.stderr
    rows = {}
    total = None
    for line in result.stdout.splitlines():
        if m := ROW.match(line):
            text, data, bss, dec = (int(g) for g in m.groups()[1:])
            assert text + data + bss == dec
            rows[m.group(1)] = (text, data, bss)
        elif m := TOTAL.match(line):
            total = tuple(int(g) for g in m.groups())
    assert set(rows) == _sources(CORE)
    assert all(text > 0 for text, _, _ in rows.values())
    assert total is not None
    sums = tuple(sum(r[i] for r in rows.values()) for i in range(3))
    assert total[:3] == sums
    assert "-march=rv32imafc -mabi=ilp32f -Os" in result.stdout


def test_fails_when_a_file_does_not_compile(tmp_path: Path) -> None:
    core = tmp_path / "howdy_core"
    shutil.copytree(CORE, core, ignore=shutil.ignore_patterns("*.o"))
    (core / "src/zz_broken.c").write_text("int broken(void) { return missing; }\n")
    # A host-only header must fail too: the core may not include it.
    (core / "src/zz_posix.c").write_text(
        "#include <sys/socket.h>\nint posix(void) { return AF_INET; }\n"
    )
    result = _run("--core", str(core))
    assert result.returncode != 0
    assert "src/zz_broken.c" in result.stderr
    assert "src/zz_posix.c" in result.stderr
    # The other files are still measured and listed.
    listed = {
        m.group(1) for line in result.stdout.splitlines() if (m := ROW.match(line))
    }
    assert listed == _sources(CORE)


AUDIO_RAM = re.compile(
    r"^audio path static RAM: howdy_audio_path_t (\d+) B of (\d+) B budget"
)


def test_audio_path_static_ram_within_budget() -> None:
    """The report shows the audio path's static RAM, at most 64 KiB."""
    result = _run()
    assert result.returncode == 0, result.stderr
    found = [m for line in result.stdout.splitlines() if (m := AUDIO_RAM.match(line))]
    assert len(found) == 1, result.stdout
    used, budget = int(found[0].group(1)), int(found[0].group(2))
    assert budget == 64 * 1024
    # Pool (8 x 1 KiB) and microphone queue (16 KiB) alone are 24 KiB: a
    # smaller figure would mean the instance was not measured.
    assert 24 * 1024 < used <= budget
