"""Fixtures for the integration's tests that run with a mocked device client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

from aioesphomeapi import (
    APIVersion,
    DeviceInfo,
    EntityCategory,
    EntityInfo,
    EntityState,
    NumberInfo,
    NumberMode,
    NumberState,
    SensorInfo,
    SensorState,
    SensorStateClass,
    SwitchInfo,
    SwitchState,
    VoiceAssistantAnnounceFinished,
    VoiceAssistantAudioSettings,
    VoiceAssistantConfigurationResponse,
    VoiceAssistantWakeWord,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.howdyscreen.const import (
    CONF_DEVICE_NAME,
    CONF_MAC,
    CONF_NOISE_PSK,
    DOMAIN,
)

MAC = "aabbccddeeff"
KEY = "7JmKZ1q5tRb1mcNV7cDNVTqMnQ8CKUoZ/ym8qwwVl24="


@pytest.fixture(autouse=True)
async def auto_enable_custom_integrations(
    hass: HomeAssistant,
    enable_custom_integrations: None,
    mock_async_zeroconf: MagicMock,
) -> None:
    """Load custom_components/howdyscreen, on top of Home Assistant's core.

    The Assist components we depend on expect the `homeassistant` integration
    (exposed entities) to be there, as it always is in a running instance.
    Zeroconf is mocked: these tests never touch the network.
    """
    assert await async_setup_component(hass, "homeassistant", {})


def make_device_info(**overrides: Any) -> DeviceInfo:
    """A DeviceInfo like the one a HowdyScreen sends."""
    fields: dict[str, Any] = {
        "name": "howdyscreen-ccddeeff",
        "friendly_name": "Kitchen HowdyScreen",
        "mac_address": "AA:BB:CC:DD:EE:FF",
        "model": "ESP32-P4-WIFI6-Touch-LCD-3.4C",
        "manufacturer": "HowdyScreen",
        "project_name": "howdyscreen.firmware",
        "project_version": "0.1.0",
    }
    fields.update(overrides)
    return DeviceInfo(**fields)


HEAP_FREE = SensorInfo(
    object_id="heap_free",
    key=1,
    name="Heap free",
    unit_of_measurement="B",
    device_class="data_size",
    state_class=SensorStateClass.MEASUREMENT,
    accuracy_decimals=0,
    entity_category=EntityCategory.DIAGNOSTIC,
)
UPTIME = SensorInfo(
    object_id="uptime",
    key=2,
    name="Uptime",
    unit_of_measurement="s",
    device_class="duration",
    state_class=SensorStateClass.TOTAL_INCREASING,
    entity_category=EntityCategory.DIAGNOSTIC,
    disabled_by_default=True,
)
MUTE = SwitchInfo(
    object_id="mute",
    key=3,
    name="Mute",
    device_class="switch",
    entity_category=EntityCategory.CONFIG,
)
VOLUME = NumberInfo(
    object_id="volume",
    key=4,
    name="Volume",
    min_value=0.0,
    max_value=100.0,
    step=1.0,
    unit_of_measurement="%",
    mode=NumberMode.SLIDER,
    entity_category=EntityCategory.CONFIG,
)
ENTITIES: list[EntityInfo] = [HEAP_FREE, UPTIME, MUTE, VOLUME]
STATES: list[EntityState] = [
    SensorState(key=1, state=123456.0),
    SensorState(key=2, state=42.0),
    SwitchState(key=3, state=False),
    NumberState(key=4, state=80.0),
]


class FakeReconnectLogic:
    """Stands in for aioesphomeapi's ReconnectLogic, driven by the test.

    start() makes one connection attempt with the mocked client, as the real
    one does; the test then calls drop() and reconnect() to play a device
    that goes away and comes back.
    """

    instances: list[FakeReconnectLogic]

    def __init__(
        self,
        *,
        client: MagicMock,
        on_connect: Callable[[], Awaitable[None]],
        on_disconnect: Callable[[bool], Awaitable[None]],
        on_connect_error: Callable[[Exception], Awaitable[None]],
        zeroconf_instance: Any,
        name: str | None,
    ) -> None:
        self.client = client
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.on_connect_error = on_connect_error
        self.name = name
        self.running = False
        FakeReconnectLogic.instances.append(self)

    async def start(self) -> None:
        self.running = True
        await self.reconnect()

    async def stop(self) -> None:
        self.running = False

    async def reconnect(self) -> None:
        try:
            await self.client.connect(login=True)
        except Exception as err:
            await self.on_connect_error(err)
            return
        await self.on_connect()

    async def drop(self, expected: bool = False) -> None:
        await self.on_disconnect(expected)


@pytest.fixture
def mock_client() -> Generator[MagicMock]:
    """Replace aioesphomeapi's APIClient with a mock that behaves like a device."""
    client = MagicMock()
    client.address = "192.0.2.10"
    client.api_version = APIVersion(1, 10)
    client.connect = AsyncMock()
    client.disconnect = AsyncMock()
    client.device_info = AsyncMock(return_value=make_device_info())
    client.list_entities_services = AsyncMock(return_value=(list(ENTITIES), []))

    def subscribe_states(on_state: Callable[[EntityState], None]) -> None:
        client.on_state = on_state
        for state in STATES:
            on_state(state)

    client.subscribe_states = MagicMock(side_effect=subscribe_states)
    FakeReconnectLogic.instances = []
    with (
        patch(
            "custom_components.howdyscreen.api.APIClient", return_value=client
        ) as factory,
        patch(
            "custom_components.howdyscreen.device.ReconnectLogic", FakeReconnectLogic
        ),
    ):
        client.factory = factory
        yield client


