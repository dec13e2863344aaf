"""Home Assistant's wake word stage: the device streams continuously and a wake
word engine in Home Assistant decides when a turn begins.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from homeassistant.components.assist_pipeline import PipelineEventType
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from tests.e2e.test_voice_turn import COMMAND_WAV, wait_until
from tests.e2e.voice_providers import (
    ScriptedStt,
    ScriptedTts,
    ScriptedWakeWord,
    TtsScript,
    async_add_voice_device,
    async_setup_providers,
    voice_test_flow,  # noqa: F401  (fixture)
    wait_for_log,
    watch_pipeline_events,
)
from tests.simulator import Simulator

pytestmark = pytest.mark.usefixtures("mock_async_zeroconf", "voice_test_flow")


async def test_wake_word_in_home_assistant_starts_the_turn(
    hass: HomeAssistant, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """Continuous audio -> wake word heard -> transcript -> reply plays."""
    wake = ScriptedWakeWord(after_seconds=0.5)
    stt_entity = ScriptedStt("hello there")
    script = TtsScript(seconds_per_piece=0.5)
    await async_setup_providers(
        hass,
        stt_entity=stt_entity,
        tts_entity=ScriptedTts(script),
        wake_word_entity=wake,
    )
    device = await async_add_voice_device(
        hass,
        start_sim,
        tmp_path,
        "--mic-wav", str(COMMAND_WAV), "--mic-loop", "--continuous",
    )  # fmt: skip
    events = watch_pipeline_events(device.satellite(hass))

    await wait_for_log(device.sim, hass, r"reply played: \d+ samples", 15)
    assert wake.detections == 1
    # (The first wake_word-start may come before the watch began.)
    kinds = [event.type for event in events]
    for kind in (
        PipelineEventType.WAKE_WORD_END,
        PipelineEventType.STT_END,
        PipelineEventType.INTENT_END,
        PipelineEventType.TTS_END,
    ):
        assert kind in kinds, (kind, kinds)
    assert kinds.index(PipelineEventType.WAKE_WORD_END) < kinds.index(
        PipelineEventType.STT_END
    )
    wake_end = events[kinds.index(PipelineEventType.WAKE_WORD_END)]
    assert wake_end.data["wake_word_output"]["wake_word_id"] == "hey_test"
    # The STT heard audio after the wake word, and its text reached the agent.
    assert stt_entity.heard_bytes >= 0.5 * 32000
    stt_end = events[kinds.index(PipelineEventType.STT_END)]
    assert stt_end.data["stt_output"]["text"] == "hello there"
    assert len(script.messages) == 1

    # The turn was measured from the wake word Home Assistant heard, and the
    # device went back to streaming for the next one.
    entities = er.async_entries_for_config_entry(er.async_get(hass), device.entry_id)
    wake_to_listening = next(
        e.entity_id for e in entities if e.translation_key == "turn_wake_to_listening"
    )
    await wait_until(
        lambda: hass.states.get(wake_to_listening).state not in ("unknown", None),
        5,
        "the turn's timings",
    )
    assert float(hass.states.get(wake_to_listening).state) >= 0
    await wait_until(lambda: wake.streams >= 2, 5, "the next wake word run")
    await wait_until(lambda: device.state(hass) == "idle", 5, "idle")

    assert await hass.config_entries.async_unload(device.entry_id)
    await hass.async_block_till_done()
