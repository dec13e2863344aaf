"""The Assist satellite against a device played by the test.

The pipeline is a scripted stand-in for `async_pipeline_from_audio_stream`
(the events Home Assistant's pipeline emits, with their real data shapes), the
TTS reply a stream of WAV bytes; the satellite, the reply streamer and the
turn timings under test are the real ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import logging
import struct
from typing import Any
from unittest.mock import MagicMock, patch

from aioesphomeapi import (
    APIConnectionError,
    SensorInfo,
    SensorState,
    VoiceAssistantCommandFlag,
    VoiceAssistantEventType as Ev,
    VoiceAssistantTimerEventType,
)
from homeassistant.components.assist_pipeline import PipelineEvent, PipelineEventType
from homeassistant.components.assist_pipeline.pipeline import PipelineStage
from homeassistant.components.assist_satellite import AssistSatelliteEntityFeature
from homeassistant.components.intent import TimerEventType
from homeassistant.components.intent.timers import TIMER_DATA
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.test_util.aiohttp import (
    AiohttpClientMocker,
)

from custom_components.howdyscreen import assist_satellite as satellite_module
from custom_components.howdyscreen.assist_satellite import HowdyScreenAssistSatellite

from .conftest import FakeReconnectLogic, FakeVoiceDevice

SATELLITE = "assist_satellite.kitchen_howdyscreen"
PREFIX = "sensor.kitchen_howdyscreen_turn"
RATE = 16000


def wav(samples: int, rate: int = RATE, channels: int = 1) -> bytes:
    """A WAV file of a ramp, as a TTS engine would write it."""
    pcm = b"".join(
        struct.pack("<h", (i * 37) % 20000 - 10000) * channels for i in range(samples)
    )
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(pcm))
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH", 16, 1, channels, rate, rate * 2 * channels, 2 * channels, 16
        )
        + b"data"
        + struct.pack("<I", len(pcm))
    )
    return header + pcm


class FakeStream:
    """A TTS ResultStream: the engine's WAV, in pieces, optionally slow or failing."""

    extension = "wav"

    def __init__(self, data: bytes, *, delay: float = 0.0, fail: bool = False) -> None:
        self.data = data
        self.delay = delay
        self.fail = fail
        self.started = asyncio.Event()

    async def async_stream_result(self) -> AsyncGenerator[bytes]:
        self.started.set()
        for offset in range(0, len(self.data), 2000):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield self.data[offset : offset + 2000]
            if self.fail and offset:
                raise HomeAssistantError("engine crashed")


