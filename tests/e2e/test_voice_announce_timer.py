"""Announcements and timers, end to end.

An `assist_satellite.announce` action speaks its message through the
pipeline's TTS engine on the device and returns once the device has played
it (AnnounceFinished).  A timer set by voice goes from Home Assistant's
default agent to the device, which counts it down and rings when Home
Assistant says it finished.
"""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import re
import time

from homeassistant.core import HomeAssistant
import pytest

from tests.e2e.test_voice_turn import COMMAND_WAV, wait_until
from tests.e2e.voice_providers import (
    ScriptedStt,
    ScriptedTts,
    TtsScript,
    async_add_voice_device,
    async_setup_providers,
    voice_test_flow,  # noqa: F401  (fixture)
    wait_for_log,
)
from tests.simulator import Simulator

pytestmark = pytest.mark.usefixtures("mock_async_zeroconf", "voice_test_flow")


async def test_announcement_plays_and_returns_when_played(
    hass: HomeAssistant, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """The action returns after the device played the preannounce and message."""
    script = TtsScript(seconds_per_piece=1.5)
    await async_setup_providers(
        hass, stt_entity=ScriptedStt("unused"), tts_entity=ScriptedTts(script)
    )
    device = await async_add_voice_device(hass, start_sim, tmp_path)
    await wait_until(lambda: device.state(hass) == "idle", 5, "idle")

    started = time.monotonic()
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"entity_id": device.satellite_id, "message": "Dinner is ready"},
        blocking=True,
    )
    took = time.monotonic() - started

    assert script.messages == ["Dinner is ready"]
    line = await wait_for_log(
        device.sim, hass, r"announcement played: \d+ samples[^\n]*", 2
    )
    report = json.loads(device.metrics.read_text())
    assert report["underruns"] == 0, (report, line)
    assert report["overruns"] == 0, (report, line)
    # The preannounce sound, then the message's 1.5 s, all played ...
    played = report["samples_played"] / 16000
    assert played > 1.5, report
    # ... before the action returned: it waited for AnnounceFinished.
    assert took >= played - 0.1, (took, played)
    assert device.state(hass) == "idle"


async def test_timer_set_by_voice_rings_on_the_device(
    hass: HomeAssistant, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """'Set a timer for 2 seconds': the device shows it, then rings."""
    script = TtsScript(seconds_per_piece=0.5)
    await async_setup_providers(
        hass,
        stt_entity=ScriptedStt("set a timer for 2 seconds"),
        tts_entity=ScriptedTts(script),
    )
    device = await async_add_voice_device(
        hass, start_sim, tmp_path, "--mic-wav", str(COMMAND_WAV), "--wake-after", "0.3"
    )

    started = await wait_for_log(
        device.sim, hass, r"timer '[^']+' \([^)]*\) started: 2 of 2 s left", 10
    )
    timer_id = re.search(r"timer '([^']+)'", started)
    assert timer_id is not None
    # The default agent confirmed it, and the confirmation played.
    await wait_for_log(device.sim, hass, r"reply played: \d+ samples", 5)
    assert script.messages, "no confirmation was spoken"
    assert "2 seconds" in script.messages[0], script.messages
    await wait_for_log(
        device.sim,
        hass,
        rf"timer '{re.escape(timer_id.group(1))}' \([^)]*\) finished: ringing",
        5,
    )
    ring = await wait_for_log(device.sim, hass, r"ring done \((\d+) samples\)", 5)
    # Three 200 ms beeps (with their gaps): at least 0.6 s of ringing.
    samples = int(re.search(r"\d+", ring).group(0))  # type: ignore[union-attr]
    assert samples >= 0.6 * 16000, ring
    await wait_until(lambda: device.state(hass) == "idle", 5, "idle")
