"""Switches: the microphone mute."""

from __future__ import annotations

from typing import Any

from aioesphomeapi import SwitchInfo, SwitchState
from homeassistant.components.switch import SwitchDeviceClass, SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .device import HowdyScreenConfigEntry, HowdyScreenDevice
from .entity import HowdyScreenEntity, async_setup_device_entities

# Commands are fire-and-forget messages on the device's one connection.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HowdyScreenConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add a switch for each switch the device lists."""
    entry.async_on_unload(
        async_setup_device_entities(
            entry.runtime_data, SwitchInfo, HowdyScreenSwitch, async_add_entities
        )
    )


class HowdyScreenSwitch(HowdyScreenEntity[SwitchInfo, SwitchState], SwitchEntity):
    """A switch whose state is whatever the device reports back."""

    def __init__(self, device: HowdyScreenDevice, info: SwitchInfo) -> None:
        """Take the device class from the device's description."""
        super().__init__(device, info)
        try:
            self._attr_device_class = SwitchDeviceClass(info.device_class)
        except ValueError:
            self._attr_device_class = None

    @property
    def is_on(self) -> bool | None:
        """The last state the device pushed."""
        state = self._state
        return None if state is None else state.state

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Ask the device to switch on; its state push updates us."""
        self._device.client.switch_command(self.key, True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Ask the device to switch off; its state push updates us."""
        self._device.client.switch_command(self.key, False)
