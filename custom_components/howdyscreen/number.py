"""Numbers: the speaker volume."""

from __future__ import annotations

from aioesphomeapi import NumberInfo, NumberMode as ApiNumberMode, NumberState
from homeassistant.components.number import NumberEntity, NumberMode
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .device import HowdyScreenConfigEntry, HowdyScreenDevice
from .entity import HowdyScreenReadingEntity, async_setup_device_entities

# Commands are fire-and-forget messages on the device's one connection.
PARALLEL_UPDATES = 0

_MODES = {
    ApiNumberMode.AUTO: NumberMode.AUTO,
    ApiNumberMode.BOX: NumberMode.BOX,
    ApiNumberMode.SLIDER: NumberMode.SLIDER,
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HowdyScreenConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add a number for each number the device lists."""
    entry.async_on_unload(
        async_setup_device_entities(
            entry.runtime_data, NumberInfo, HowdyScreenNumber, async_add_entities
        )
    )


class HowdyScreenNumber(
    HowdyScreenReadingEntity[NumberInfo, NumberState], NumberEntity
):
    """A setting with a range, as the device describes it."""

    def __init__(self, device: HowdyScreenDevice, info: NumberInfo) -> None:
        """Take range, step, unit and mode from the device's description."""
        super().__init__(device, info)
        self._attr_native_min_value = info.min_value
        self._attr_native_max_value = info.max_value
        if info.step:
            self._attr_native_step = info.step
        self._attr_native_unit_of_measurement = info.unit_of_measurement or None
        self._attr_mode = (
            _MODES[info.mode] if info.mode is not None else NumberMode.AUTO
        )

    async def async_set_native_value(self, value: float) -> None:
        """Ask the device for the new value; its state push updates us."""
        self._device.client.number_command(self.key, value)
