"""The voice session of howdyscreen-sim against aioesphomeapi's real client.

The test plays Home Assistant: it subscribes with subscribe_voice_assistant,
answers the device's VoiceAssistantRequest, sends pipeline events, streams
reply audio paced to the device's pool and checks what comes back: the
microphone audio (against the WAV fed to the simulator), the speaker output
(the WAV the simulator records), AnnounceFinished and the metrics JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import json
from pathlib import Path
import random
import struct
import time
from typing import Any
import wave

from aioesphomeapi import (
    APIClient,
    VoiceAssistantEventType,
    VoiceAssistantTimerEventType,
)
from aioesphomeapi.api_pb2 import VoiceAssistantAudio  # type: ignore[attr-defined]
import pytest

from tests.simulator import Simulator

RATE = 16000
SLOT_BYTES = 1024  # the reference pool geometry (audio_pool_slot_bytes)
SLOTS = 16  # audio_pool_slots
SLOT_S = SLOT_BYTES / 2 / RATE  # 32 ms
PREROLL_BYTES = 300 * RATE // 1000 * 2
VOLUME_KEY = 0x2EE0698F  # fnv1a("volume")
EV = VoiceAssistantEventType


def noise(seconds: float, seed: int, amplitude: int = 20000) -> bytes:
    """Reproducible white noise, s16le."""
    rng = random.Random(seed)  # noqa: S311  (test signal, not a secret)
    n = int(seconds * RATE)
    return struct.pack(
        f"<{n}h", *(rng.randint(-amplitude, amplitude) for _ in range(n))
    )


def write_wav(path: Path, pcm: bytes) -> None:
    """16 kHz s16le mono WAV."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)


def read_wav(path: Path) -> bytes:
    """The PCM of a WAV the simulator wrote."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        return w.readframes(w.getnframes())


class Satellite:
    """What a Home Assistant satellite entity records from the device."""

    def __init__(self) -> None:
        self.starts: asyncio.Queue[tuple[str, int, str | None]] = asyncio.Queue()
        self.stops: list[bool] = []
        self.audio = bytearray()
        self.audio_end = asyncio.Event()
        self.aborted = asyncio.Event()
        self.finished: asyncio.Queue[tuple[float, bool]] = asyncio.Queue()

    async def handle_start(
        self, conversation_id: str, flags: int, settings: Any, phrase: str | None
    ) -> int | None:
        self.audio.clear()
        self.audio_end.clear()
        self.starts.put_nowait((conversation_id, flags, phrase))
        return 0  # port 0: audio inside the API connection

    async def handle_stop(self, abort: bool) -> None:
        self.stops.append(abort)
        (self.aborted if abort else self.audio_end).set()

    async def handle_audio(self, data: bytes, *_: Any) -> None:
        # aioesphomeapi 46 passes a second buffer (data2), 29 does not.
        self.audio += data

    async def handle_finished(self, msg: Any) -> None:
        self.finished.put_nowait((time.monotonic(), msg.success))


@contextlib.asynccontextmanager
async def satellite(sim: Simulator) -> AsyncIterator[tuple[APIClient, Satellite]]:
    """A client subscribed to the voice assistant."""
    cli = APIClient(sim.host, sim.port, None, noise_psk=sim.key)
    await asyncio.wait_for(cli.connect(login=False), 15)
    sat = Satellite()
    cli.subscribe_voice_assistant(
        handle_start=sat.handle_start,
        handle_stop=sat.handle_stop,
        handle_audio=sat.handle_audio,
        handle_announcement_finished=sat.handle_finished,
    )
    try:
        yield cli, sat
    finally:
        await cli.disconnect()


async def log_line(sim: Simulator, pattern: str, timeout: float = 10.0) -> None:
    """Wait for a simulator log line without blocking the event loop."""
    await asyncio.to_thread(sim.wait_for_log, pattern, timeout)


def send_end_marker(cli: APIClient) -> None:
    """VoiceAssistantAudio(end=True): aioesphomeapi has no helper for it."""
    cli._get_connection().send_message(VoiceAssistantAudio(end=True))


async def stream_reply(
    cli: APIClient, pcm: bytes, *, lead: int = 4, period: float = SLOT_S
) -> float:
    """Send pcm in slot-sized chunks on an absolute schedule: `lead` chunks at
    once, then one per `period`. Returns the monotonic time of the first send."""
    chunks = [pcm[i : i + SLOT_BYTES] for i in range(0, len(pcm), SLOT_BYTES)]
    t0 = time.monotonic()
    for k, chunk in enumerate(chunks):
        due = t0 + max(0, k - lead + 1) * period
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        cli.send_voice_assistant_audio(chunk)
    return t0


async def wake_and_listen(sat: Satellite) -> tuple[str, int, str | None]:
    """Wait for the device's VoiceAssistantRequest."""
    return await asyncio.wait_for(sat.starts.get(), 10)


