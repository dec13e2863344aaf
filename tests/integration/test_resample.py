"""The in-process resampler: accuracy, alias rejection, downmix, streaming exactness."""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray
import pytest

from custom_components.howdyscreen import resample
from custom_components.howdyscreen.resample import Resampler

AMPLITUDE = 16384.0  # -6 dBFS: room for the filter's overshoot


def tone(
    rate: int, freq: float, seconds: float, phase: float = 0.0
) -> NDArray[np.int16]:
    """A sine rounded to s16, as an engine would write it."""
    t = np.arange(round(rate * seconds)) / rate
    return np.rint(AMPLITUDE * np.sin(2 * np.pi * freq * t + phase)).astype("<i2")


def run(res: Resampler, pcm: bytes) -> NDArray[np.float64]:
    out = res.feed(pcm) + res.flush()
    return np.frombuffer(out, dtype="<i2").astype(np.float64)


def settled(res: Resampler, y: NDArray[np.float64]) -> slice:
    """The part of the output past the start-up and tail transients."""
    skip = int(np.ceil(2 * res.delay_samples)) + 8
    return slice(skip, len(y) - skip)


def snr_db(signal: NDArray[np.float64], error: NDArray[np.float64]) -> float:
    return float(10 * np.log10(np.sum(signal**2) / np.sum(error**2)))


def ideal_output(res: Resampler, count: int, freq: float) -> NDArray[np.float64]:
    """The same sine sampled at 16 kHz, lagging by the filter's group delay."""
    n = np.arange(count)
    return AMPLITUDE * np.sin(2 * np.pi * freq * (n / 16000 - res.delay_seconds))


RATES = [8000, 11025, 22050, 24000, 32000, 44100, 48000, 96000]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("freq", [97.0, 1000.0, 3000.0, 6500.0])
def test_sine_keeps_amplitude_and_frequency(rate: int, freq: float) -> None:
    if freq >= 0.875 * min(rate, 16000) / 2:
        pytest.skip("outside this rate's pass band")
    res = Resampler(rate)
    y = run(res, tone(rate, freq, 1.0).tobytes())
    # One second in, one second (plus the filter's delay) out.
    assert abs(len(y) - (16000 + res.delay_samples)) <= 1
    ideal = ideal_output(res, len(y), freq)
    part = settled(res, y)
    assert snr_db(ideal[part], y[part] - ideal[part]) >= 60
    rms_ratio = np.sqrt(np.mean(y[part] ** 2) / np.mean(ideal[part] ** 2))
    assert abs(20 * np.log10(rms_ratio)) < 0.01  # dB


@pytest.mark.parametrize("rate", [22050, 24000, 32000, 44100, 48000, 96000])
def test_tones_above_8khz_do_not_alias(rate: int) -> None:
    for freq in (8200.0, 9000.0, 10000.0, 12000.0, 15000.0, 20000.0, 40000.0):
        if freq >= rate / 2:
            continue
        res = Resampler(rate)
        y = run(res, tone(rate, freq, 0.5).tobytes())
        part = settled(res, y)
        in_rms = AMPLITUDE / np.sqrt(2)
        out_rms = np.sqrt(np.mean(y[part] ** 2))
        attenuation = 20 * np.log10(in_rms / max(out_rms, 1e-9))
        assert attenuation >= 60, (rate, freq, attenuation)


def test_upsampling_8khz_leaves_no_image() -> None:
    """8 kHz -> 16 kHz: a 3 kHz tone must not leave its 5 kHz mirror image."""
    res = Resampler(8000)
    y = run(res, tone(8000, 3000.0, 1.0).tobytes())
    part = settled(res, y)
    n = np.arange(len(y))[part]
    image = 5000.0 * 2 * np.pi * n / 16000
    level = np.hypot(
        2 * np.mean(y[part] * np.sin(image)), 2 * np.mean(y[part] * np.cos(image))
    )
    assert 20 * np.log10(AMPLITUDE / level) >= 60


