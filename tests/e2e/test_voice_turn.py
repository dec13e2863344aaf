"""A whole voice turn: the simulator's microphone through a real Assist pipeline
to a light, and the spoken reply streamed back to the simulator's speaker.

Nothing is mocked between the device and Home Assistant: the simulator plays a
recorded command into its microphone after its (simulated) wake word, Home
Assistant's own voice activity detection, Demo speech-to-text, the default
conversation agent and Demo text-to-speech run the turn, and the integration
streams the reply in pooled chunks that the simulator records as it plays them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
import json
from pathlib import Path
from unittest.mock import PropertyMock, patch
import wave

from homeassistant.components.assist_pipeline.pipeline import (
    KEY_ASSIST_PIPELINE,
    async_create_default_pipeline,
)
from homeassistant.components.demo.stt import DemoProviderEntity
from homeassistant.components.stt import AudioChannels
from homeassistant.components.tts.const import DATA_TTS_MANAGER
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import numpy as np
import pytest

from custom_components.howdyscreen.const import CONF_NOISE_PSK, DOMAIN
from tests.simulator import Simulator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
COMMAND_WAV = FIXTURES / "turn_on_the_kitchen_lights.wav"
pytestmark = pytest.mark.usefixtures("mock_async_zeroconf")


@pytest.fixture(autouse=True)
def demo_stt_takes_mono() -> Generator[None]:
    """Demo STT only declares stereo input, which no satellite sends; its
    transcript never depends on the audio, so let it accept mono."""
    with patch.object(
        DemoProviderEntity,
        "supported_channels",
        new_callable=PropertyMock,
        return_value=[AudioChannels.CHANNEL_MONO],
    ):
        yield


async def demo_pipeline(hass: HomeAssistant) -> None:
    """Demo STT and TTS, the default agent, the Demo lights, as the preferred pipeline."""
    assert await async_setup_component(hass, "demo", {})
    assert await async_setup_component(hass, "tts", {"tts": {"platform": "demo"}})
    # The TTS file cache lives in the shared test configuration: keep this
    # test's reply out of other tests.
    hass.data[DATA_TTS_MANAGER].use_file_cache = False
    assert await async_setup_component(hass, "assist_pipeline", {})
    await hass.async_block_till_done()
    pipeline = await async_create_default_pipeline(
        hass, stt_engine_id="stt.demo_stt", tts_engine_id="demo", pipeline_name="Demo"
    )
    assert pipeline is not None
    hass.data[KEY_ASSIST_PIPELINE].pipeline_store.async_set_preferred_item(pipeline.id)


async def add_device(hass: HomeAssistant, sim: Simulator) -> str:
    """The user's path: address, then the key the device shows."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: sim.host, CONF_PORT: sim.port}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NOISE_PSK: sim.key}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return str(result["result"].entry_id)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


def read_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(
            np.float64
        )


async def test_voice_turn_turns_on_the_light_and_plays_the_reply(
    hass: HomeAssistant, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """Wake, transcript, the light turns on, the reply plays; all measured."""
    await demo_pipeline(hass)
    light = "light.kitchen_lights"
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": light}, blocking=True
    )
    assert hass.states.get(light).state == "off"

    speaker = tmp_path / "speaker.wav"
    metrics = tmp_path / "metrics.json"
    sim = start_sim(
        encrypted=True,
        extra_args=[
            "--mic-wav", str(COMMAND_WAV), "--mic-loop",
            "--wake-after", "0.5",
            "--speaker-wav", str(speaker),
            "--metrics-json", str(metrics),
        ],
    )  # fmt: skip
    entry_id = await add_device(hass, sim)
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry_id)
    satellite = next(e.entity_id for e in entities if e.domain == "assist_satellite")

    # The simulator wakes on its own; Home Assistant hears the command.
    await wait_until(lambda: hass.states.get(light).state == "on", 30, "the light")
    # The reply plays to its end on the device, which then reports it.
    await wait_until(metrics.exists, 30, "the device's reply metrics")
    await wait_until(lambda: hass.states.get(satellite).state == "idle", 15, "idle")

    report = json.loads(metrics.read_text())
    assert report["underruns"] == 0, report
    assert report["overruns"] == 0, report
    assert report["samples_played"] > 16000 * 0.3, report

    # What the speaker played is the TTS engine's reply: compare with the
    # Demo engine's mp3, decoded independently with ffmpeg.
    played = read_pcm(speaker)
    reference = await decode_reference(tmp_path)
    assert correlation(played, reference) > 0.9

    timings = {
        e.translation_key: hass.states.get(e.entity_id)
        for e in entities
        if e.domain == "sensor" and (e.translation_key or "").startswith("turn_")
    }
    assert timings, "no per-turn timing sensors"
    total = [
        s for key, s in timings.items() if key and "total" in key and s is not None
    ]
    assert total
    assert float(total[0].state) > 0

    assert await hass.config_entries.async_unload(entry_id)
    await hass.async_block_till_done()


async def decode_reference(tmp_path: Path) -> np.ndarray:
    """The Demo TTS mp3 at 16 kHz mono, decoded by ffmpeg (not by our code)."""
    from homeassistant.components import demo  # noqa: PLC0415

    mp3 = Path(demo.__file__).parent / "tts.mp3"
    out = tmp_path / "reference.wav"
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(mp3),
        "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", "-y", str(out),
    )  # fmt: skip
    assert await proc.wait() == 0
    return read_pcm(out)


def correlation(played: np.ndarray, reference: np.ndarray) -> float:
    """Peak normalised cross-correlation of the reference within what played."""
    if len(played) < len(reference):
        return 0.0
    # Find the offset with an FFT cross-correlation, then compare at it.
    n = 1 << int(np.ceil(np.log2(len(played) + len(reference))))
    spectrum = np.fft.rfft(played, n) * np.conj(np.fft.rfft(reference, n))
    offset = int(
        np.argmax(np.fft.irfft(spectrum, n)[: len(played) - len(reference) + 1])
    )
    window = played[offset : offset + len(reference)]
    denominator = np.linalg.norm(window) * np.linalg.norm(reference)
    return float(np.dot(window, reference) / denominator) if denominator else 0.0
