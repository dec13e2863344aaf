"""Sensors: the device's measured health (memory, CPU, audio path, uptime).

Devices with a voice assistant also get the integration's own per-turn
timings (turn_timing.py), which Home Assistant measures, not the device.
"""

from __future__ import annotations

from aioesphomeapi import SensorInfo, SensorState, SensorStateClass as ApiStateClass
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DOMAIN
from .device import HowdyScreenConfigEntry, HowdyScreenDevice
from .entity import HowdyScreenReadingEntity, async_setup_device_entities
from .turn_timing import TIMINGS, TimingDescription, TurnTimer

# The device pushes; nothing here polls or sends.
PARALLEL_UPDATES = 0

_STATE_CLASSES = {
    ApiStateClass.MEASUREMENT: SensorStateClass.MEASUREMENT,
    ApiStateClass.TOTAL_INCREASING: SensorStateClass.TOTAL_INCREASING,
    ApiStateClass.TOTAL: SensorStateClass.TOTAL,
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HowdyScreenConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add a sensor for each sensor the device lists, and the turn timings."""
    device = entry.runtime_data
    entry.async_on_unload(
        async_setup_device_entities(
            device, SensorInfo, HowdyScreenSensor, async_add_entities
        )
    )
    if device.voice is not None:
        async_add_entities(
            TurnTimingSensor(device, device.voice.timer, timing) for timing in TIMINGS
        )


class HowdyScreenSensor(
    HowdyScreenReadingEntity[SensorInfo, SensorState], SensorEntity
):
    """A number the device measures."""

    def __init__(self, device: HowdyScreenDevice, info: SensorInfo) -> None:
        """Take unit, classes and precision from the device's description."""
        super().__init__(device, info)
        self._attr_native_unit_of_measurement = info.unit_of_measurement or None
        try:
            self._attr_device_class = SensorDeviceClass(info.device_class)
        except ValueError:
            self._attr_device_class = None
        self._attr_state_class = _STATE_CLASSES.get(info.state_class)  # type: ignore[arg-type]
        self._attr_suggested_display_precision = info.accuracy_decimals


class TurnTimingSensor(SensorEntity):
    """One per-turn timing, in milliseconds, updated once per voice turn."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_device_class = SensorDeviceClass.DURATION
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfTime.MILLISECONDS
    _attr_suggested_display_precision = 0
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(
        self, device: HowdyScreenDevice, timer: TurnTimer, timing: TimingDescription
    ) -> None:
        """Describe the timing; its value comes from the satellite's turns."""
        self._timer = timer
        self.entity_description = SensorEntityDescription(
            key=timing.key, translation_key=timing.key
        )
        self._attr_unique_id = f"{device.mac}-{timing.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, device.mac)})
        # Measured by Home Assistant (with the device's own reply start
        # latency), so it stays available while the device is away.

    @property
    def native_value(self) -> float | None:
        """The figure of the last finished turn (unknown if it had none)."""
        return self._timer.last.get(self.entity_description.key)

    async def async_added_to_hass(self) -> None:
        """Update after every turn."""
        self.async_on_remove(self._timer.async_subscribe(self._on_turn))

    @callback
    def _on_turn(self) -> None:
        self.async_write_ha_state()