async def set_volume_100(cli: APIClient) -> None:
    """Volume 100 % is a bit-exact passthrough."""
    result = cli.number_command(VOLUME_KEY, 100.0)
    if asyncio.iscoroutine(result):
        await result


async def test_wake_streams_the_microphone_wav(
    start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    mic = noise(6.0, seed=1234)
    write_wav(tmp_path / "mic.wav", mic)
    sim = start_sim(
        encrypted=False,
        extra_args=["--mic-wav", str(tmp_path / "mic.wav"), "--wake-after", "1.0"],
    )
    async with satellite(sim) as (cli, sat):
        _conversation_id, flags, phrase = await wake_and_listen(sat)
        assert phrase == "Okay Howdy"  # woken by the on-device wake word
        assert flags == 0
        async with asyncio.timeout(10):
            while len(sat.audio) < 2 * RATE:  # a second of audio
                await asyncio.sleep(0.05)
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_STT_VAD_START, None)
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_STT_VAD_END, None)
        await asyncio.wait_for(sat.audio_end.wait(), 5)  # VoiceAssistantAudio(end)
        received = bytes(sat.audio)
        await log_line(sim, r"streaming -> thinking")
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_RUN_END, None)
        await log_line(sim, r"thinking -> idle")
    assert sat.stops == [False]
    assert len(received) % 640 == 0 or len(received) % 320 == 0  # whole 10 ms frames
    # Pre-roll and live audio form one gapless stretch of the WAV, sample-exact.
    offset = mic.find(received[:640])
    assert offset >= 0, "first packet not found in the WAV"
    assert offset % 2 == 0
    assert received == mic[offset : offset + len(received)]
    # The stretch starts about 300 ms before streaming began: the pre-roll.
    assert len(received) > PREROLL_BYTES


@pytest.mark.parametrize("encrypted", [True, False], ids=["noise", "plaintext"])
async def test_pipeline_reply_is_sample_exact(
    start_sim: Callable[..., Simulator], tmp_path: Path, encrypted: bool
) -> None:
    spk = tmp_path / "speaker.wav"
    metrics = tmp_path / "metrics.json"
    sim = start_sim(
        encrypted=encrypted,
        extra_args=[
            *("--wake-after", "0.2", "--speaker-wav", str(spk)),
            *("--metrics-json", str(metrics)),
        ],
    )
    reply = noise(2.0, seed=99, amplitude=30000)
    async with satellite(sim) as (cli, sat):
        await set_volume_100(cli)
        await wake_and_listen(sat)
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_STT_VAD_END, None)
        cli.send_voice_assistant_event(
            EV.VOICE_ASSISTANT_INTENT_END, {"conversation_id": "conv-1"}
        )
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_END, {"url": "x"})
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_STREAM_START, None)
        t0 = await stream_reply(cli, reply)
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_STREAM_END, None)
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_RUN_END, None)
        t_finished, success = await asyncio.wait_for(sat.finished.get(), 10)
    assert success
    duration = len(reply) / 2 / RATE
    # AnnounceFinished only after the last sample played: never before the
    # audio could have been played from its first chunk on.
    assert t_finished - t0 >= duration
    assert t_finished - t0 < duration + 1.0
    m = json.loads(metrics.read_text())
    assert m["kind"] == "reply"
    assert m["success"] is True
    assert m["samples_played"] == len(reply) // 2
    assert m["underruns"] == 0
    assert m["overruns"] == 0
    assert m["pool_slots"] == SLOTS
    assert m["pool_slot_bytes"] == SLOT_BYTES
    assert 1 <= m["pool_high_water"] <= SLOTS
    assert m["pool_hit_rate"] == 100.0
    assert m["finished_after_last_sample_ms"] >= 0
    assert m["last_sample_us"] - m["first_sample_us"] >= (duration - 0.001) * 1e6
    played = read_wav(spk)
    assert played[: len(reply)] == reply  # sample-exact at volume 100 %
    assert played[len(reply) :] == b"\0" * (
        len(played) - len(reply)
    )  # last frame's tail


