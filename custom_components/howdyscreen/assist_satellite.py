"""The Assist satellite of a HowdyScreen.

The device asks for a pipeline run with a VoiceAssistantRequest and streams
its microphone inside the API connection; this entity runs the Assist
pipeline on that audio, mirrors every pipeline event to the device, and
streams the spoken reply back through the pooled reply streamer.  The reply
starts as early as Home Assistant allows: at `intent-progress` with
`tts_start_streaming` (Home Assistant 2025.5 and newer, while the agent is
still writing), otherwise at `tts-end`.  The device says when the reply has
finished *playing* (AnnounceFinished); only then is the satellite idle again.

Messages, in order (docs/protocol.md has the device's side):

    device -> HA  VoiceAssistantRequest(start, flags, wake_word_phrase)
    HA -> device  VoiceAssistantResponse(port=0)       (audio stays in the API)
    device -> HA  VoiceAssistantAudio(data)...         (16 kHz s16le mono)
    HA -> device  VoiceAssistantEventResponse: RUN_START, [WAKE_WORD_START,
                  WAKE_WORD_END], STT_START, STT_VAD_START, STT_VAD_END,
                  STT_END{text}, INTENT_START, [INTENT_PROGRESS
                  {tts_start_streaming=1}], INTENT_END{conversation_id,
                  continue_conversation, speech}, TTS_START{text}, TTS_END,
                  RUN_END; ERROR{code, message} instead of the rest on failure
    device -> HA  VoiceAssistantAudio(end) when it stops listening
    HA -> device  TTS_STREAM_START, VoiceAssistantAudio(<= 1 slot) ...,
                  VoiceAssistantAudio(end), TTS_STREAM_END
    device -> HA  VoiceAssistantAnnounceFinished once the last sample played

Announcements replace TTS_STREAM_START by VoiceAssistantAnnounceRequest
(text, start_conversation; no media URL: the audio follows in the API).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable
import contextlib
import logging
from typing import Any, Final

from aioesphomeapi import (
    APIConnectionError,
    SensorState,
    VoiceAssistantAnnounceFinished,
    VoiceAssistantAudioSettings,
    VoiceAssistantCommandFlag,
    VoiceAssistantEventType,
    VoiceAssistantFeature,
    VoiceAssistantTimerEventType,
)
from aioesphomeapi.api_pb2 import (  # type: ignore[attr-defined]
    VoiceAssistantAudio as VoiceAssistantAudioMessage,
)
from homeassistant.components import tts
from homeassistant.components.assist_pipeline import (  # type: ignore[attr-defined]
    PipelineEvent,
    PipelineEventType,
    PipelineStage,
)
from homeassistant.components.assist_satellite import (
    AssistSatelliteAnnouncement,
    AssistSatelliteConfiguration,
    AssistSatelliteEntity,
    AssistSatelliteEntityFeature,
)
from homeassistant.components.assist_satellite.entity import AssistSatelliteState
from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.components.intent import (
    TimerEventType,
    TimerInfo,
    async_register_timer_handler,
)
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from . import turn_timing
from .announce_media import MediaFetchError, async_announcement_audio, async_open_media
from .const import DOMAIN
from .device import HowdyScreenConfigEntry, HowdyScreenDevice
from .reply_streamer import (
    DeviceDisconnected,
    PoolGeometry,
    ReplyResult,
    ReplyStreamer,
    ReplyStreamError,
)
from .voice import VoiceRuntime

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0

# Microphone audio waiting for the pipeline: 20 ms packets, so 10 s.  A
# pipeline that stops reading (a stuck STT) must not grow memory without end.
# The device's sensor for a reply's start: first chunk in -> first sample out.
REPLY_START_LATENCY: Final = "reply_start_latency"
AUDIO_QUEUE_PACKETS: Final = 500
# Wait for AnnounceFinished after a reply that failed half-way: what was sent
# still plays out, bounded by its duration plus this margin.
FAILED_REPLY_MARGIN: Final = 2.0
# Upper bound of an announcement request's life in aioesphomeapi; the real
# bound is the reply streamer's, derived from the audio's duration.
ANNOUNCE_REQUEST_TIMEOUT: Final = 30 * 60.0

_EVENTS: Final[dict[PipelineEventType, VoiceAssistantEventType]] = {
    PipelineEventType.RUN_START: VoiceAssistantEventType.VOICE_ASSISTANT_RUN_START,
    PipelineEventType.RUN_END: VoiceAssistantEventType.VOICE_ASSISTANT_RUN_END,
    PipelineEventType.WAKE_WORD_START: (
        VoiceAssistantEventType.VOICE_ASSISTANT_WAKE_WORD_START
    ),
    PipelineEventType.WAKE_WORD_END: VoiceAssistantEventType.VOICE_ASSISTANT_WAKE_WORD_END,
    PipelineEventType.STT_START: VoiceAssistantEventType.VOICE_ASSISTANT_STT_START,
    PipelineEventType.STT_VAD_START: VoiceAssistantEventType.VOICE_ASSISTANT_STT_VAD_START,
    PipelineEventType.STT_VAD_END: VoiceAssistantEventType.VOICE_ASSISTANT_STT_VAD_END,
    PipelineEventType.STT_END: VoiceAssistantEventType.VOICE_ASSISTANT_STT_END,
    PipelineEventType.INTENT_START: VoiceAssistantEventType.VOICE_ASSISTANT_INTENT_START,
    PipelineEventType.INTENT_END: VoiceAssistantEventType.VOICE_ASSISTANT_INTENT_END,
    PipelineEventType.TTS_START: VoiceAssistantEventType.VOICE_ASSISTANT_TTS_START,
    PipelineEventType.TTS_END: VoiceAssistantEventType.VOICE_ASSISTANT_TTS_END,
    PipelineEventType.ERROR: VoiceAssistantEventType.VOICE_ASSISTANT_ERROR,
}
# aioesphomeapi 29.x has no INTENT_PROGRESS event type; newer releases do.
# Without it the device simply learns of the early reply from
# TTS_STREAM_START, which it needs anyway.
_INTENT_PROGRESS: Final = getattr(
    VoiceAssistantEventType, "VOICE_ASSISTANT_INTENT_PROGRESS", None
)

_TIMER_EVENTS: Final = {
    TimerEventType.STARTED: VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_STARTED,
    TimerEventType.UPDATED: VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_UPDATED,
    TimerEventType.CANCELLED: (
        VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_CANCELLED
    ),
    TimerEventType.FINISHED: VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_FINISHED,
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HowdyScreenConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the satellite (this platform is only loaded for voice devices)."""
    device = entry.runtime_data
    assert device.voice is not None
    async_add_entities([HowdyScreenAssistSatellite(device, device.voice)])