class FakePipeline:
    """Emits the events of a pipeline run, with the data Home Assistant sends."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.audio = b""
        self.streaming = False
        self.wake_word_detected = True
        self.error: tuple[str, str] | None = None
        self.after_intent_progress = asyncio.Event()
        self.after_intent_progress.set()

    async def __call__(
        self,
        hass: HomeAssistant,
        *,
        event_callback: Callable[[PipelineEvent], None],
        stt_stream: AsyncGenerator[bytes],
        start_stage: PipelineStage,
        **kwargs: Any,
    ) -> None:
        self.calls.append({"start_stage": start_stage, **kwargs})

        def emit(
            event_type: PipelineEventType, data: dict[str, Any] | None = None
        ) -> None:
            event_callback(PipelineEvent(event_type, data))

        tts_output = {
            "token": "tok",
            "url": "/api/tts_proxy/tok",
            "mime_type": "audio/wav",
        }
        emit(
            PipelineEventType.RUN_START,
            {
                "pipeline": "p",
                "language": "en",
                "conversation_id": "c1",
                "tts_output": tts_output,
            },
        )
        if start_stage == PipelineStage.WAKE_WORD:
            emit(PipelineEventType.WAKE_WORD_START, {"entity_id": "wake_word.test"})
            async for chunk in stt_stream:
                self.audio += chunk
                break
            if not self.wake_word_detected:
                emit(PipelineEventType.WAKE_WORD_END, {"wake_word_output": {}})
                emit(PipelineEventType.RUN_END)
                return
            emit(
                PipelineEventType.WAKE_WORD_END,
                {"wake_word_output": {"wake_word_id": "okay_nabu", "timestamp": 10}},
            )
        emit(PipelineEventType.STT_START, {"engine": "stt.test", "metadata": {}})
        emit(PipelineEventType.STT_VAD_START, {"timestamp": 0})
        async for chunk in stt_stream:
            self.audio += chunk
        emit(PipelineEventType.STT_VAD_END, {"timestamp": 900})
        if self.error is not None:
            emit(
                PipelineEventType.ERROR,
                {"code": self.error[0], "message": self.error[1]},
            )
            emit(PipelineEventType.RUN_END)
            return
        emit(PipelineEventType.STT_END, {"stt_output": {"text": "turn on the light"}})
        emit(PipelineEventType.INTENT_START, {"engine": "conversation.home_assistant"})
        if self.streaming:
            emit(
                PipelineEventType.INTENT_PROGRESS, {"chat_log_delta": {"content": "Tu"}}
            )
            emit(PipelineEventType.INTENT_PROGRESS, {"tts_start_streaming": True})
            await self.after_intent_progress.wait()
        emit(
            PipelineEventType.INTENT_END,
            {
                "intent_output": {
                    "conversation_id": "c1",
                    "continue_conversation": True,
                    "response": {
                        "speech": {"plain": {"speech": "Turned on the light"}}
                    },
                }
            },
        )
        emit(
            PipelineEventType.TTS_START,
            {"engine": "tts.test", "tts_input": "Turned on the light"},
        )
        emit(PipelineEventType.TTS_END, {"tts_output": {**tts_output, "media_id": "m"}})
        emit(PipelineEventType.RUN_END)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
def pipeline() -> Any:
    fake = FakePipeline()
    with patch(
        "homeassistant.components.assist_satellite.entity.async_pipeline_from_audio_stream",
        fake,
    ):
        yield fake


@pytest.fixture
def reply() -> Any:
    """The TTS stream every token resolves to (0.2 s of 16 kHz audio by default)."""
    holder = {"stream": FakeStream(wav(3200))}
    with patch.object(
        satellite_module.tts,
        "async_get_stream",
        side_effect=lambda _hass, _token: holder["stream"],
    ):
        yield holder


@pytest.fixture
async def voice_entry(
    hass: HomeAssistant,
    voice_device: FakeVoiceDevice,
    mock_config_entry: MockConfigEntry,
) -> MockConfigEntry:
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


def entity(hass: HomeAssistant) -> HowdyScreenAssistSatellite:
    component = hass.data["assist_satellite"]
    found = component.get_entity(SATELLITE)
    assert isinstance(found, HowdyScreenAssistSatellite)
    return found


async def announce(hass: HomeAssistant, media_id: str, message: str = "") -> None:
    """assist_satellite.announce on the satellite, without the chime."""
    data = {"entity_id": SATELLITE, "media_id": media_id, "preannounce": False}
    if message:
        data["message"] = message
    await hass.services.async_call("assist_satellite", "announce", data, blocking=True)


async def test_satellite_and_companions(
    hass: HomeAssistant, voice_entry: MockConfigEntry, voice_device: FakeVoiceDevice
) -> None:
    """A voice device gets a satellite, selects and timing sensors, and is subscribed."""
    state = hass.states.get(SATELLITE)
    assert state is not None
    assert state.state == "idle"
    sat = entity(hass)
    assert sat.supported_features == (
        AssistSatelliteEntityFeature.ANNOUNCE
        | AssistSatelliteEntityFeature.START_CONVERSATION
    )
    assert sat.tts_options == {"preferred_format": "wav"}
    assert set(voice_device.handlers) == {
        "handle_start",
        "handle_stop",
        "handle_audio",
        "handle_announcement_finished",
    }
    assert sat.pipeline_entity_id == "select.kitchen_howdyscreen_assistant"
    assert (
        sat.vad_sensitivity_entity_id
        == "select.kitchen_howdyscreen_finished_speaking_detection"
    )
    assert hass.states.get(sat.pipeline_entity_id).state == "preferred"
    assert hass.states.get(sat.vad_sensitivity_entity_id).state == "default"
    assert hass.states.get(f"{PREFIX}_total").state == STATE_UNKNOWN
    assert (
        hass.states.get(f"{PREFIX}_speech_end_to_first_reply_audio_played").state
        == STATE_UNKNOWN
    )
    config = sat.async_get_configuration()
    assert [ww.id for ww in config.available_wake_words] == ["okay_howdy", "hey_screen"]
    assert config.active_wake_words == ["okay_howdy"]

    # Unloading tells the device and removes the platforms.
    assert await hass.config_entries.async_unload(voice_entry.entry_id)
    voice_device.unsubscribe.assert_called_once()


async def test_no_voice_assistant_no_satellite(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """A device without the voice flags gets none of the voice entities."""
    assert hass.states.get(SATELLITE) is None
    assert hass.states.get(f"{PREFIX}_total") is None
    assert hass.states.async_entity_ids("select") == []


async def test_turn_from_device_wake(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
) -> None:
    """Wake on the device: STT stage, events mirrored, reply streamed, idle on AnnounceFinished."""
    voice_device.auto_finish = False
    states: list[str] = []

    # A callback runs in the event loop, in order; a plain function would be
    # run in the executor, where the appends could land in any order.
    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"] == SATELLITE and event.data["new_state"]:
            states.append(event.data["new_state"].state)

    hass.bus.async_listen("state_changed", record)
    assert await voice_device.start() == 0
    await voice_device.send_audio(b"\x01\x00" * 320)
    await voice_device.send_audio(b"")  # an empty packet is not the end
    await voice_device.send_audio(b"\x02\x00" * 320, None)
    await voice_device.stop()
    await wait_for(lambda: voice_device.ends == 1)

    call = pipeline.calls[0]
    assert call["start_stage"] == PipelineStage.STT
    assert call["wake_word_phrase"] == "Okay Howdy"
    assert call["tts_audio_output"] == {"preferred_format": "wav"}
    assert pipeline.audio == b"\x01\x00" * 320 + b"\x02\x00" * 320

    # The reply may finish sending before or after the run ends.
    assert voice_device.event_types[:10] == [
        Ev.VOICE_ASSISTANT_RUN_START,
        Ev.VOICE_ASSISTANT_STT_START,
        Ev.VOICE_ASSISTANT_STT_VAD_START,
        Ev.VOICE_ASSISTANT_STT_VAD_END,
        Ev.VOICE_ASSISTANT_STT_END,
        Ev.VOICE_ASSISTANT_INTENT_START,
        Ev.VOICE_ASSISTANT_INTENT_END,
        Ev.VOICE_ASSISTANT_TTS_START,
        Ev.VOICE_ASSISTANT_TTS_END,
        Ev.VOICE_ASSISTANT_TTS_STREAM_START,
    ]
    assert sorted(voice_device.event_types[10:]) == [
        Ev.VOICE_ASSISTANT_RUN_END,
        Ev.VOICE_ASSISTANT_TTS_STREAM_END,
    ]
    assert voice_device.event_data(Ev.VOICE_ASSISTANT_STT_END) == {
        "text": "turn on the light"
    }
    assert voice_device.event_data(Ev.VOICE_ASSISTANT_INTENT_END) == {
        "conversation_id": "c1",
        "continue_conversation": "1",
        "speech": "Turned on the light",
    }
    assert voice_device.event_data(Ev.VOICE_ASSISTANT_TTS_START) == {
        "text": "Turned on the light"
    }
    # The reply: slot-sized chunks holding the engine's PCM, then the end.
    assert all(0 < len(chunk) <= 1024 for chunk in voice_device.audio)
    assert b"".join(voice_device.audio) == wav(3200)[44:]

    # Sending ended, but the device is still playing.
    await asyncio.sleep(0.05)
    assert hass.states.get(SATELLITE).state == "responding"
    assert hass.states.get(f"{PREFIX}_total").state == STATE_UNKNOWN
    voice_device.finish()
    await wait_for(lambda: hass.states.get(SATELLITE).state == "idle")
    assert states[:3] == ["listening", "processing", "responding"]

    for key in (
        "wake_to_listening",
        "speech_end_to_transcript",
        "intent_processing",
        "speech_end_to_first_reply_audio_sent",
        "total",
    ):
        value = hass.states.get(f"{PREFIX}_{key}")
        assert value.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE), key
        assert float(value.state) >= 0
        assert value.attributes["unit_of_measurement"] == "ms"


async def test_first_sample_played_from_the_device_report(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
) -> None:
    """Speech end -> first sample played: HA's first chunk sent + the device's report."""
    device = voice_entry.runtime_data
    key = 95
    device.entity_infos[key] = SensorInfo(
        object_id="reply_start_latency", key=key, name="Reply start latency"
    )
    sat = entity(hass)
    sat._follow_reply_start_latency()  # as on a (re)connect with this firmware
    voice_device.auto_finish = False
    assert await voice_device.start() == 0
    await voice_device.send_audio(b"\x01\x00" * 320)
    await voice_device.stop()
    await wait_for(lambda: len(voice_device.audio) > 0)
    # A missing reading is no figure; the reply's real one is.
    device._on_state(SensorState(key=key, state=0.0, missing_state=True))
    device._on_state(SensorState(key=key, state=42.0))
    voice_device.finish()
    await wait_for(lambda: hass.states.get(SATELLITE).state == "idle")
    first_chunk = float(
        hass.states.get(f"{PREFIX}_speech_end_to_first_reply_audio_sent").state
    )
    first_sample = float(
        hass.states.get(f"{PREFIX}_speech_end_to_first_reply_audio_played").state
    )
    assert first_sample == pytest.approx(first_chunk + 42.0, abs=0.2)
    # Following again (a reconnect) replaces the subscription.
    sat._follow_reply_start_latency()


async def test_wake_word_stage(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
) -> None:
    """Streaming for Home Assistant's wake word: the run starts at the wake word stage."""
    await voice_device.start(VoiceAssistantCommandFlag.USE_WAKE_WORD, None)
    await voice_device.send_audio(b"\x00\x00" * 320)
    await voice_device.stop()
    await wait_for(
        lambda: hass.states.get(SATELLITE).state == "idle" and voice_device.ends
    )
    assert pipeline.calls[0]["start_stage"] == PipelineStage.WAKE_WORD
    assert pipeline.calls[0]["wake_word_phrase"] is None
    assert voice_device.event_types[:3] == [
        Ev.VOICE_ASSISTANT_RUN_START,
        Ev.VOICE_ASSISTANT_WAKE_WORD_START,
        Ev.VOICE_ASSISTANT_WAKE_WORD_END,
    ]
    await wait_for(lambda: hass.states.get(f"{PREFIX}_total").state != STATE_UNKNOWN)

    # No wake word heard: the device is told, and nothing is measured.
    voice_device.events.clear()
    pipeline.wake_word_detected = False
    await voice_device.start(VoiceAssistantCommandFlag.USE_WAKE_WORD, None)
    await voice_device.send_audio(b"\x00\x00" * 320)
    await wait_for(lambda: Ev.VOICE_ASSISTANT_RUN_END in voice_device.event_types)
    assert voice_device.event_types == [
        Ev.VOICE_ASSISTANT_RUN_START,
        Ev.VOICE_ASSISTANT_WAKE_WORD_START,
        Ev.VOICE_ASSISTANT_ERROR,
        Ev.VOICE_ASSISTANT_RUN_END,
    ]
    assert voice_device.event_data(Ev.VOICE_ASSISTANT_ERROR)["code"] == "no_wake_word"
    assert hass.states.get(SATELLITE).state == "idle"