async def test_reply_too_fast_counts_overruns(
    start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics.json"
    sim = start_sim(encrypted=False, extra_args=["--metrics-json", str(metrics)])
    reply = noise(2.0, seed=5)
    async with satellite(sim) as (cli, sat):
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_STREAM_START, None)
        await stream_reply(cli, reply, lead=10_000)  # everything at once
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_STREAM_END, None)
        _, success = await asyncio.wait_for(sat.finished.get(), 10)
        assert success
        m = json.loads(metrics.read_text())
        assert m["overruns"] > 0
        assert m["bytes_dropped"] > 0
        assert m["pool_high_water"] == SLOTS
        assert m["samples_played"] * 2 == len(reply) - m["bytes_dropped"]
        # Still serving.
        info = await cli.device_info()
        assert info.name == sim.name


async def test_reply_too_slow_counts_underruns(
    start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics.json"
    sim = start_sim(encrypted=False, extra_args=["--metrics-json", str(metrics)])
    reply = noise(0.8, seed=6)
    async with satellite(sim) as (cli, sat):
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_STREAM_START, None)
        await stream_reply(cli, reply, lead=1, period=2 * SLOT_S)  # half speed
        send_end_marker(cli)
        _, success = await asyncio.wait_for(sat.finished.get(), 10)
    assert success
    m = json.loads(metrics.read_text())
    assert m["underruns"] > 0
    assert m["underruns_total"] >= m["underruns"]
    assert m["overruns"] == 0
    assert m["samples_played"] == len(reply) // 2


async def test_announcement(
    start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    spk = tmp_path / "speaker.wav"
    metrics = tmp_path / "metrics.json"
    sim = start_sim(
        encrypted=False,
        extra_args=["--speaker-wav", str(spk), "--metrics-json", str(metrics)],
    )
    chime = noise(1.0, seed=7)
    async with satellite(sim) as (cli, _sat):
        await set_volume_100(cli)
        pending = asyncio.ensure_future(
            cli.send_voice_assistant_announcement_await_response(
                "howdy://announcement", 10, text="Dinner is ready"
            )
        )
        await log_line(sim, r"announcement \(media 'howdy://announcement'")
        t0 = await stream_reply(cli, chime)
        send_end_marker(cli)
        result = await pending
        t_done = time.monotonic()
    assert result.success
    assert t_done - t0 >= len(chime) / 2 / RATE
    assert read_wav(spk)[: len(chime)] == chime
    assert json.loads(metrics.read_text())["kind"] == "announcement"


async def test_announcement_while_listening_aborts_the_run(
    start_sim: Callable[..., Simulator],
) -> None:
    sim = start_sim(encrypted=False, extra_args=["--wake-after", "0.2"])
    async with satellite(sim) as (cli, sat):
        await wake_and_listen(sat)
        await log_line(sim, r"starting -> streaming")
        pending = asyncio.ensure_future(
            cli.send_voice_assistant_announcement_await_response("howdy://a", 10)
        )
        await asyncio.wait_for(
            sat.aborted.wait(), 5
        )  # VoiceAssistantRequest(start=False)
        await stream_reply(cli, noise(0.3, seed=8))
        send_end_marker(cli)
        assert (await pending).success
    assert True in sat.stops


async def test_start_conversation_listens_after_the_announcement(
    start_sim: Callable[..., Simulator],
) -> None:
    sim = start_sim(encrypted=False)
    async with satellite(sim) as (cli, sat):
        pending = asyncio.ensure_future(
            cli.send_voice_assistant_announcement_await_response(
                "howdy://q", 10, start_conversation=True
            )
        )
        await log_line(sim, r"announcement")
        await stream_reply(cli, noise(0.3, seed=9))
        send_end_marker(cli)
        assert (await pending).success
        _, _, phrase = await wake_and_listen(sat)
        assert phrase is None  # a follow-up, not a wake word


async def test_timer_rings(start_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    spk = tmp_path / "speaker.wav"
    sim = start_sim(encrypted=False, extra_args=["--speaker-wav", str(spk)])
    async with satellite(sim) as (cli, _sat):
        await set_volume_100(cli)
        cli.send_voice_assistant_timer_event(
            VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_STARTED,
            "t1",
            "tea",
            3,
            3,
            True,
        )
        await log_line(sim, r"timer 't1' \(tea\) started: 3 of 3 s left")
        cli.send_voice_assistant_timer_event(
            VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_FINISHED,
            "t1",
            "tea",
            3,
            0,
            False,
        )
        await log_line(sim, r"timer 't1' \(tea\) finished: ringing")
        await log_line(sim, r"ring done")
    ring = read_wav(spk)
    samples = struct.unpack(f"<{len(ring) // 2}h", ring)
    # Three 200 ms beeps of a 1 kHz tone with 200 ms pauses: 1.2 s.
    assert abs(len(samples) - int(1.2 * RATE)) <= 160
    assert max(samples) == 12000
    assert samples[RATE // 5 + 100] == 0  # inside the first pause


async def test_disconnect_mid_reply_leaves_the_device_ready(
    start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics.json"
    sim = start_sim(
        encrypted=False,
        extra_args=["--wake-on-stdin", "--metrics-json", str(metrics)],
        stdin_pipe=True,
    )
    assert sim.proc.stdin is not None

    def wake() -> None:
        assert sim.proc.stdin is not None
        sim.proc.stdin.write(b"\n")
        sim.proc.stdin.flush()

    async with satellite(sim) as (cli, sat):
        wake()
        await wake_and_listen(sat)
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_STT_VAD_END, None)
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_STREAM_START, None)
        await stream_reply(cli, noise(0.5, seed=10))
        # Gone without an end marker, mid-reply.
    await log_line(
        sim, r"session reset \(the subscribed client disconnected\) in state replying"
    )
    await log_line(sim, r"replying -> idle")
    # The next client gets a complete turn.
    async with satellite(sim) as (cli, sat):
        wake()
        await wake_and_listen(sat)
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_STT_VAD_END, None)
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_STREAM_START, None)
        await stream_reply(cli, noise(0.3, seed=11))
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_TTS_STREAM_END, None)
        _, success = await asyncio.wait_for(sat.finished.get(), 10)
        assert success
    assert json.loads(metrics.read_text())["success"] is True


