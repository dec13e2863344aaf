"""Sensors: the device's measured health (memory, CPU, audio path, uptime)."""

from __future__ import annotations

from aioesphomeapi import SensorInfo, SensorState, SensorStateClass as ApiStateClass
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .device import HowdyScreenConfigEntry, HowdyScreenDevice
from .entity import HowdyScreenEntity, async_setup_device_entities

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
    """Add a sensor for each sensor the device lists."""
    entry.async_on_unload(
        async_setup_device_entities(
            entry.runtime_data, SensorInfo, HowdyScreenSensor, async_add_entities
        )
    )


class HowdyScreenSensor(HowdyScreenEntity[SensorInfo, SensorState], SensorEntity):
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

    @property
    def available(self) -> bool:
        """A sensor the device cannot read right now has no value to show."""
        state = self._state
        return super().available and state is not None and not state.missing_state

    @property
    def native_value(self) -> float | None:
        """The last value the device pushed."""
        state = self._state
        return None if state is None else state.state