async def test_reply_starts_at_tts_start_streaming(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
) -> None:
    """With a streaming agent the reply plays before intent-end, and only once."""
    pipeline.streaming = True
    pipeline.after_intent_progress.clear()
    voice_device.auto_finish = False
    await voice_device.start()
    await voice_device.stop()
    await wait_for(lambda: len(voice_device.audio) > 0)
    # The agent has not finished, yet the reply is on its way.
    assert Ev.VOICE_ASSISTANT_INTENT_END not in voice_device.event_types
    assert Ev.VOICE_ASSISTANT_TTS_STREAM_START in voice_device.event_types
    assert hass.states.get(SATELLITE).state == "responding"
    if satellite_module._INTENT_PROGRESS is not None:
        assert voice_device.event_data(satellite_module._INTENT_PROGRESS) == {
            "tts_start_streaming": "1"
        }
    await wait_for(lambda: voice_device.ends == 1)
    # Played out before the agent finished: the satellite waits for the run.
    voice_device.finish()
    await asyncio.sleep(0.02)
    assert hass.states.get(SATELLITE).state == "responding"
    pipeline.after_intent_progress.set()
    await wait_for(lambda: hass.states.get(SATELLITE).state == "idle")
    assert voice_device.event_types.count(Ev.VOICE_ASSISTANT_TTS_STREAM_START) == 1
    assert voice_device.ends == 1


