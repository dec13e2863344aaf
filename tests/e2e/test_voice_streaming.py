"""Replies that start playing before they are finished.

A slow TTS engine: the device plays the reply's first samples while the
engine is still synthesizing.  A streaming agent (Home Assistant 2025.5 and
newer): the device plays the reply while the agent is still writing it, before
the pipeline's `intent-end`.

"Playing" is read from the simulator's speaker recording, which grows frame by
frame as the device's output task plays them (from the frame that holds the
first sample on).  The test's providers look at it at the moment that matters
(the engine's last step, the pipeline's `intent-end`), so the order is
observed directly and no two clocks are compared.
"""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path

from homeassistant.components.assist_pipeline import PipelineEventType
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from tests.e2e.test_voice_turn import COMMAND_WAV, wait_until
from tests.e2e.voice_providers import (
    HAS_STREAMING_AGENT,
    HAS_STREAMING_TTS,
    ScriptedStt,
    ScriptedTts,
    TtsScript,
    async_add_voice_device,
    async_setup_providers,
    played_bytes,
    streaming_agent,
    voice_test_flow,  # noqa: F401  (fixture)
    wait_for_log,
    watch_pipeline_events,
)
from tests.simulator import Simulator

pytestmark = pytest.mark.usefixtures("mock_async_zeroconf", "voice_test_flow")

WAKE_ARGS = ("--mic-wav", str(COMMAND_WAV), "--wake-after", "0.3")


@pytest.mark.skipif(
    not HAS_STREAMING_TTS, reason="this Home Assistant has no streaming TTS entities"
)
async def test_slow_tts_plays_before_the_engine_has_finished(
    hass: HomeAssistant, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """3 s of reply synthesized over about 2.7 s: playback starts long before."""
    played_before_last_step: list[int] = []
    script = TtsScript(seconds_per_piece=3.0, step_seconds=0.1, step_delay=0.09)
    speaker = tmp_path / "speaker.wav"
    script.before_last_step = lambda: played_before_last_step.append(
        played_bytes(speaker)
    )
    await async_setup_providers(
        hass, stt_entity=ScriptedStt("hello there"), tts_entity=ScriptedTts(script)
    )
    device = await async_add_voice_device(hass, start_sim, tmp_path, *WAKE_ARGS)
    assert device.speaker == speaker

    await wait_until(lambda: script.finished, 15, "the TTS engine to finish")
    await wait_for_log(device.sim, hass, r"reply played: \d+ samples", 10)
    await wait_until(lambda: device.state(hass) == "idle", 5, "idle")

    # When the engine was about to produce its last 0.1 s, the device had
    # already been playing: most of the reply, at this pace.
    assert played_before_last_step, "the engine never reached its last step"
    assert played_before_last_step[0] > 16000 * 2 * 1.0, played_before_last_step
    report = json.loads(device.metrics.read_text())
    assert report["overruns"] == 0, report
    # The whole reply played, resampled from the engine's 22.05 kHz.
    assert abs(report["samples_played"] - 3.0 * 16000) < 0.1 * 16000, report

    # The turn's timings: the first chunk left long before the engine was
    # done; the first sample played a little after it (the device's own
    # reply start latency, at most the pool's lead plus a tick).
    entities = er.async_entries_for_config_entry(er.async_get(hass), device.entry_id)
    timings = {
        e.translation_key: hass.states.get(e.entity_id)
        for e in entities
        if (e.translation_key or "").startswith("turn_")
    }
    first_chunk = float(timings["turn_speech_to_first_chunk"].state)
    total = float(timings["turn_total"].state)
    assert 0 < first_chunk < total - 2000, timings
    first_sample = float(timings["turn_speech_to_first_sample"].state)
    # The device may start playing in the very tick the first chunk lands.
    assert first_chunk <= first_sample < first_chunk + 300, timings


@pytest.mark.skipif(
    not HAS_STREAMING_AGENT,
    reason="this Home Assistant has no streaming conversation agents "
    "(chat log deltas, tts_start_streaming: 2025.5 and newer)",
)
async def test_streaming_agent_reply_plays_before_intent_end(
    hass: HomeAssistant, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """The agent writes for 2.5 s; the device speaks its first words meanwhile."""
    speaker = tmp_path / "speaker.wav"
    pieces = [
        # More than the 60 characters after which the pipeline streams TTS.
        "Here is a rather long answer, written one piece at a time for you, ",
        *(f"piece number {i}. " for i in range(1, 6)),
    ]
    agent = streaming_agent(pieces, delay=0.5)
    script = TtsScript(seconds_per_piece=0.6, step_seconds=0.1, step_delay=0.02)
    await async_setup_providers(
        hass,
        stt_entity=ScriptedStt("tell me something long"),
        tts_entity=ScriptedTts(script),
        agent=agent,
    )
    device = await async_add_voice_device(hass, start_sim, tmp_path, *WAKE_ARGS)

    played_at: dict[str, int] = {}

    def on_event(event: object) -> None:
        kind = getattr(event, "type", None)
        if kind in (PipelineEventType.INTENT_END, PipelineEventType.INTENT_PROGRESS):
            data = getattr(event, "data", None) or {}
            if kind == PipelineEventType.INTENT_END or data.get("tts_start_streaming"):
                played_at.setdefault(str(kind), played_bytes(speaker))

    events = watch_pipeline_events(device.satellite(hass), on_event)

    await wait_for_log(device.sim, hass, r"reply played: \d+ samples", 15)
    await wait_until(lambda: device.state(hass) == "idle", 5, "idle")

    kinds = [event.type for event in events]
    assert PipelineEventType.INTENT_END in kinds, kinds
    streaming = [
        i
        for i, event in enumerate(events)
        if event.type == PipelineEventType.INTENT_PROGRESS
        and (event.data or {}).get("tts_start_streaming")
    ]
    assert streaming, "the pipeline never said tts_start_streaming"
    assert streaming[0] < kinds.index(PipelineEventType.INTENT_END)
    # Nothing had played when streaming began; by intent-end the device had
    # been playing for a while (the agent wrote for 2.5 s).
    assert played_at[str(PipelineEventType.INTENT_PROGRESS)] == 0, played_at
    assert played_at[str(PipelineEventType.INTENT_END)] > 16000 * 2 * 0.5, played_at
    # Every piece was spoken, in one stream, and it all played.
    assert "".join(script.messages).strip() == "".join(pieces).strip()
    report = json.loads(device.metrics.read_text())
    assert report["overruns"] == 0, report
    expected = 0.6 * len(script.messages)
    assert abs(report["samples_played"] - expected * 16000) < 0.15 * 16000, report
