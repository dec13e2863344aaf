"""Things going wrong in the middle of a reply.

The device vanishes while its reply streams: the turn ends, the satellite is
unavailable (and idle once it is back), nothing is logged as an error, and the
same device works again when it returns.  The TTS engine fails half-way: the
device plays what it got, the stream is ended, the satellite goes back to
idle.
"""

from __future__ import annotations

from collections.abc import Callable
import json
import logging
from pathlib import Path

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from tests.e2e.test_voice_turn import COMMAND_WAV, wait_until
from tests.e2e.voice_providers import (
    ScriptedStt,
    ScriptedTts,
    TtsScript,
    async_add_voice_device,
    async_setup_providers,
    played_bytes,
    voice_test_flow,  # noqa: F401  (fixture)
    wait_for_log,
)
from tests.simulator import Simulator

pytestmark = pytest.mark.usefixtures("mock_async_zeroconf", "voice_test_flow")

WAKE_ARGS = ("--mic-wav", str(COMMAND_WAV), "--wake-after", "0.3")


def problems(
    caplog: pytest.LogCaptureFixture, allowed: Callable[[logging.LogRecord], bool]
) -> list[str]:
    """Errors, and warnings with a traceback, that are not allowed.

    (Debug records may carry tracebacks: the tests run asyncio in debug mode,
    which logs a write to a socket the peer just closed with its traceback at
    debug level; without debug mode it logs nothing.)
    """
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if (r.levelno >= logging.ERROR or (r.levelno >= logging.WARNING and r.exc_info))
        and not allowed(r)
    ]


async def test_device_disconnects_mid_reply_and_comes_back(
    hass: HomeAssistant,
    start_sim: Callable[..., Simulator],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Kill the device while it speaks; the turn ends cleanly; it works again."""
    script = TtsScript(seconds_per_piece=6.0)
    stt_entity = ScriptedStt("hello there")
    await async_setup_providers(
        hass, stt_entity=stt_entity, tts_entity=ScriptedTts(script)
    )
    device = await async_add_voice_device(hass, start_sim, tmp_path, *WAKE_ARGS)
    satellite = device.satellite(hass)
    entities = er.async_entries_for_config_entry(er.async_get(hass), device.entry_id)
    mute = next(e.entity_id for e in entities if e.translation_key == "mute")

    # Half a second into the 6 s reply, the device dies.
    await wait_until(
        lambda: played_bytes(device.speaker) > 16000, 10, "the reply to play"
    )
    assert satellite._reply_task is not None, "the reply is not streaming"
    sim = device.sim
    key, port, name = sim.key, sim.port, sim.name
    assert await hass.async_add_executor_job(sim.stop) == 0

    await wait_until(
        lambda: device.state(hass) == STATE_UNAVAILABLE, 5, "the satellite to go"
    )
    assert hass.states.get(mute).state == STATE_UNAVAILABLE
    # The reply and the run are over, nothing waits for the device.
    await wait_until(
        lambda: satellite._reply_task is None and satellite._run_task is None,
        5,
        "the reply and the run to end",
    )
    assert satellite._playback is None

    # The same device returns on the same port and takes the next turn (one
    # with another reply: Home Assistant would replay the first from memory).
    speaker = tmp_path / "speaker-2.wav"
    script.seconds_per_piece = 0.5
    stt_entity.text = "turn on the radio"
    back = start_sim(
        key=key,
        name=name,
        extra_args=[
            "--port", str(port), "--speaker-wav", str(speaker), *WAKE_ARGS
        ],
    )  # fmt: skip
    await wait_until(lambda: device.state(hass) == "idle", 30, "the device's return")
    await wait_for_log(back, hass, r"reply played: \d+ samples", 15)
    assert played_bytes(speaker) > 0
    assert len(script.messages) == 2, script.messages
    await wait_until(lambda: device.state(hass) == "idle", 5, "idle")

    assert problems(caplog, lambda _record: False) == []
    assert await hass.config_entries.async_unload(device.entry_id)
    await hass.async_block_till_done()


async def test_tts_failure_mid_stream_ends_the_reply(
    hass: HomeAssistant,
    start_sim: Callable[..., Simulator],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The engine breaks after 1 s of a 3 s reply: 1 s plays, then the end."""
    script = TtsScript(seconds_per_piece=3.0, step_delay=0.02, fail_after_seconds=1.0)
    await async_setup_providers(
        hass, stt_entity=ScriptedStt("hello there"), tts_entity=ScriptedTts(script)
    )
    device = await async_add_voice_device(hass, start_sim, tmp_path, *WAKE_ARGS)

    line = await wait_for_log(device.sim, hass, r"reply \w+: \d+ samples[^\n]*", 10)
    assert line.startswith("reply played"), line
    await wait_until(lambda: device.state(hass) == "idle", 5, "idle")
    report = json.loads(device.metrics.read_text())
    # What the engine made before it broke played to its end, no more.
    assert abs(report["samples_played"] - 1.0 * 16000) < 0.1 * 16000, report
    assert report["overruns"] == 0, report
    assert script.closed.is_set()

    # Home Assistant's TTS logs the engine's failure as an error (its own
    # message, no traceback); nothing else may complain.
    def tts_failure(record: logging.LogRecord) -> bool:
        return (
            record.name == "homeassistant.components.tts"
            and record.exc_info is None
            and "the test TTS engine broke down" in record.getMessage()
        )

    assert problems(caplog, tts_failure) == []
    assert await hass.config_entries.async_unload(device.entry_id)
    await hass.async_block_till_done()