async def test_abort_ends_the_run(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
) -> None:
    """A device that gives up (VoiceAssistantRequest stop) ends the run at once."""
    await voice_device.start()
    await voice_device.send_audio(b"\x01\x00" * 320)
    await wait_for(lambda: hass.states.get(SATELLITE).state == "listening")
    await voice_device.stop(abort=True)
    await wait_for(lambda: hass.states.get(SATELLITE).state == "idle")
    await asyncio.sleep(0.05)
    assert Ev.VOICE_ASSISTANT_STT_END not in voice_device.event_types
    assert voice_device.audio == []
    assert hass.states.get(f"{PREFIX}_total").state == STATE_UNKNOWN
    # Audio after the run is ignored.
    await voice_device.send_audio(b"\x01\x00")


async def test_pipeline_error(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
) -> None:
    """An error event reaches the device with its code, and the satellite is idle."""
    pipeline.error = ("stt-no-text-recognized", "No text recognized")
    await voice_device.start()
    await voice_device.stop()
    await wait_for(lambda: Ev.VOICE_ASSISTANT_RUN_END in voice_device.event_types)
    assert voice_device.event_data(Ev.VOICE_ASSISTANT_ERROR) == {
        "code": "stt-no-text-recognized",
        "message": "No text recognized",
    }
    assert hass.states.get(SATELLITE).state == "idle"
    # The turn counts, with what it measured.
    assert hass.states.get(f"{PREFIX}_total").state != STATE_UNKNOWN
    assert hass.states.get(f"{PREFIX}_speech_end_to_transcript").state == STATE_UNKNOWN


