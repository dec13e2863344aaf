"""The in-process microphone streams of bench_stubs/feed (the Home Assistant
CPU benchmark's floor): what they read and how they pace it."""

from __future__ import annotations

import asyncio
from pathlib import Path
import wave

import pytest

from bench.custom_components.bench_stubs import feeder


def write_wav(path: Path, samples: int, rate: int = 16000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        size = samples * 2 * channels
        w.writeframes((bytes(range(256)) * (size // 256 + 1))[:size])
    return path


def test_read_pcm_keeps_whole_chunks(tmp_path: Path) -> None:
    pcm = feeder.read_pcm(write_wav(tmp_path / "a.wav", 1000))  # 2000 bytes
    assert len(pcm) == 3 * feeder.CHUNK_BYTES


@pytest.mark.parametrize(
    ("rate", "channels", "samples", "message"),
    [
        (22050, 1, 1000, "not 16 kHz mono"),
        (16000, 2, 1000, "not 16 kHz mono"),
        (16000, 1, 100, "shorter than one chunk"),
    ],
)
def test_read_pcm_refuses_what_a_device_would_not_send(
    tmp_path: Path, rate: int, channels: int, samples: int, message: str
) -> None:
    path = write_wav(tmp_path / "b.wav", samples, rate, channels)
    with pytest.raises(ValueError, match=message):
        feeder.read_pcm(path)


async def test_paced_loops_from_its_offset_at_real_time() -> None:
    pcm = bytes(range(256)) * 10  # 4 chunks of 640 bytes
    assert len(pcm) == 4 * feeder.CHUNK_BYTES
    stream = feeder.Feeder._paced(pcm, offset=3 * feeder.CHUNK_BYTES)
    loop = asyncio.get_running_loop()
    start = loop.time()
    chunks = [await anext(stream) for _ in range(6)]
    elapsed = loop.time() - start
    await stream.aclose()
    step = feeder.CHUNK_BYTES
    expected = [pcm[k % 4 * step : k % 4 * step + step] for k in range(3, 9)]
    assert chunks == expected
    # Six chunks are 120 ms of audio: never sent faster than real time.
    assert elapsed >= 6 * feeder.CHUNK_S - 0.005
