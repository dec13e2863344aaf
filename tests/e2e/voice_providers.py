"""Small voice providers for end-to-end tests, registered the way Home
Assistant's own tests register theirs: a mocked integration whose config entry
forwards to its STT, TTS, wake word and conversation platforms.

Each provider is scripted by the test that uses it (what the STT hears, how
fast the TTS speaks and whether it fails, when the wake word is heard, how the
agent writes its reply) and notes what happened, so a test can tell in which
order things occurred without comparing clocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
import struct
import time
from typing import Any

from homeassistant.components import stt, tts, wake_word
from homeassistant.components.assist_pipeline.pipeline import (
    KEY_ASSIST_PIPELINE,
    Pipeline,
    async_create_default_pipeline,
    async_update_pipeline,
)
from homeassistant.components.tts.const import DATA_TTS_MANAGER
from homeassistant.components.tts.entity import TTSAudioRequest, TTSAudioResponse
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddEntitiesCallback
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

TEST_DOMAIN = "howdy_voice_test"
TTS_RATE = 22050  # not the device's rate: the reply streamer resamples it
WAV_HEADER_BYTES = 44

# Whether this Home Assistant has streaming TTS entities and streaming agents.
HAS_STREAMING_TTS = hasattr(tts.TextToSpeechEntity, "async_stream_tts_audio")
try:
    from homeassistant.components import conversation

    HAS_STREAMING_AGENT = hasattr(
        conversation.ChatLog, "async_add_delta_content_stream"
    ) and hasattr(conversation.ConversationEntity, "supports_streaming")
except (ImportError, AttributeError):  # pragma: no cover - depends on the release
    HAS_STREAMING_AGENT = False


def wav_header(rate: int = TTS_RATE) -> bytes:
    """A WAV header of s16le mono audio of unknown length (a stream)."""
    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )


def tone(seconds: float, start: int = 0, rate: int = TTS_RATE) -> bytes:
    """A 440 Hz tone at a third of full scale, continuing from sample `start`."""
    n = np.arange(start, start + round(seconds * rate))
    return (10000 * np.sin(2 * np.pi * 440 * n / rate)).astype("<i2").tobytes()


def played_bytes(speaker: Path) -> int:
    """How much the device has played so far: its speaker WAV, header excluded."""
    try:
        return max(0, speaker.stat().st_size - WAV_HEADER_BYTES)
    except FileNotFoundError:
        return 0


# Speech to text ------------------------------------------------------------


class ScriptedStt(stt.SpeechToTextEntity):
    """Hears `text` once it has read `listen_seconds` of the device's audio."""

    _attr_name = "Scripted STT"
    _attr_unique_id = "scripted-stt"

    def __init__(self, text: str, listen_seconds: float = 0.5) -> None:
        self.text = text
        self.listen_seconds = listen_seconds
        self.heard_bytes = 0

    @property
    def supported_languages(self) -> list[str]:
        return ["en", "en-US"]

    @property
    def supported_formats(self) -> list[stt.AudioFormats]:
        return [stt.AudioFormats.WAV]

    @property
    def supported_codecs(self) -> list[stt.AudioCodecs]:
        return [stt.AudioCodecs.PCM]

    @property
    def supported_bit_rates(self) -> list[stt.AudioBitRates]:
        return [stt.AudioBitRates.BITRATE_16]

    @property
    def supported_sample_rates(self) -> list[stt.AudioSampleRates]:
        return [stt.AudioSampleRates.SAMPLERATE_16000]

    @property
    def supported_channels(self) -> list[stt.AudioChannels]:
        return [stt.AudioChannels.CHANNEL_MONO]

    async def async_process_audio_stream(
        self, metadata: stt.SpeechMetadata, stream: AsyncIterable[bytes]
    ) -> stt.SpeechResult:
        wanted = int(self.listen_seconds * 16000 * 2)
        async for chunk in stream:
            self.heard_bytes += len(chunk)
            if self.heard_bytes >= wanted:
                break
        return stt.SpeechResult(self.text, stt.SpeechResultState.SUCCESS)


# Text to speech ------------------------------------------------------------