def test_stereo_is_averaged() -> None:
    left = tone(44100, 440.0, 0.5)
    right = tone(44100, 2500.0, 0.5, phase=1.0)
    stereo = np.column_stack((left, right)).reshape(-1).tobytes()
    res = Resampler(44100, channels=2)
    y = run(res, stereo)
    n = np.arange(len(y))
    t = n / 16000 - res.delay_seconds
    ideal = (
        AMPLITUDE * np.sin(2 * np.pi * 440 * t)
        + AMPLITUDE * np.sin(2 * np.pi * 2500 * t + 1.0)
    ) / 2
    part = settled(res, y)
    assert snr_db(ideal[part], y[part] - ideal[part]) >= 60


def test_identical_channels_equal_mono_exactly() -> None:
    """The downmix is folded into the integer rounding: L == R gives mono bit for bit."""
    mono = tone(48000, 1234.0, 0.3)
    stereo = np.repeat(mono, 2).tobytes()
    assert Resampler(48000, 2).feed(stereo) == Resampler(48000, 1).feed(mono.tobytes())
    opposite = np.column_stack((mono, -mono)).reshape(-1).tobytes()
    res = Resampler(48000, 2)
    assert not np.any(run(res, opposite))


def test_same_rate_stereo_is_only_downmixed() -> None:
    frames = np.array(
        [[100, 201], [-100, -201], [32767, 32767], [-32768, -32768], [1, 0]]
    )
    res = Resampler(16000, channels=2)
    assert res.delay_seconds == 0.0
    assert not res.passthrough
    out = np.frombuffer(res.feed(frames.astype("<i2").tobytes()), dtype="<i2")
    # Rounded to nearest, halves upward.
    assert out.tolist() == [151, -150, 32767, -32768, 1]
    assert res.flush() == b""


def test_three_channels() -> None:
    frames = np.tile(np.array([[300, 0, 0]], dtype="<i2"), (4800, 1))
    res = Resampler(48000, channels=3)
    y = run(res, frames.tobytes())
    assert np.all(y[settled(res, y)] == 100)