@pytest.fixture
def reconnect_logic(mock_client: MagicMock) -> Callable[[], FakeReconnectLogic]:
    """The ReconnectLogic the last setup created."""
    return lambda: FakeReconnectLogic.instances[-1]


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """An encrypted HowdyScreen entry."""
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=MAC,
        title="Kitchen HowdyScreen",
        data={
            CONF_HOST: "192.0.2.10",
            CONF_PORT: 6053,
            CONF_NOISE_PSK: KEY,
            CONF_MAC: MAC,
            CONF_DEVICE_NAME: "howdyscreen-ccddeeff",
        },
    )


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The entry, set up against the mocked device."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


def find_device(hass: HomeAssistant, entry_id: str, mac: str) -> dr.DeviceEntry | None:
    """The entry's device registered for a MAC, found the same way on every version.

    Home Assistant 2026.x deprecates (and, in tests, refuses)
    DeviceRegistry.async_get_device and mapping access to .devices, which
    2025.4 still needs; the per-entry listing works on both.
    """
    for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry_id):
        if (DOMAIN, mac) in device.identifiers:
            return device
    return None


# Voice assistant -------------------------------------------------------------

VOICE_FLAGS = (
    63  # VOICE_ASSISTANT | SPEAKER | API_AUDIO | TIMERS | ANNOUNCE | START_CONVERSATION
)
WAKE_WORDS = VoiceAssistantConfigurationResponse(
    available_wake_words=[
        VoiceAssistantWakeWord(
            id="okay_howdy", wake_word="Okay Howdy", trained_languages=["en"]
        ),
        VoiceAssistantWakeWord(
            id="hey_screen", wake_word="Hey Screen", trained_languages=["en"]
        ),
    ],
    active_wake_words=["okay_howdy"],
    max_active_wake_words=2,
)


class FakeVoiceDevice:
    """The device's side of the voice assistant, played by the test.

    It records what Home Assistant sends and, like the firmware, answers
    every finished reply stream (the audio end marker) with AnnounceFinished
    unless the test holds playback with `auto_finish = False`.
    """

    def __init__(self, client: MagicMock) -> None:
        self.client = client
        self.handlers: dict[str, Any] = {}
        self.unsubscribe = MagicMock()
        self.events: list[tuple[int, dict[str, str]]] = []
        self.audio: list[bytes] = []
        self.ends = 0
        self.announcements: list[dict[str, Any]] = []
        self.auto_finish = True
        self.config = WAKE_WORDS
        self._announce_waiters: list[asyncio.Future[Any]] = []

        def subscribe(**handlers: Any) -> MagicMock:
            self.handlers = handlers
            return self.unsubscribe

        client.subscribe_voice_assistant = MagicMock(side_effect=subscribe)
        client.send_voice_assistant_event = MagicMock(side_effect=self._event)
        client.send_voice_assistant_audio = MagicMock(side_effect=self.audio.append)
        client.send_voice_assistant_timer_event = MagicMock()
        client.get_voice_assistant_configuration = AsyncMock(
            side_effect=lambda _timeout: self.config
        )
        client.set_voice_assistant_configuration = AsyncMock()
        client.send_voice_assistant_announcement_await_response = AsyncMock(
            side_effect=self._announce
        )
        connection = MagicMock()
        connection.send_message = MagicMock(side_effect=self._raw)
        client._get_connection = MagicMock(return_value=connection)

    @property
    def event_types(self) -> list[int]:
        return [event for event, _data in self.events]

    def event_data(self, event_type: int) -> dict[str, str]:
        return next(data for event, data in self.events if event == event_type)

    def _event(self, event_type: int, data: dict[str, str] | None) -> None:
        self.events.append((event_type, dict(data or {})))

    def _raw(self, message: Any) -> None:
        if getattr(message, "end", False):
            self.ends += 1
            if self.auto_finish:
                self.finish()

    def finish(self, success: bool = True) -> None:
        """Report the end of playback, as the device does after the last sample."""
        handler = self.handlers["handle_announcement_finished"]
        asyncio.get_running_loop().create_task(
            handler(VoiceAssistantAnnounceFinished(success=success))
        )

    async def _announce(
        self, media_id: str, timeout: float, text: str = "", **kwargs: Any
    ) -> Any:
        self.announcements.append({"media_id": media_id, "text": text, **kwargs})
        waiter = asyncio.get_running_loop().create_future()
        self._announce_waiters.append(waiter)
        return await waiter

    async def start(
        self, flags: int = 0, wake_word_phrase: str | None = "Okay Howdy"
    ) -> int | None:
        """Ask for a pipeline run, as a wake does."""
        return await self.handlers["handle_start"](
            "", flags, VoiceAssistantAudioSettings(), wake_word_phrase
        )

    async def send_audio(self, data: bytes, data2: bytes | None = None) -> None:
        await self.handlers["handle_audio"](data)

    async def stop(self, abort: bool = False) -> None:
        await self.handlers["handle_stop"](abort)


@pytest.fixture
def voice_device(mock_client: MagicMock) -> FakeVoiceDevice:
    """A device with a voice assistant (the firmware's feature flags)."""
    mock_client.device_info.return_value = make_device_info(
        voice_assistant_feature_flags=VOICE_FLAGS
    )
    return FakeVoiceDevice(mock_client)