@dataclass
class TtsScript:
    """How the TTS engine speaks, and what it saw while speaking."""

    # Audio per piece of text, produced in steps of `step_seconds` audio,
    # each taking `step_delay` seconds to "synthesize".
    seconds_per_piece: float = 1.0
    step_seconds: float = 0.1
    step_delay: float = 0.0
    # Raise after this much audio (the engine failing mid-stream).
    fail_after_seconds: float | None = None
    # Called before the engine finishes (its last step), with nothing yet
    # known to anyone else that the engine is about to finish.
    before_last_step: Callable[[], None] | None = None
    # What happened.
    messages: list[str] = field(default_factory=list)
    seconds_produced: float = 0.0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class ScriptedTts(tts.TextToSpeechEntity):
    """Speaks each piece of text as a tone, over time, as `script` says."""

    _attr_name = "Scripted TTS"
    _attr_unique_id = "scripted-tts"
    _attr_default_language = "en"

    def __init__(self, script: TtsScript) -> None:
        self.script = script
        self._attr_supported_languages = ["en", "en-US"]
        self._attr_supported_options = [tts.ATTR_PREFERRED_FORMAT]

    async def async_get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> tts.TtsAudioType:
        """Only for callers that do not stream: the whole reply at once."""
        self.script.messages.append(message)
        return "wav", wav_header() + tone(self.script.seconds_per_piece)

    async def async_stream_tts_audio(
        self, request: TTSAudioRequest
    ) -> TTSAudioResponse:
        return TTSAudioResponse("wav", self._speak(request.message_gen))

    async def _speak(self, message_gen: AsyncGenerator[str]) -> AsyncGenerator[bytes]:
        script = self.script
        produced = 0  # samples
        try:
            yield wav_header()
            async for piece in message_gen:
                if not piece:
                    continue
                script.messages.append(piece)
                steps = max(1, round(script.seconds_per_piece / script.step_seconds))
                for step in range(steps):
                    last = step == steps - 1
                    if last and script.before_last_step is not None:
                        # The last piece is only known once the text ends, so
                        # the hook runs for the last step of every piece; the
                        # test's hook decides which call matters.
                        script.before_last_step()
                    # Even a fast engine lets the event loop run between steps.
                    await asyncio.sleep(script.step_delay)
                    if (
                        script.fail_after_seconds is not None
                        and produced / TTS_RATE >= script.fail_after_seconds
                    ):
                        raise HomeAssistantError("the test TTS engine broke down")
                    audio = tone(script.step_seconds, produced)
                    produced += len(audio) // 2
                    script.seconds_produced = produced / TTS_RATE
                    script.started.set()
                    yield audio
            script.finished = True
        finally:
            script.closed.set()


# Wake word -----------------------------------------------------------------


class ScriptedWakeWord(wake_word.WakeWordDetectionEntity):
    """Hears its wake word after `after_seconds` of audio, on the first run only."""

    _attr_name = "Scripted wake word"
    _attr_unique_id = "scripted-wake-word"

    def __init__(self, after_seconds: float = 0.5) -> None:
        self.after_seconds = after_seconds
        self.detections = 0
        self.streams = 0

    async def get_supported_wake_words(self) -> list[wake_word.WakeWord]:
        return [wake_word.WakeWord(id="hey_test", name="Hey Test")]

    async def _async_process_audio_stream(
        self, stream: AsyncIterable[tuple[bytes, int]], wake_word_id: str | None
    ) -> wake_word.DetectionResult | None:
        self.streams += 1
        heard = 0
        async for chunk, timestamp in stream:
            heard += len(chunk)
            if self.detections == 0 and heard >= self.after_seconds * 32000:
                self.detections += 1
                return wake_word.DetectionResult(
                    wake_word_id="hey_test",
                    wake_word_phrase="Hey Test",
                    timestamp=timestamp,
                )
        return None


# Conversation agent (Home Assistant with streaming agents only) -----------


def streaming_agent(pieces: Iterable[str], delay: float) -> Entity:
    """An agent that writes its reply in `pieces`, `delay` seconds apart."""
    from homeassistant.components import conversation  # noqa: PLC0415
    from homeassistant.const import MATCH_ALL  # noqa: PLC0415

    text = list(pieces)

    class PiecewiseAgent(conversation.ConversationEntity):
        _attr_name = "Piecewise agent"
        _attr_unique_id = "piecewise-agent"
        _attr_supports_streaming = True

        def __init__(self) -> None:
            self.done_at: float | None = None

        @property
        def supported_languages(self) -> list[str] | str:
            return MATCH_ALL

        async def _async_handle_message(
            self,
            user_input: conversation.ConversationInput,
            chat_log: conversation.ChatLog,
        ) -> conversation.ConversationResult:
            async def deltas() -> AsyncGenerator[dict[str, str]]:
                yield {"role": "assistant"}
                for i, piece in enumerate(text):
                    if i:
                        await asyncio.sleep(delay)
                    yield {"content": piece}

            async for _content in chat_log.async_add_delta_content_stream(
                self.entity_id,
                deltas(),  # type: ignore[arg-type]
            ):
                pass
            self.done_at = time.monotonic()
            return conversation.async_get_result_from_chat_log(user_input, chat_log)

    return PiecewiseAgent()


# Registration --------------------------------------------------------------


class _ProvidersFlow(ConfigFlow):
    """The test integration's (never used) config flow."""


@pytest.fixture
def voice_test_flow() -> Iterator[None]:
    """Let the test providers' config entry be set up (and unloaded)."""
    with mock_config_flow(TEST_DOMAIN, _ProvidersFlow):
        yield


