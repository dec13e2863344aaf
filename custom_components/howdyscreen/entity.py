"""The base of every entity that mirrors one of the device's own entities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aioesphomeapi import (
    EntityCategory as ApiEntityCategory,
    EntityInfo,
    EntityState,
    NumberState,
    SensorState,
)
from homeassistant.const import EntityCategory
from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DOMAIN
from .device import HowdyScreenDevice

# The device's entities whose names and icons Home Assistant translates
# (strings.json, icons.json).  An entity a newer firmware adds keeps working
# with the name the device gives it until it is listed here.
TRANSLATED_OBJECT_IDS = frozenset(
    {
        "heap_free",
        "heap_min_free",
        "psram_free",
        "uptime",
        "cpu_load_core0",
        "cpu_load_core1",
        "mute",
        "volume",
    }
)

_CATEGORIES = {
    ApiEntityCategory.CONFIG: EntityCategory.CONFIG,
    ApiEntityCategory.DIAGNOSTIC: EntityCategory.DIAGNOSTIC,
}


class HowdyScreenEntity[InfoT: EntityInfo, StateT: EntityState](Entity):
    """One entity of the device, identified by its object id."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, device: HowdyScreenDevice, info: InfoT) -> None:
        """Describe the entity from the device's ListEntities answer."""
        self._device = device
        self._info = info
        self._attr_unique_id = f"{device.mac}-{info.object_id}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, device.mac)})
        self._attr_entity_category = _CATEGORIES.get(info.entity_category)  # type: ignore[arg-type]
        self._attr_entity_registry_enabled_default = not info.disabled_by_default
        if info.object_id in TRANSLATED_OBJECT_IDS:
            self._attr_translation_key = info.object_id
        else:
            self._attr_name = info.name
            if info.icon:
                self._attr_icon = info.icon

    @property
    def key(self) -> int:
        """The device's key for this entity."""
        return self._info.key

    @property
    def _state(self) -> StateT | None:
        return self._device.states.get(self._info.key)  # type: ignore[return-value]

    @property
    def available(self) -> bool:
        """Available while the device is connected and has sent a state."""
        return self._device.available and self._state is not None

    async def async_added_to_hass(self) -> None:
        """Follow the device's pushes for this entity and its reachability."""
        self.async_on_remove(
            self._device.async_subscribe_state(self._info.key, self._on_update)
        )
        self.async_on_remove(self._device.async_subscribe_availability(self._on_update))

    @callback
    def _on_update(self) -> None:
        self.async_write_ha_state()


class HowdyScreenReadingEntity[InfoT: EntityInfo, StateT: (SensorState, NumberState)](
    HowdyScreenEntity[InfoT, StateT]
):
    """An entity whose state is a number the device may be unable to give."""

    @property
    def available(self) -> bool:
        """A value the device cannot read right now cannot be shown (or set)."""
        state = self._state
        return super().available and state is not None and not state.missing_state

    @property
    def native_value(self) -> float | None:
        """The last value the device pushed."""
        state = self._state
        return None if state is None else state.state


def async_setup_device_entities[InfoT: EntityInfo](
    device: HowdyScreenDevice,
    info_type: type[InfoT],
    entity_factory: Callable[[HowdyScreenDevice, InfoT], Entity],
    async_add_entities: AddEntitiesCallback,
) -> Callable[[], None]:
    """Add an entity for every `info_type` the device lists, now and later.

    Returns the unsubscribe function; entities the device drops are removed
    from the registry by the device link, which unloads them.
    """
    known: set[str] = set()

    @callback
    def on_entity_list(infos: list[Any]) -> None:
        new = [
            info
            for info in infos
            if type(info) is info_type and info.object_id not in known
        ]
        known.intersection_update(info.object_id for info in infos)
        known.update(info.object_id for info in new)
        if new:
            async_add_entities(entity_factory(device, info) for info in new)

    return device.async_subscribe_entity_list(on_entity_list)