def test_dc_passes_exactly() -> None:
    """Every phase has a DC gain of exactly one."""
    for rate in (8000, 22050, 44100, 48000):
        res = Resampler(rate)
        y = run(res, np.full(rate // 2, -12345, dtype="<i2").tobytes())
        assert np.all(y[settled(res, y)] == -12345)


def test_full_scale_saturates_without_wrapping() -> None:
    square = np.where(
        np.sin(2 * np.pi * 1000 * np.arange(48000) / 48000) >= 0, 32767, -32768
    )
    res = Resampler(48000)
    y = run(res, square.astype("<i2").tobytes())
    assert y.max() == 32767
    assert y.min() == -32768
    # A wrapped overshoot would flip sign in the middle of a half period.
    n = np.arange(len(y))
    expected = np.sign(np.sin(2 * np.pi * 1000 * (n / 16000 - res.delay_seconds)))
    middle = np.abs(np.sin(2 * np.pi * 1000 * (n / 16000 - res.delay_seconds))) > 0.5
    part = settled(res, y)
    assert np.all(np.sign(y[part][middle[part]]) == expected[part][middle[part]])


@pytest.mark.parametrize(
    ("rate", "channels"),
    [(8000, 1), (22050, 2), (24000, 1), (44100, 2), (48000, 2), (44101, 1), (16000, 2)],
)
def test_any_chunking_gives_identical_output(rate: int, channels: int) -> None:
    rng = np.random.default_rng(rate * 10 + channels)
    noise = np.random.default_rng(rate).integers(
        -20000, 20000, size=rate // 3 * channels
    )
    pcm = noise.astype("<i2").tobytes()
    whole = Resampler(rate, channels)
    expected = whole.feed(pcm) + whole.flush()
    for _ in range(3):
        res = Resampler(rate, channels)
        out = bytearray()
        pos = 0
        while pos < len(pcm):
            sizes = [0, 1, 2, 3, 5, 7, 64, 331, 1000, int(rng.integers(1, 9000))]
            size = sizes[int(rng.integers(len(sizes)))]
            out += res.feed(pcm[pos : pos + size])
            pos += size
        out += res.flush()
        assert bytes(out) == expected


def test_bank_and_per_chunk_taps_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rates whose bank would be huge compute taps per chunk, with the same result."""
    pcm = tone(44100, 777.0, 0.2).tobytes()
    stored = Resampler(44100)
    assert stored._bank is not None
    monkeypatch.setattr(resample, "MAX_BANK_TAPS", 0)
    computed = Resampler(44100)
    assert computed._bank is None
    assert computed.feed(pcm) + computed.flush() == stored.feed(pcm) + stored.flush()


def test_odd_rate_is_accurate() -> None:
    res = Resampler(44101)
    assert res.up == 16000
    y = run(res, tone(44101, 1000.0, 0.5).tobytes())
    ideal = ideal_output(res, len(y), 1000.0)
    part = settled(res, y)
    assert snr_db(ideal[part], y[part] - ideal[part]) >= 60


def test_passthrough_is_exact() -> None:
    pcm = np.random.default_rng(1).integers(-32768, 32767, 8001).astype("<i2").tobytes()
    pcm += b"\x01"  # a trailing odd byte
    res = Resampler(16000, 1)
    assert res.passthrough
    assert res.delay_seconds == 0.0
    out = b"".join(res.feed(pcm[i : i + 3]) for i in range(0, len(pcm), 3))
    assert out == pcm[:-1]
    assert res.flush() == b""
    assert res.dropped_bytes == 1


def test_partial_frame_is_held_then_dropped() -> None:
    res = Resampler(48000, 2)
    assert res.feed(b"\x01\x02\x03") == b""
    res.flush()
    assert res.dropped_bytes == 3


def test_group_delay_is_small_and_real() -> None:
    for rate in (22050, 44100, 48000):
        res = Resampler(rate)
        assert res.delay_seconds < 0.003
        impulse = np.zeros(rate // 10, dtype="<i2")
        impulse[rate // 20] = 30000
        y = run(res, impulse.tobytes())
        # The impulse sits at 50 ms; its peak shows up 50 ms + delay later.
        peak = int(np.argmax(y))
        assert abs(peak - (800 + res.delay_samples)) <= 1
    assert Resampler(8000).delay_seconds < 0.006


def test_lifecycle_errors() -> None:
    with pytest.raises(ValueError, match="positive"):
        Resampler(0)
    with pytest.raises(ValueError, match="channel"):
        Resampler(44100, channels=0)
    with pytest.raises(ValueError, match="channel"):
        Resampler(44100, channels=9)
    res = Resampler(44100)
    assert res.flush() == b""  # nothing fed: no tail
    assert res.flush() == b""
    with pytest.raises(RuntimeError):
        res.feed(b"\x00\x00")


def test_throughput_per_20ms_chunk() -> None:
    """Per-chunk cost stays far below the chunk's play time (measured, printed)."""
    for rate, channels in ((44100, 2), (48000, 1), (22050, 1), (24000, 1)):
        res = Resampler(rate, channels)
        step = rate // 50 * 2 * channels
        pcm = (
            np.random.default_rng(0)
            .integers(-9000, 9000, rate * channels)
            .astype("<i2")
        )
        data = pcm.tobytes()
        begin = time.perf_counter()
        count = 0
        for pos in range(0, len(data), step):
            res.feed(data[pos : pos + step])
            count += 1
        per_chunk = (time.perf_counter() - begin) / count
        print(f"{rate} Hz x{channels}: {per_chunk * 1e6:.0f} us per 20 ms chunk")
        assert per_chunk < 0.005