class HowdyScreenAssistSatellite(AssistSatelliteEntity):
    """A HowdyScreen as an Assist satellite."""

    _attr_has_entity_name = True
    _attr_name = None

    def __init__(self, device: HowdyScreenDevice, voice: VoiceRuntime) -> None:
        """Describe the satellite from the device's voice features."""
        self._device = device
        self._voice = voice
        self._attr_unique_id = f"{device.mac}-assist_satellite"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, device.mac)})
        # The engine's own WAV, nothing more: asking for a sample rate or a
        # channel count routes the reply through Home Assistant's ffmpeg
        # conversion, which holds it back until the whole reply is
        # synthesized.  The reply streamer converts it as it arrives.
        self._attr_tts_options = {tts.ATTR_PREFERRED_FORMAT: "wav"}
        features = AssistSatelliteEntityFeature(0)
        if voice.has(VoiceAssistantFeature.ANNOUNCE):
            features |= AssistSatelliteEntityFeature.ANNOUNCE
        start_conversation = getattr(
            AssistSatelliteEntityFeature, "START_CONVERSATION", None
        )
        if start_conversation is not None and voice.has(
            VoiceAssistantFeature.START_CONVERSATION
        ):
            features |= start_conversation
        self._attr_supported_features = features

        self._unsubscribe_voice: Any = None
        self._unsubscribe_reply_start: CALLBACK_TYPE | None = None
        # The pipeline run the device asked for, and the audio it reads.
        self._run_task: asyncio.Task[None] | None = None
        self._audio: asyncio.Queue[bytes] | None = None
        self._audio_dropped = 0
        # The reply of the current run.
        self._tts_token: str | None = None
        self._reply_task: asyncio.Task[None] | None = None
        # Completes with AnnounceFinished.success for the stream the device
        # is playing for us (a reply or an announcement).
        self._playback: asyncio.Future[bool] | None = None
        # AnnounceFinished messages still owed for streams we abandoned: the
        # device sends one for every stream it opened, aborted ones included,
        # and those must not end the stream that replaced them.
        self._stale_finishes = 0
        # Whether the run sent RUN_END, and whether its reply has played.
        self._run_ended = False
        self._reply_started = False
        self._reply_played = False

    # Entity life cycle ------------------------------------------------------

    @property
    def available(self) -> bool:
        """Available while the device is connected."""
        return self._device.available

    async def async_added_to_hass(self) -> None:
        """Subscribe to the device's voice assistant and its timers."""
        await super().async_added_to_hass()
        if self._voice.has(VoiceAssistantFeature.TIMERS) and (
            self.registry_entry is not None and self.registry_entry.device_id
        ):
            self.async_on_remove(
                async_register_timer_handler(
                    self.hass, self.registry_entry.device_id, self._on_timer_event
                )
            )
        self.async_on_remove(
            self._device.async_subscribe_availability(self._on_availability)
        )
        self.async_on_remove(self._on_link_down)
        if self._device.available:
            self._on_link_up()

    @callback
    def _on_availability(self) -> None:
        if self._device.available:
            self._on_link_up()
        else:
            self._on_link_down()
        self.async_write_ha_state()

    @callback
    def _on_link_up(self) -> None:
        if self._unsubscribe_voice is not None:
            return
        self._follow_reply_start_latency()
        self._unsubscribe_voice = self._device.client.subscribe_voice_assistant(
            handle_start=self._handle_start,
            handle_stop=self._handle_stop,
            handle_audio=self._handle_audio,
            handle_announcement_finished=self._handle_announcement_finished,
        )
        self._device.entry.async_create_background_task(
            self.hass,
            self._voice.async_refresh_config(),
            f"{self.entity_id} wake word configuration",
        )

    def _follow_reply_start_latency(self) -> None:
        """Listen for the device's per-reply start latency (firmware that has it)."""
        if self._unsubscribe_reply_start is not None:
            self._unsubscribe_reply_start()
            self._unsubscribe_reply_start = None
        key = next(
            (
                info.key
                for info in self._device.entity_infos.values()
                if info.object_id == REPLY_START_LATENCY
            ),
            None,
        )
        if key is None:
            return

        @callback
        def on_report() -> None:
            state = self._device.states.get(key)
            if isinstance(state, SensorState) and not state.missing_state:
                self._voice.timer.mark_after(
                    turn_timing.FIRST_SAMPLE_PLAYED,
                    turn_timing.FIRST_CHUNK_SENT,
                    state.state / 1000.0,
                )

        self._unsubscribe_reply_start = self._device.async_subscribe_state(
            key, on_report
        )

    @callback
    def _on_link_down(self) -> None:
        """End everything of a device that went away (or of an entity that goes)."""
        if self._unsubscribe_voice is not None:
            # On a lost link the client has already dropped the connection and
            # this only forgets the callbacks; on unload it also tells the
            # device.
            self._unsubscribe_voice()
            self._unsubscribe_voice = None
        if self._unsubscribe_reply_start is not None:
            self._unsubscribe_reply_start()
            self._unsubscribe_reply_start = None
        # The device keeps nothing of a connection it lost: no AnnounceFinished
        # will come for anything it was playing.
        self._stale_finishes = 0
        self._resolve_playback(False)
        self._cancel_reply()
        self._end_run(abort=True)
        self._voice.timer.discard()
        if self.state != AssistSatelliteState.IDLE:
            self._set_state(AssistSatelliteState.IDLE)

    @property
    def pipeline_entity_id(self) -> str | None:
        """The device's pipeline select (looked up each time: it may come later)."""
        return self._select_entity_id("pipeline")

    @property
    def vad_sensitivity_entity_id(self) -> str | None:
        """The device's "finished speaking detection" select."""
        return self._select_entity_id("vad_sensitivity")

    def _select_entity_id(self, key: str) -> str | None:
        return er.async_get(self.hass).async_get_entity_id(
            Platform.SELECT, DOMAIN, f"{self._device.mac}-{key}"
        )

    # Wake word configuration ----------------------------------------------

    @callback
    def async_get_configuration(self) -> AssistSatelliteConfiguration:
        """Return the device's wake words, as it last reported them."""
        return self._voice.config

    async def async_set_configuration(
        self, config: AssistSatelliteConfiguration
    ) -> None:
        """Make the device listen for the chosen wake words."""
        try:
            await self._voice.async_set_active_wake_words(
                list(config.active_wake_words)
            )
        except APIConnectionError as err:
            raise _unreachable(err) from err

    # The device's requests ------------------------------------------------

    async def _handle_start(
        self,
        conversation_id: str,
        flags: int,
        audio_settings: VoiceAssistantAudioSettings,
        wake_word_phrase: str | None,
    ) -> int | None:
        """Start a pipeline run on the device's audio; 0 = audio over the API."""
        # A new request is a barge-in: whatever was playing or running ends.
        self._cancel_reply()
        self._end_run(abort=True)
        self._audio = asyncio.Queue(AUDIO_QUEUE_PACKETS)
        self._audio_dropped = 0
        self._tts_token = None
        self._run_ended = False
        self._reply_started = False
        self._reply_played = False
        if flags & VoiceAssistantCommandFlag.USE_WAKE_WORD:
            # The device streams for Home Assistant's wake word engine: the
            # turn begins when that engine hears the wake word.
            start_stage = PipelineStage.WAKE_WORD
            self._voice.timer.discard()
        else:
            # The device woke (wake word on the device, touch, follow-up).
            start_stage = PipelineStage.STT
            self._voice.timer.start()
        _LOGGER.debug(
            "%s: pipeline from %s (wake word %r)",
            self.entity_id,
            start_stage,
            wake_word_phrase,
        )
        self._run_task = self._device.entry.async_create_background_task(
            self.hass,
            self._async_run(self._audio, start_stage, wake_word_phrase),
            f"{self.entity_id} pipeline",
        )
        return 0

    async def _async_run(
        self,
        audio: asyncio.Queue[bytes],
        start_stage: PipelineStage,
        wake_word_phrase: str | None,
    ) -> None:
        try:
            await self.async_accept_pipeline_from_satellite(
                self._audio_stream(audio),
                start_stage=start_stage,
                wake_word_phrase=wake_word_phrase,
            )
        except HomeAssistantError as err:
            # A pipeline that cannot run (deleted, misconfigured) is the
            # user's to fix; the device learns of it as an error event.
            _LOGGER.warning("%s: cannot run the pipeline: %s", self.entity_id, err)
            self._send_event(
                VoiceAssistantEventType.VOICE_ASSISTANT_ERROR,
                {"code": "pipeline-failed", "message": str(err)},
            )
            self._send_event(VoiceAssistantEventType.VOICE_ASSISTANT_RUN_END, {})
            self._set_state(AssistSatelliteState.IDLE)
            self._voice.timer.discard()
        finally:
            if self._audio is audio:
                self._audio = None

    @staticmethod
    async def _audio_stream(audio: asyncio.Queue[bytes]) -> AsyncGenerator[bytes]:
        """Yield the device's microphone for the pipeline, until the empty sentinel."""
        while chunk := await audio.get():
            yield chunk

    async def _handle_audio(self, data: bytes, data2: bytes | None = None) -> None:
        """One microphone packet (aioesphomeapi 46 adds a second channel)."""
        audio = self._audio
        if audio is None or not data:
            return
        try:
            audio.put_nowait(data)
        except asyncio.QueueFull:
            self._audio_dropped += 1
            if self._audio_dropped == 1:
                _LOGGER.warning(
                    "%s: the pipeline is not reading the microphone; dropping audio",
                    self.entity_id,
                )

    async def _handle_stop(self, abort: bool) -> None:
        """End the audio (the device stopped listening) or the run (it gave up)."""
        if not abort:
            self._voice.timer.mark(turn_timing.SPEECH_END)
        self._end_run(abort=abort)
        if abort and self._reply_task is None:
            self._voice.timer.discard()
            if self.state != AssistSatelliteState.IDLE:
                self._set_state(AssistSatelliteState.IDLE)

    def _end_run(self, *, abort: bool) -> None:
        """End the microphone stream; on abort, the run too."""
        audio = self._audio
        if audio is not None:
            # The sentinel must get in even when the queue is full.
            while True:
                try:
                    audio.put_nowait(b"")
                    break
                except asyncio.QueueFull:
                    audio.get_nowait()
            self._audio = None
        if abort and self._run_task is not None:
            self._run_task.cancel()
        if abort:
            self._run_task = None

    async def _handle_announcement_finished(
        self, finished: VoiceAssistantAnnounceFinished
    ) -> None:
        """Note that the device finished playing a stream (reply or announcement)."""
        if self._stale_finishes:
            self._stale_finishes -= 1
            return
        if not self._resolve_playback(finished.success):
            _LOGGER.debug("%s: AnnounceFinished for no stream", self.entity_id)

    def _resolve_playback(self, success: bool) -> bool:
        playback = self._playback
        if playback is None or playback.done():
            return False
        playback.set_result(success)
        return True

    # Pipeline events -------------------------------------------------------

    def on_pipeline_event(self, event: PipelineEvent) -> None:  # noqa: PLR0912
        """Mirror a pipeline event to the device; start the reply early."""
        data = event.data or {}
        timer = self._voice.timer
        event_type = _EVENTS.get(event.type)
        payload: dict[str, str] = {}
        reply_token: str | None = None
        match event.type:
            case PipelineEventType.RUN_START:
                self._tts_token = (data.get("tts_output") or {}).get("token")
            case PipelineEventType.WAKE_WORD_END:
                if not data.get("wake_word_output"):
                    event_type = VoiceAssistantEventType.VOICE_ASSISTANT_ERROR
                    payload = {
                        "code": "no_wake_word",
                        "message": "No wake word detected",
                    }
                else:
                    timer.start()
            case PipelineEventType.STT_START:
                timer.mark(turn_timing.LISTENING)
            case PipelineEventType.STT_VAD_END:
                timer.mark(turn_timing.SPEECH_END)
            case PipelineEventType.STT_END:
                timer.mark(turn_timing.SPEECH_END)
                timer.mark(turn_timing.TRANSCRIPT)
                payload = {"text": (data.get("stt_output") or {}).get("text", "")}
            case PipelineEventType.INTENT_START:
                timer.mark(turn_timing.INTENT_START)
            case PipelineEventType.INTENT_PROGRESS:
                if not data.get("tts_start_streaming"):
                    # Text deltas are for the UI; the device shows the final
                    # text from TTS_START.
                    return
                reply_token = self._tts_token
                event_type = _INTENT_PROGRESS
                payload = {"tts_start_streaming": "1"}
            case PipelineEventType.INTENT_END:
                timer.mark(turn_timing.INTENT_END)
                output = data.get("intent_output") or {}
                speech = (
                    (output.get("response") or {})
                    .get("speech", {})
                    .get("plain", {})
                    .get("speech", "")
                )
                payload = {
                    "conversation_id": output.get("conversation_id") or "",
                    "continue_conversation": str(
                        int(bool(output.get("continue_conversation")))
                    ),
                    "speech": speech,
                }
            case PipelineEventType.TTS_START:
                payload = {"text": data.get("tts_input", "")}
            case PipelineEventType.TTS_END:
                reply_token = (data.get("tts_output") or {}).get(
                    "token"
                ) or self._tts_token
            case PipelineEventType.ERROR:
                payload = {
                    "code": str(data.get("code", "")),
                    "message": str(data.get("message", "")),
                }
                # The device drops a reply it is playing on an error; stop
                # feeding it.
                self._cancel_reply()
            case PipelineEventType.RUN_END:
                self._run_ended = True
                if self._reply_task is None:
                    # No reply to wait for (or it has played already, which a
                    # streamed reply can do before the run ends): the turn
                    # ends here.
                    self._turn_done(played=self._reply_played)
        if event_type is not None:
            self._send_event(event_type, payload)
        if reply_token is not None:
            # After the event, so the device hears of the reply in order.
            self._start_reply(reply_token)

    def _send_event(
        self, event_type: VoiceAssistantEventType, data: dict[str, str]
    ) -> None:
        try:
            self._device.client.send_voice_assistant_event(event_type, data)
        except APIConnectionError as err:
            # The device went away; the link's disconnect ends the run.
            _LOGGER.debug("%s: event %s not sent: %s", self.entity_id, event_type, err)

    # The reply ------------------------------------------------------------

    def _start_reply(self, token: str | None) -> None:
        """Stream the run's TTS to the device, once per run."""
        if self._reply_started or token is None:
            return
        if (stream := tts.async_get_stream(self.hass, token)) is None:
            _LOGGER.debug("%s: TTS stream %s is gone", self.entity_id, token)
            return
        self._reply_started = True
        self._reply_task = self._device.entry.async_create_background_task(
            self.hass, self._async_play_reply(stream), f"{self.entity_id} reply"
        )

    async def _async_play_reply(self, stream: tts.ResultStream) -> None:
        """Send the reply, then wait until the device has played it."""
        playback = self._new_playback()
        result: ReplyResult | None = None
        try:
            self._device.client.send_voice_assistant_event(
                VoiceAssistantEventType.VOICE_ASSISTANT_TTS_STREAM_START, {}
            )
            result = await self._streamer(pipeline=True).async_stream(
                stream.async_stream_result(), stream.extension, playback
            )
        except (DeviceDisconnected, APIConnectionError) as err:
            # The link's disconnect handling puts the satellite back to idle.
            _LOGGER.debug("%s: device went away mid-reply: %s", self.entity_id, err)
            return
        except ReplyStreamError as err:
            _LOGGER.warning("%s: reply cut short: %s", self.entity_id, err)
            # What was sent still plays; the device reports its end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(
                    err.result.audio_seconds + FAILED_REPLY_MARGIN
                ):
                    await playback
        if result is not None and result.timed_out:
            _LOGGER.warning(
                "%s: the device did not report the end of the reply (%.1f s)",
                self.entity_id,
                result.audio_seconds,
            )
        if self._playback is playback:
            self._playback = None
        if self._reply_task is asyncio.current_task():
            self._reply_task = None
        self._reply_played = True
        if self._run_ended:
            self._turn_done(played=True)

    def _turn_done(self, *, played: bool) -> None:
        """End the turn: the run has ended and its reply (if any) has played."""
        self._voice.timer.finish()
        if played:
            self.tts_response_finished()
        elif self.state == AssistSatelliteState.RESPONDING:
            # TTS started but nothing reached the device (no stream, error).
            self._set_state(AssistSatelliteState.IDLE)

    def _new_playback(self) -> asyncio.Future[bool]:
        if self._playback is not None and not self._playback.done():
            self._stale_finishes += 1
        self._playback = self.hass.loop.create_future()
        return self._playback

    def _cancel_reply(self) -> None:
        """Abandon the reply in flight (barge-in, error, disconnect)."""
        if self._reply_task is None:
            return
        if self._playback is not None and not self._playback.done():
            # The device opened that stream and still owes its AnnounceFinished.
            self._stale_finishes += 1
            self._playback.cancel()
        self._playback = None
        self._reply_task.cancel()
        self._reply_task = None

    def _streamer(self, *, pipeline: bool) -> ReplyStreamer:
        client = self._device.client
        timer = self._voice.timer

        async def send_chunk(chunk: bytes) -> None:
            client.send_voice_assistant_audio(chunk)
            if pipeline:
                timer.mark(turn_timing.FIRST_CHUNK_SENT)
                if self.state != AssistSatelliteState.RESPONDING:
                    # Streaming replies start while the agent still writes;
                    # the device is speaking, whatever stage the run is in.
                    self._set_state(AssistSatelliteState.RESPONDING)

        async def send_end() -> None:
            _send_audio_end(self._device)
            client.send_voice_assistant_event(
                VoiceAssistantEventType.VOICE_ASSISTANT_TTS_STREAM_END, {}
            )

        slot_bytes, slots = self._voice.pool_geometry()
        return ReplyStreamer(
            send_chunk=send_chunk,
            send_end=send_end,
            geometry=PoolGeometry(slot_bytes=slot_bytes, slots=slots),
            ffmpeg_binary=get_ffmpeg_manager(self.hass).binary,
        )

    # Announcements --------------------------------------------------------

    async def async_announce(self, announcement: AssistSatelliteAnnouncement) -> None:
        """Play an announcement; return once the device has played it."""
        await self._async_announce(announcement, start_conversation=False)

    async def async_start_conversation(
        self, start_announcement: AssistSatelliteAnnouncement
    ) -> None:
        """Play the opening, then let the device listen for the answer."""
        await self._async_announce(start_announcement, start_conversation=True)

    async def _async_announce(
        self, announcement: AssistSatelliteAnnouncement, *, start_conversation: bool
    ) -> None:
        if not self._device.available:
            raise _unreachable(None)
        # One stream at a time: an announcement ends a reply still playing.
        self._cancel_reply()
        parts: list[tuple[AsyncIterable[bytes], str]] = []
        if announcement.preannounce_media_id:
            parts.append(
                (
                    async_open_media(self.hass, announcement.preannounce_media_id),
                    _extension(announcement.preannounce_media_id),
                )
            )
        stream = (
            tts.async_get_stream(self.hass, announcement.tts_token)
            if announcement.media_id_source == "tts" and announcement.tts_token
            else None
        )
        if stream is not None:
            parts.append((stream.async_stream_result(), stream.extension))
        else:
            parts.append(
                (
                    async_open_media(self.hass, announcement.media_id),
                    _extension(announcement.media_id),
                )
            )
        playback = self._new_playback()
        client = self._device.client
        # Started eagerly so the request is on the wire before the first chunk.
        request = asyncio.Task(
            client.send_voice_assistant_announcement_await_response(
                "",
                ANNOUNCE_REQUEST_TIMEOUT,
                announcement.message,
                start_conversation=start_conversation,
            ),
            loop=self.hass.loop,
            eager_start=True,
        )
        try:
            ffmpeg = get_ffmpeg_manager(self.hass).binary
            result = await self._streamer(pipeline=False).async_stream(
                async_announcement_audio(parts, ffmpeg), "wav", playback
            )
        except DeviceDisconnected as err:
            raise _unreachable(err) from err
        except ReplyStreamError as err:
            cause = err.__cause__
            if isinstance(cause, MediaFetchError):
                raise HomeAssistantError(str(cause)) from err
            raise HomeAssistantError(f"Announcement failed: {err}") from err
        finally:
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await request
            if self._playback is playback:
                self._playback = None
        if result.timed_out:
            _LOGGER.warning(
                "%s: the device did not report the end of the announcement",
                self.entity_id,
            )

    # Timers ---------------------------------------------------------------

    @callback
    def _on_timer_event(self, event_type: TimerEventType, timer: TimerInfo) -> None:
        """Show a timer that was set by voice on the device."""
        try:
            self._device.client.send_voice_assistant_timer_event(
                _TIMER_EVENTS[event_type],
                timer.id,
                timer.name,
                timer.created_seconds,
                timer.seconds_left,
                timer.is_active,
            )
        except APIConnectionError as err:
            _LOGGER.debug(
                "%s: timer %s event not sent: %s", self.entity_id, timer.id, err
            )


def _send_audio_end(device: HowdyScreenDevice) -> None:
    """Send the end marker of a reply stream (VoiceAssistantAudio with end set).

    aioesphomeapi sends audio only without the flag, so the message goes out
    on the client's connection directly; a client without that seam still
    ends pipeline replies with TTS_STREAM_END, which the device also accepts.
    """
    get_connection = getattr(device.client, "_get_connection", None)
    if get_connection is None:
        return
    get_connection().send_message(VoiceAssistantAudioMessage(end=True))


def _extension(url: str) -> str:
    """Return the file extension of a URL's path, a hint for the decoder."""
    path = url.split("?", 1)[0]
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _unreachable(err: Exception | None) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="device_unreachable",
        translation_placeholders={"error": str(err) if err else "not connected"},
    )
