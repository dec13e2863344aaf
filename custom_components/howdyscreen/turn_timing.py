"""Per-turn timings of a voice turn, measured from the pipeline's own events.

A turn starts at the wake (the device's VoiceAssistantRequest when it woke on
its own, or Home Assistant's `wake_word-end` when HA's wake word engine heard
it) and ends when the device reports that the reply finished playing (or at
`run-end` when there is no reply).  The satellite marks the moments as they
happen, on Home Assistant's monotonic clock; the figures are published once,
when the turn ends, so each sensor changes once per turn and its history
charts one point per turn.

A figure the turn did not produce (no reply, an error before the transcript)
is published as unknown rather than as 0 or as the previous turn's value:
a chart must not show a measurement that was never made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import time
from typing import Final

from homeassistant.core import CALLBACK_TYPE, callback

# The moments of a turn, in the order they normally happen.
WAKE: Final = "wake"
LISTENING: Final = "listening"
SPEECH_END: Final = "speech_end"
TRANSCRIPT: Final = "transcript"
INTENT_START: Final = "intent_start"
INTENT_END: Final = "intent_end"
FIRST_CHUNK_SENT: Final = "first_chunk_sent"
FIRST_SAMPLE_PLAYED: Final = "first_sample_played"
END: Final = "end"


@dataclass(frozen=True, slots=True)
class TimingDescription:
    """One published figure: the span between two moments of a turn."""

    key: str
    start: str
    stop: str


# The sensors, by translation key.  "speech end -> first sample played" is
# Home Assistant's "speech end -> first chunk sent" plus the device's own
# measurement for that reply: its `reply_start_latency` sensor (arrival of the
# reply's first chunk -> first sample consumed by the output tick), pushed
# when that reply starts playing.  The network's one-way delay between the
# two is not included (on a LAN, about a millisecond).
TIMINGS: Final = (
    TimingDescription("turn_wake_to_listening", WAKE, LISTENING),
    TimingDescription("turn_speech_to_transcript", SPEECH_END, TRANSCRIPT),
    TimingDescription("turn_intent", INTENT_START, INTENT_END),
    TimingDescription("turn_speech_to_first_chunk", SPEECH_END, FIRST_CHUNK_SENT),
    TimingDescription("turn_speech_to_first_sample", SPEECH_END, FIRST_SAMPLE_PLAYED),
    TimingDescription("turn_total", WAKE, END),
)

type TurnResult = dict[str, float | None]


@dataclass
class TurnTimer:
    """Collects the moments of the current turn and publishes its figures."""

    clock: Callable[[], float] = time.monotonic
    last: TurnResult = field(default_factory=dict)
    _marks: dict[str, float] = field(default_factory=dict)
    _listeners: list[CALLBACK_TYPE] = field(default_factory=list)

    @property
    def in_turn(self) -> bool:
        """Whether a turn has started and not been published yet."""
        return WAKE in self._marks

    @callback
    def start(self) -> None:
        """Begin a new turn at a wake (an unfinished one is dropped)."""
        self._marks = {WAKE: self.clock()}

    @callback
    def mark(self, moment: str, *, first: bool = True) -> None:
        """Note a moment of the current turn.

        With `first` (the default) a moment that already happened keeps its
        first time: speech ends once, even if both the device and the VAD say
        so.  Moments outside a turn are ignored.
        """
        if not self.in_turn or (first and moment in self._marks):
            return
        self._marks[moment] = self.clock()

    @callback
    def mark_after(self, moment: str, base: str, seconds: float) -> None:
        """Note a moment as `seconds` after an earlier one of this turn.

        For what another clock measured: the device reports how long after
        the first chunk reached it the first sample played.  A later report
        for the same turn replaces an earlier one.
        """
        if self.in_turn and base in self._marks:
            self._marks[moment] = self._marks[base] + seconds

    @callback
    def discard(self) -> None:
        """Forget the current turn without publishing it (no wake after all)."""
        self._marks = {}

    @callback
    def finish(self) -> None:
        """End the turn and publish its figures, once."""
        if not self.in_turn:
            return
        self.mark(END)
        marks = self._marks
        self._marks = {}
        self.last = {
            timing.key: _span_ms(marks, timing.start, timing.stop) for timing in TIMINGS
        }
        for listener in list(self._listeners):
            listener()

    @callback
    def async_subscribe(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call listener after every published turn."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)


def _span_ms(marks: dict[str, float], start: str, stop: str) -> float | None:
    if start not in marks or stop not in marks:
        return None
    return round((marks[stop] - marks[start]) * 1000.0, 1)
