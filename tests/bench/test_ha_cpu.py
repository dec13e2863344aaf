"""The Home Assistant CPU benchmark's arithmetic and its turn driver
(bench/ha_cpu.py), on synthetic inputs with known answers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bench import ha_cpu


def test_summarise_subtracts_the_idle_median_and_divides_by_devices() -> None:
    idle = [{"ha_cpu_pct": v} for v in (1.0, 1.2, 0.8)]
    busy = [
        {
            "ha_cpu_pct": total,
            "sims_cpu_pct": 10.0,
            "wake_audio_realtime": rt,
            "stt_audio_realtime": 0.5,
            "streams_active": 5,
            "replies_per_device_min": rate,
            "turn_timeouts": 1,
            "underruns": 2,
            "overruns": 0,
        }
        for total, rt, rate in ((11.0, 1.0, 6.0), (21.0, 0.98, 7.0), (16.0, 1.01, 8.0))
    ]
    out = ha_cpu._summarise(5, idle, busy, talking=True)
    assert out["idle_pct"] == pytest.approx(1.0)
    # (11 - 1) / 5, (21 - 1) / 5, (16 - 1) / 5
    assert out["net_per_device_pct"]["median"] == pytest.approx(3.0)
    assert out["net_per_device_pct"]["min"] == pytest.approx(2.0)
    assert out["net_per_device_pct"]["max"] == pytest.approx(4.0)
    assert out["sims_cpu_pct_per_device"] == pytest.approx(2.0)
    assert out["wake_audio_realtime_min"] == pytest.approx(0.98)
    assert out["replies_per_device_min"] == pytest.approx(7.0)
    assert (out["turn_timeouts"], out["underruns"], out["overruns"]) == (3, 6, 0)
    assert "replies_per_device_min" not in ha_cpu._summarise(
        5, idle, busy, talking=False
    )


class FakeSim:
    """Plays a reply for every wake by rewriting its metrics file, the way the
    simulator's --metrics-json does; `deaf` wakes go unanswered."""

    def __init__(self, metrics: Path, deaf: int = 0) -> None:
        self.metrics = metrics
        self.wakes: list[bool] = []
        self.deaf = deaf
        self.replies = 0

    def wake(self, button: bool = False) -> None:
        self.wakes.append(button)
        if len(self.wakes) <= self.deaf:
            return
        self.replies += 1
        doc = {"reply": self.replies, "underruns_total": 1, "overruns_total": 0}
        tmp = self.metrics.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(self.metrics)


async def _drive(talker: ha_cpu.Talker, turns: int) -> None:
    task = asyncio.create_task(talker.run())
    while talker.replies + talker.timeouts < turns:
        await asyncio.sleep(0.001)  # well inside the gap between turns
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_talker_counts_played_replies_and_presses_the_button(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ha_cpu, "TURN_GAP_S", 0.1)
    sim = FakeSim(tmp_path / "m.json")
    talker = ha_cpu.Talker(sim, sim.metrics)  # type: ignore[arg-type]
    await _drive(talker, 3)
    assert talker.replies == 3
    assert talker.timeouts == 0
    assert all(sim.wakes)  # button presses: no wake word cooldown in play
    snap: dict[str, Any] = talker.snapshot()
    assert snap == {"replies": 3, "timeouts": 0, "underruns": 1, "overruns": 0}


async def test_talker_gives_up_on_a_turn_without_reply_and_wakes_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ha_cpu, "TURN_GAP_S", 0.1)
    monkeypatch.setattr(ha_cpu, "TURN_TIMEOUT_S", 0.2)
    sim = FakeSim(tmp_path / "m.json", deaf=1)
    talker = ha_cpu.Talker(sim, sim.metrics)  # type: ignore[arg-type]
    await _drive(talker, 2)
    assert (talker.timeouts, talker.replies) == (1, 1)
    assert len(sim.wakes) == 2