async def async_setup_providers(
    hass: HomeAssistant,
    *,
    stt_entity: ScriptedStt,
    tts_entity: ScriptedTts,
    wake_word_entity: ScriptedWakeWord | None = None,
    agent: Entity | None = None,
) -> Pipeline:
    """Register the providers and make a pipeline of them the preferred one."""
    platforms: dict[str, list[Entity]] = {
        "stt": [stt_entity],
        "tts": [tts_entity],
    }
    if wake_word_entity is not None:
        platforms["wake_word"] = [wake_word_entity]
    if agent is not None:
        platforms["conversation"] = [agent]

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, list(platforms))
        return True

    async def unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        return await hass.config_entries.async_unload_platforms(entry, list(platforms))

    mock_integration(
        hass,
        MockModule(
            TEST_DOMAIN, async_setup_entry=setup_entry, async_unload_entry=unload_entry
        ),
    )
    for domain, entities in platforms.items():

        def add(entities: list[Entity] = entities) -> Any:
            async def setup_platform(
                hass: HomeAssistant,
                entry: ConfigEntry,
                async_add_entities: AddEntitiesCallback,
            ) -> None:
                async_add_entities(entities)

            return setup_platform

        mock_platform(
            hass, f"{TEST_DOMAIN}.{domain}", MockPlatform(async_setup_entry=add())
        )
    # Config entries are only set up for integrations that have a config flow
    # (registered by the `voice_test_flow` fixture).
    mock_platform(hass, f"{TEST_DOMAIN}.config_flow")
    entry = MockConfigEntry(domain=TEST_DOMAIN)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    from homeassistant.setup import async_setup_component  # noqa: PLC0415

    assert await async_setup_component(hass, "assist_pipeline", {})
    await hass.async_block_till_done()
    # No TTS file cache: it lives in the shared testing configuration, where a
    # reply cached by one test would be replayed (instantly, whole) in another.
    # (The memory cache is per Home Assistant instance: a test that needs two
    # replies makes them say different things.)
    hass.data[DATA_TTS_MANAGER].use_file_cache = False

    assert stt_entity.entity_id
    assert tts_entity.entity_id
    pipeline = await async_create_default_pipeline(
        hass,
        stt_engine_id=stt_entity.entity_id,
        tts_engine_id=tts_entity.entity_id,
        pipeline_name="Test",
    )
    assert pipeline is not None
    updates: dict[str, Any] = {}
    if wake_word_entity is not None:
        updates.update(wake_word_entity=wake_word_entity.entity_id, wake_word_id=None)
    if agent is not None:
        updates["conversation_engine"] = agent.entity_id
    if updates:
        await async_update_pipeline(hass, pipeline, **updates)
    store = hass.data[KEY_ASSIST_PIPELINE].pipeline_store
    store.async_set_preferred_item(pipeline.id)
    return store.data[pipeline.id]  # type: ignore[no-any-return]


# The device ------------------------------------------------------------------


@dataclass
class VoiceDevice:
    """A simulator added to Home Assistant, with its satellite."""

    sim: Any  # tests.simulator.Simulator
    entry_id: str
    satellite_id: str
    speaker: Path
    metrics: Path

    def satellite(self, hass: HomeAssistant) -> Any:
        """The satellite entity object (to watch its pipeline events)."""
        return hass.data["entity_components"]["assist_satellite"].get_entity(
            self.satellite_id
        )

    def state(self, hass: HomeAssistant) -> str | None:
        state = hass.states.get(self.satellite_id)
        return None if state is None else state.state


def watch_pipeline_events(
    satellite: Any, on_event: Callable[[Any], None] | None = None
) -> list[Any]:
    """Record every pipeline event the satellite handles (calling on_event first)."""
    events: list[Any] = []
    original = satellite.on_pipeline_event

    def wrapper(event: Any) -> None:
        if on_event is not None:
            on_event(event)
        events.append(event)
        original(event)

    satellite.on_pipeline_event = wrapper
    return events


async def wait_for_log(
    sim: Any, hass: HomeAssistant, pattern: str, timeout: float
) -> str:
    """Wait (off the event loop) for a simulator log line; return the match."""
    match = await hass.async_add_executor_job(sim.wait_for_log, pattern, timeout)
    return str(match.group(0))


async def async_add_voice_device(
    hass: HomeAssistant,
    start_sim: Callable[..., Any],
    tmp_path: Path,
    *extra_args: str,
    **sim_kwargs: Any,
) -> VoiceDevice:
    """Start a simulator recording its speaker and add it like a user would."""
    from homeassistant.helpers import entity_registry as er  # noqa: PLC0415

    from tests.e2e.test_voice_turn import add_device  # noqa: PLC0415

    speaker = tmp_path / "speaker.wav"
    metrics = tmp_path / "metrics.json"
    sim = start_sim(
        encrypted=True,
        extra_args=[
            "--speaker-wav", str(speaker), "--metrics-json", str(metrics), *extra_args
        ],
        **sim_kwargs,
    )  # fmt: skip
    entry_id = await add_device(hass, sim)
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry_id)
    satellite_id = next(e.entity_id for e in entities if e.domain == "assist_satellite")
    return VoiceDevice(sim, entry_id, satellite_id, speaker, metrics)
