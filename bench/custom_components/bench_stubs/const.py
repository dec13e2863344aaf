"""Settings of the benchmark stubs, shared by their platforms."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .feeder import Feeder

DOMAIN = "bench_stubs"

STT_ENTITY_ID = "stt.bench_stt"
TTS_ENTITY_ID = "tts.bench_tts"
WAKE_WORD_ENTITY_ID = "wake_word.bench_wake_word"
AGENT_ENTITY_ID = "conversation.bench_agent"


@dataclass
class StubSettings:
    """Fixed, known latencies and outputs of the stub engines.

    Everything here can be given in configuration.yaml under ``bench_stubs:``
    and changed at run time with the websocket command
    ``bench_stubs/configure``.
    """

    # Speech-to-text: the transcript, returned this long after the end of
    # the audio stream.
    stt_latency_ms: float = 300.0
    transcript: str = "what time is it"
    # Conversation agent: answers this long after the question; with
    # agent_stream_seconds > 0 (and a Home Assistant that streams agents) the
    # reply is yielded in agent_stream_pieces pieces spread over that time.
    agent_latency_ms: float = 500.0
    agent_stream_seconds: float = 0.0
    agent_stream_pieces: int = 8
    reply_text: str = "It is a quarter past ten."
    # True: the agent numbers its replies ("... (reply 7)"), so that no two
    # replies share a text and Home Assistant's TTS cache never answers.
    reply_serial: bool = False
    # Text-to-speech: first bytes this long after the first text, then audio
    # at tts_speed x real time in chunks of tts_chunk_ms, tts_seconds long
    # (a "[[seconds=X]]" marker in the text overrides it).
    tts_first_byte_ms: float = 150.0
    tts_rate: int = 22050
    tts_seconds: float = 3.0
    tts_speed: float = 4.0
    tts_chunk_ms: float = 100.0

    def update(self, values: dict[str, Any]) -> None:
        """Apply known keys (with their types); unknown keys are an error."""
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise KeyError(f"unknown bench_stubs setting {key}")
            current = getattr(self, key)
            setattr(self, key, type(current)(value))

    def as_dict(self) -> dict[str, Any]:
        """Current settings."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class StubStats:
    """What the stubs saw; read with the websocket command bench_stubs/stats."""

    wake_streams_started: int = 0
    wake_streams_active: int = 0
    wake_audio_bytes: int = 0
    wake_audio_chunks: int = 0
    stt_streams: int = 0
    stt_audio_bytes: int = 0
    agent_calls: int = 0
    tts_streams: int = 0
    # The latest speech-to-text stream, chunk by chunk: [arrival time
    # (time.monotonic()), byte offset in the stream, length, CRC-32 of the
    # bytes], and its first bytes (hex), so the microphone-path benchmark can
    # match every frame to the moment the device captured it.
    stt_chunks: list[list[float | int]] = field(default_factory=list)
    stt_head: str = ""
    # Monotonic timestamps (time.monotonic() in Home Assistant's process) of
    # the latest events, for the turn-overhead benchmarks.
    events: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counters (and the recent events)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class StubData:
    """hass.data[DOMAIN]."""

    settings: StubSettings
    stats: StubStats = field(default_factory=StubStats)
    feeder: Feeder | None = None

    def event(self, kind: str, **extra: Any) -> None:
        """Record a timestamped event (the last 200 are kept)."""
        self.stats.events.append({"kind": kind, "t": time.monotonic(), **extra})
        del self.stats.events[:-200]