async def test_tts_error_mid_reply(  # noqa: PLR0917
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A TTS engine that fails mid-reply: what was sent plays, the stream ends cleanly."""
    reply["stream"] = FakeStream(wav(8000), fail=True)
    await voice_device.start()
    await voice_device.stop()
    await wait_for(lambda: voice_device.ends == 1)
    await wait_for(lambda: hass.states.get(SATELLITE).state == "idle")
    assert voice_device.audio
    assert Ev.VOICE_ASSISTANT_TTS_STREAM_END in voice_device.event_types
    assert "reply cut short" in caplog.text
    assert "Traceback" not in caplog.text


async def test_device_disconnects_mid_reply(  # noqa: PLR0917
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The device vanishing mid-reply ends the stream and the run cleanly."""
    reply["stream"] = FakeStream(wav(16000), delay=0.05)
    await voice_device.start()
    await voice_device.stop()
    await wait_for(lambda: len(voice_device.audio) > 0)
    assert hass.states.get(SATELLITE).state == "responding"
    # The link drops: the client refuses to send, ReconnectLogic reports it.
    voice_device.client.send_voice_assistant_audio.side_effect = APIConnectionError(
        "Not connected"
    )
    voice_device.client.send_voice_assistant_event.side_effect = APIConnectionError(
        "Not connected"
    )
    await FakeReconnectLogic.instances[-1].drop()
    await hass.async_block_till_done()
    assert hass.states.get(SATELLITE).state == STATE_UNAVAILABLE
    voice_device.unsubscribe.assert_called_once()
    await asyncio.sleep(0.2)
    assert "Traceback" not in caplog.text
    assert hass.states.get(f"{PREFIX}_total").state == STATE_UNKNOWN

    # Back again: subscribed anew, idle.
    voice_device.client.send_voice_assistant_audio.side_effect = (
        voice_device.audio.append
    )
    voice_device.client.send_voice_assistant_event.side_effect = voice_device._event
    await FakeReconnectLogic.instances[-1].reconnect()
    await hass.async_block_till_done()
    assert hass.states.get(SATELLITE).state == "idle"
    assert voice_device.client.subscribe_voice_assistant.call_count == 2


async def test_send_fails_mid_reply(  # noqa: PLR0917
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A send that fails before the link reports the loss is not an error either."""
    voice_device.client.send_voice_assistant_audio.side_effect = APIConnectionError(
        "Not connected"
    )
    await voice_device.start()
    await voice_device.stop()
    await wait_for(lambda: Ev.VOICE_ASSISTANT_RUN_END in voice_device.event_types)
    await asyncio.sleep(0.05)
    assert "device went away mid-reply" in caplog.text or "Traceback" not in caplog.text
    await FakeReconnectLogic.instances[-1].drop()
    await hass.async_block_till_done()


async def test_barge_in_and_stale_finish(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
) -> None:
    """A new wake during a reply drops it; its late AnnounceFinished ends nothing new."""
    voice_device.auto_finish = False
    await voice_device.start()
    await voice_device.stop()
    await wait_for(lambda: voice_device.ends == 1)
    assert hass.states.get(SATELLITE).state == "responding"
    # Wake again while the first reply still plays.
    await voice_device.start()
    voice_device.finish(success=False)  # the device's word on the dropped reply
    await voice_device.stop()
    await wait_for(lambda: voice_device.ends == 2)
    await asyncio.sleep(0.05)
    assert hass.states.get(SATELLITE).state == "responding"
    voice_device.finish()
    await wait_for(lambda: hass.states.get(SATELLITE).state == "idle")
    # A finish nobody waits for is only logged.
    voice_device.finish()
    await asyncio.sleep(0.01)


async def test_no_reply_without_stream(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
) -> None:
    """A TTS token that no longer resolves: no reply, back to idle at run end."""
    with patch.object(satellite_module.tts, "async_get_stream", return_value=None):
        await voice_device.start()
        await voice_device.stop()
        await wait_for(lambda: Ev.VOICE_ASSISTANT_RUN_END in voice_device.event_types)
    assert Ev.VOICE_ASSISTANT_TTS_STREAM_START not in voice_device.event_types
    assert hass.states.get(SATELLITE).state == "idle"


async def test_pipeline_that_cannot_run(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pipeline that cannot start is reported to the device, not as a traceback."""
    with patch(
        "homeassistant.components.assist_satellite.entity.async_pipeline_from_audio_stream",
        side_effect=HomeAssistantError("no such pipeline"),
    ):
        await voice_device.start()
        await wait_for(lambda: Ev.VOICE_ASSISTANT_RUN_END in voice_device.event_types)
    assert (
        voice_device.event_data(Ev.VOICE_ASSISTANT_ERROR)["code"] == "pipeline-failed"
    )
    assert "cannot run the pipeline" in caplog.text
    assert hass.states.get(SATELLITE).state == "idle"


async def test_audio_queue_is_bounded(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pipeline that does not read: audio is dropped, and stop still gets through."""
    gate = asyncio.Event()

    async def stuck(hass: HomeAssistant, *, stt_stream: Any, **kwargs: Any) -> None:
        await gate.wait()
        async for _chunk in stt_stream:
            pass

    with (
        patch.object(satellite_module, "AUDIO_QUEUE_PACKETS", 3),
        patch(
            "homeassistant.components.assist_satellite.entity.async_pipeline_from_audio_stream",
            stuck,
        ),
    ):
        await voice_device.start()
        for _ in range(6):
            await voice_device.send_audio(b"\x00\x00" * 10)
        await voice_device.stop()
        gate.set()
        await asyncio.sleep(0.05)
    assert caplog.text.count("dropping audio") == 1


async def test_announcement(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """Announced media is fetched by Home Assistant and streamed in the API."""
    aioclient_mock.get("http://example.com/doorbell.wav", content=wav(4000, 22050, 2))
    await announce(
        hass, "http://example.com/doorbell.wav", message="Someone is at the door"
    )
    assert voice_device.announcements == [
        {
            "media_id": "",
            "text": "Someone is at the door",
            "start_conversation": False,
        }
    ]
    assert voice_device.ends == 1
    # 4000 samples at 22.05 kHz, resampled to 16 kHz mono: about 2902 samples.
    total = sum(len(chunk) for chunk in voice_device.audio)
    assert abs(total // 2 - 2902) < 60  # plus the filter's tail
    assert all(len(chunk) <= 1024 for chunk in voice_device.audio)
    assert hass.states.get(SATELLITE).state == "idle"


async def test_announcement_with_preannounce(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """The preannounce sound (Home Assistant's mp3) plays first, in the same stream."""
    aioclient_mock.get("http://example.com/x.wav", content=wav(1600))
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"entity_id": SATELLITE, "media_id": "http://example.com/x.wav"},
        blocking=True,
    )
    audio = b"".join(voice_device.audio)
    # The chime (decoded by ffmpeg) comes first, the message's exact PCM last.
    assert audio.endswith(wav(1600)[44:])
    assert len(audio) > len(wav(1600)[44:]) + 3200
    assert voice_device.ends == 1


async def test_announcement_failures(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """Unfetchable media and an absent device fail the service call, not the log."""
    aioclient_mock.get("http://example.com/missing.wav", status=404)
    with pytest.raises(HomeAssistantError, match="cannot fetch"):
        await announce(hass, "http://example.com/missing.wav")
    aioclient_mock.get("http://example.com/noise.bin", content=b"\x00" * 64)
    with pytest.raises(HomeAssistantError, match="Announcement failed"):
        await announce(hass, "http://example.com/noise.bin")
    voice_device.client.send_voice_assistant_audio.side_effect = APIConnectionError(
        "gone"
    )
    aioclient_mock.get("http://example.com/x.wav", content=wav(1600))
    with pytest.raises(HomeAssistantError, match="not connected"):
        await announce(hass, "http://example.com/x.wav")
    await FakeReconnectLogic.instances[-1].drop()
    await hass.async_block_till_done()
    with pytest.raises(HomeAssistantError):
        await entity(hass).async_announce(MagicMock())


async def test_announcement_not_confirmed(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    aioclient_mock: AiohttpClientMocker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A device that never reports the end does not hang the announcement."""
    voice_device.auto_finish = False
    aioclient_mock.get("http://example.com/x.wav", content=wav(160))
    with patch(
        "custom_components.howdyscreen.reply_streamer.DEFAULT_FINISH_MARGIN", 0.1
    ):
        sat = entity(hass)
        with patch.object(
            satellite_module,
            "ReplyStreamer",
            _short_margin(satellite_module.ReplyStreamer),
        ):
            await announce(hass, "http://example.com/x.wav")
    assert "did not report the end of the announcement" in caplog.text
    assert sat.state == "idle"


def _short_margin(cls: type) -> Callable[..., Any]:
    def make(**kwargs: Any) -> Any:
        return cls(**kwargs, finish_margin=0.1)

    return make


async def test_reply_not_confirmed(  # noqa: PLR0917
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    pipeline: FakePipeline,
    reply: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reply whose end the device never reports still returns to idle, with a warning."""
    voice_device.auto_finish = False
    with patch.object(
        satellite_module, "ReplyStreamer", _short_margin(satellite_module.ReplyStreamer)
    ):
        await voice_device.start()
        await voice_device.stop()
        await wait_for(lambda: hass.states.get(SATELLITE).state == "idle")
    assert "did not report the end of the reply" in caplog.text


async def test_start_conversation(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """start_conversation asks the device to listen after the announcement."""
    aioclient_mock.get("http://example.com/q.wav", content=wav(160))
    sat = entity(hass)
    announcement = MagicMock(
        message="Shall I?",
        media_id="http://example.com/q.wav",
        media_id_source="url",
        tts_token=None,
        preannounce_media_id=None,
    )
    await sat.async_start_conversation(announcement)
    assert voice_device.announcements[-1]["start_conversation"] is True


async def test_announcement_of_tts(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    reply: dict[str, Any],
) -> None:
    """A TTS announcement streams the TTS result, not a URL."""
    sat = entity(hass)
    announcement = MagicMock(
        message="Dinner",
        media_id="http://ha/api/tts_proxy/tok",
        media_id_source="tts",
        tts_token="tok",  # noqa: S106
        preannounce_media_id=None,
    )
    await sat.async_announce(announcement)
    assert b"".join(voice_device.audio) == wav(3200)[44:]


async def test_timers(
    hass: HomeAssistant,
    voice_device: FakeVoiceDevice,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Timers set by voice for this device are shown on it."""
    handlers: dict[str, Callable[..., None]] = {}

    def register(
        hass: HomeAssistant, device_id: str, handler: Any
    ) -> Callable[[], None]:
        handlers[device_id] = handler
        return lambda: None

    with patch.object(satellite_module, "async_register_timer_handler", register):
        mock_config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    (handler,) = handlers.values()
    timer = MagicMock(id="t1", created_seconds=300, seconds_left=299, is_active=True)
    timer.name = "pizza"
    for event_type, native in (
        (
            TimerEventType.STARTED,
            VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_STARTED,
        ),
        (
            TimerEventType.UPDATED,
            VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_UPDATED,
        ),
        (
            TimerEventType.CANCELLED,
            VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_CANCELLED,
        ),
        (
            TimerEventType.FINISHED,
            VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_FINISHED,
        ),
    ):
        handler(event_type, timer)
        voice_device.client.send_voice_assistant_timer_event.assert_called_with(
            native, "t1", "pizza", 300, 299, True
        )
    voice_device.client.send_voice_assistant_timer_event.side_effect = (
        APIConnectionError("x")
    )
    handler(TimerEventType.UPDATED, timer)  # a gone device is not an error


async def test_real_timer_registration(
    hass: HomeAssistant, voice_entry: MockConfigEntry, voice_device: FakeVoiceDevice
) -> None:
    """The satellite registers with Home Assistant's timer manager for its device."""
    device_id = er.async_get(hass).async_get(SATELLITE).device_id
    assert device_id in hass.data[TIMER_DATA].handlers


async def test_wake_word_select_and_configuration(
    hass: HomeAssistant, voice_entry: MockConfigEntry, voice_device: FakeVoiceDevice
) -> None:
    """The wake word select shows the device's choice and changes it on the device."""
    select = "select.kitchen_howdyscreen_wake_word"
    state = hass.states.get(select)
    assert state.state == "Okay Howdy"
    assert state.attributes["options"] == ["Okay Howdy", "Hey Screen"]
    voice_device.config = type(voice_device.config)(
        available_wake_words=voice_device.config.available_wake_words,
        active_wake_words=["hey_screen"],
        max_active_wake_words=2,
    )
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": select, "option": "Hey Screen"},
        blocking=True,
    )
    voice_device.client.set_voice_assistant_configuration.assert_awaited_with(
        active_wake_words=["hey_screen"]
    )
    assert hass.states.get(select).state == "Hey Screen"

    # The satellite's configuration API goes the same way.
    sat = entity(hass)
    config = sat.async_get_configuration()
    config.active_wake_words = ["okay_howdy"]
    await sat.async_set_configuration(config)
    voice_device.client.set_voice_assistant_configuration.assert_awaited_with(
        active_wake_words=["okay_howdy"]
    )

    # A device that is gone: a clear error for the user.
    voice_device.client.set_voice_assistant_configuration.side_effect = (
        APIConnectionError("gone")
    )
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            "select",
            "select_option",
            {"entity_id": select, "option": "Okay Howdy"},
            blocking=True,
        )
    with pytest.raises(HomeAssistantError):
        await sat.async_set_configuration(config)


async def test_configuration_unanswered(
    hass: HomeAssistant,
    voice_device: FakeVoiceDevice,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A device that does not answer the configuration request: the select waits."""
    voice_device.client.get_voice_assistant_configuration.side_effect = TimeoutError
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert (
        hass.states.get("select.kitchen_howdyscreen_wake_word").state
        == STATE_UNAVAILABLE
    )


async def test_pool_geometry_from_device(
    hass: HomeAssistant, voice_entry: MockConfigEntry, voice_device: FakeVoiceDevice
) -> None:
    """The reply pool's geometry comes from the device's sensors, with a fallback."""
    voice = voice_entry.runtime_data.voice
    assert voice.pool_geometry() == (1024, 16)
    device = voice_entry.runtime_data
    for key, object_id, value in (
        (90, "audio_pool_slot_bytes", 513.0),
        (91, "audio_pool_slots", 6.0),
    ):
        device.entity_infos[key] = SensorInfo(
            object_id=object_id, key=key, name=object_id
        )
        device.states[key] = SensorState(key=key, state=value)
    assert voice.pool_geometry() == (512, 6)


async def test_log_level_quiet(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    voice_device: FakeVoiceDevice,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stray messages from the device are tolerated quietly."""
    caplog.set_level(logging.DEBUG, logger="custom_components.howdyscreen")
    voice_device.finish()
    await voice_device.stop()
    await voice_device.stop(abort=True)
    await asyncio.sleep(0.01)
    assert "AnnounceFinished for no stream" in caplog.text
    assert hass.states.get(SATELLITE).state == "idle"
