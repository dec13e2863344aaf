"""The device's entities as Home Assistant entities: mapping, commands, life cycle."""

from __future__ import annotations

from collections.abc import Callable
from unittest.mock import MagicMock

from aioesphomeapi import NumberState, SensorInfo, SensorState, SwitchState
from homeassistant.components.number import ATTR_VALUE, SERVICE_SET_VALUE
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_ENTITY_ID,
    ATTR_UNIT_OF_MEASUREMENT,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    EntityCategory,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import ENTITIES, HEAP_FREE, FakeReconnectLogic

HEAP = "sensor.kitchen_howdyscreen_internal_heap_free"
UPTIME = "sensor.kitchen_howdyscreen_uptime"
MUTE = "switch.kitchen_howdyscreen_mute_microphone"
VOLUME = "number.kitchen_howdyscreen_volume"


async def test_sensor_mapping(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """Units, classes, category and the translated name come through."""
    state = hass.states.get(HEAP)
    assert state is not None
    assert float(state.state) == 123456.0
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "B"
    assert state.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.DATA_SIZE
    assert state.attributes["state_class"] == SensorStateClass.MEASUREMENT
    assert state.attributes["friendly_name"] == "Kitchen HowdyScreen Internal heap free"
    entry = er.async_get(hass).async_get(HEAP)
    assert entry is not None
    assert entry.unique_id == "aabbccddeeff-heap_free"
    assert entry.entity_category is EntityCategory.DIAGNOSTIC
    assert entry.translation_key == "heap_free"


async def test_disabled_by_default(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """An entity the device marks as less interesting starts disabled."""
    entry = er.async_get(hass).async_get(UPTIME)
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(UPTIME) is None


async def test_sensor_updates_and_missing_state(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, mock_client: MagicMock
) -> None:
    """Pushed states update the entity; a missing reading makes it unavailable."""
    mock_client.on_state(SensorState(key=1, state=99.0))
    await hass.async_block_till_done()
    assert float(hass.states.get(HEAP).state) == 99.0
    mock_client.on_state(SensorState(key=1, state=0.0, missing_state=True))
    await hass.async_block_till_done()
    assert hass.states.get(HEAP).state == STATE_UNAVAILABLE


async def test_mute_switch(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, mock_client: MagicMock
) -> None:
    """Mute sends the command and shows what the device reports back."""
    assert hass.states.get(MUTE).state == STATE_OFF
    entry = er.async_get(hass).async_get(MUTE)
    assert entry.entity_category is EntityCategory.CONFIG
    await hass.services.async_call(
        "switch", SERVICE_TURN_ON, {ATTR_ENTITY_ID: MUTE}, blocking=True
    )
    mock_client.switch_command.assert_called_once_with(3, True)
    # Not on until the device says so.
    assert hass.states.get(MUTE).state == STATE_OFF
    mock_client.on_state(SwitchState(key=3, state=True))
    await hass.async_block_till_done()
    assert hass.states.get(MUTE).state == STATE_ON
    await hass.services.async_call(
        "switch", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: MUTE}, blocking=True
    )
    mock_client.switch_command.assert_called_with(3, False)


async def test_volume_number(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, mock_client: MagicMock
) -> None:
    """Volume shows its range and sends the new value to the device."""
    state = hass.states.get(VOLUME)
    assert float(state.state) == 80.0
    assert state.attributes["min"] == 0.0
    assert state.attributes["max"] == 100.0
    assert state.attributes["step"] == 1.0
    assert state.attributes["mode"] == "slider"
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "%"
    await hass.services.async_call(
        "number",
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: VOLUME, ATTR_VALUE: 35},
        blocking=True,
    )
    mock_client.number_command.assert_called_once_with(4, 35.0)
    mock_client.on_state(NumberState(key=4, state=35.0))
    await hass.async_block_till_done()
    assert float(hass.states.get(VOLUME).state) == 35.0
    mock_client.on_state(NumberState(key=4, state=0.0, missing_state=True))
    await hass.async_block_till_done()
    assert hass.states.get(VOLUME).state == STATE_UNAVAILABLE


async def test_untranslated_entity_uses_device_name(
    hass: HomeAssistant, mock_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """An entity a newer firmware adds shows up with the device's own name and icon."""
    extra = SensorInfo(
        object_id="fan_speed",
        key=9,
        name="Fan speed",
        unit_of_measurement="rpm",
        device_class="not_a_class",
        icon="mdi:fan",
    )
    mock_client.list_entities_services.return_value = ([*ENTITIES, extra], [])
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    mock_client.on_state(SensorState(key=9, state=1200.0))
    await hass.async_block_till_done()
    state = hass.states.get("sensor.kitchen_howdyscreen_fan_speed")
    assert state is not None
    assert state.attributes["icon"] == "mdi:fan"
    assert ATTR_DEVICE_CLASS not in state.attributes
    assert float(state.state) == 1200.0


async def test_entity_list_changes_on_reconnect(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    mock_client: MagicMock,
    reconnect_logic: Callable[[], FakeReconnectLogic],
) -> None:
    """A firmware update that drops an entity removes it; a new one appears."""
    registry = er.async_get(hass)
    assert registry.async_get(MUTE) is not None
    extra = SensorInfo(
        object_id="wifi_signal", key=7, name="WiFi signal", unit_of_measurement="dBm"
    )
    mock_client.list_entities_services.return_value = (
        [info for info in ENTITIES if info.object_id != "mute"] + [extra],
        [],
    )
    await reconnect_logic().drop()
    await reconnect_logic().reconnect()
    await hass.async_block_till_done()
    assert registry.async_get(MUTE) is None
    assert hass.states.get(MUTE) is None
    mock_client.on_state(SensorState(key=7, state=-61.0))
    await hass.async_block_till_done()
    assert (
        float(hass.states.get("sensor.kitchen_howdyscreen_wifi_signal").state) == -61.0
    )
    # The other entities survive and are not duplicated.
    assert float(hass.states.get(HEAP).state) == 123456.0
    assert len(er.async_entries_for_config_entry(registry, loaded_entry.entry_id)) == 4


@pytest.mark.parametrize("missing", [HEAP_FREE])
async def test_entity_unavailable_until_first_state(
    hass: HomeAssistant,
    mock_client: MagicMock,
    mock_config_entry: MockConfigEntry,
    missing: SensorInfo,
) -> None:
    """An entity whose state has not arrived yet is unavailable, not zero."""
    mock_client.subscribe_states.side_effect = lambda on_state: setattr(
        mock_client, "on_state", on_state
    )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(HEAP).state == STATE_UNAVAILABLE