async def test_wake_word_configuration(start_sim: Callable[..., Simulator]) -> None:
    sim = start_sim(encrypted=False, extra_args=["--wake-on-stdin"], stdin_pipe=True)
    async with satellite(sim) as (cli, sat):
        config = await cli.get_voice_assistant_configuration(5)
        assert [w.id for w in config.available_wake_words] == [
            "okay_howdy",
            "hey_howdy",
        ]
        assert config.available_wake_words[1].wake_word == "Hey Howdy"
        assert config.available_wake_words[1].trained_languages == ["en"]
        assert config.active_wake_words == ["okay_howdy"]
        assert config.max_active_wake_words == 1
        await cli.set_voice_assistant_configuration(["hey_howdy", "nonsense"])
        config = await cli.get_voice_assistant_configuration(5)
        assert config.active_wake_words == ["hey_howdy"]
        assert sim.proc.stdin is not None
        sim.proc.stdin.write(b"wake\n")
        sim.proc.stdin.flush()
        _, _, phrase = await wake_and_listen(sat)
        assert phrase == "Hey Howdy"


async def test_mute_blocks_waking(start_sim: Callable[..., Simulator]) -> None:
    sim = start_sim(encrypted=False, extra_args=["--wake-on-stdin"], stdin_pipe=True)
    assert sim.proc.stdin is not None
    mute_key = 0xD6069F54  # fnv1a("mute")
    async with satellite(sim) as (cli, sat):
        result = cli.switch_command(mute_key, True)
        if asyncio.iscoroutine(result):
            await result
        sim.proc.stdin.write(b"\n")
        sim.proc.stdin.flush()
        await log_line(sim, r"wake \(wake word\) ignored: muted")
        assert sat.starts.empty()


async def test_continuous_streaming_for_the_home_assistant_wake_word(
    start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """--continuous: the device streams for HA's wake word stage, flagged so."""
    mic = noise(4.0, seed=99)
    write_wav(tmp_path / "mic.wav", mic)
    sim = start_sim(
        encrypted=True,
        extra_args=[
            "--mic-wav",
            str(tmp_path / "mic.wav"),
            "--mic-loop",
            "--continuous",
        ],
    )
    async with satellite(sim) as (cli, sat):
        _conversation_id, flags, phrase = await wake_and_listen(sat)
        assert flags & 2  # USE_WAKE_WORD: Home Assistant runs the wake word stage
        assert phrase is None
        async with asyncio.timeout(10):
            while len(sat.audio) < RATE:  # half a second of audio
                await asyncio.sleep(0.05)
        received = bytes(sat.audio)
        # What streams is the microphone itself, sample-exact.
        assert mic.find(received[:640]) >= 0
        # The run ends without a wake word: the device starts listening again.
        cli.send_voice_assistant_event(EV.VOICE_ASSISTANT_RUN_END, None)
        _conversation_id, flags, _phrase = await wake_and_listen(sat)
        assert flags & 2
