"""The link to one HowdyScreen: connection, identity, entity list and states.

One `HowdyScreenDevice` lives in `entry.runtime_data` for as long as the
config entry is loaded.  It owns the aioesphomeapi client and its
ReconnectLogic, and is the single source of truth the entities read: which
entities the device declares, their latest states, and whether the device is
reachable.  Entities never talk to the client except to send a command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
from typing import TYPE_CHECKING, Any

from aioesphomeapi import (
    APIClient,
    APIConnectionError,
    EntityInfo,
    EntityState,
    InvalidEncryptionKeyAPIError,
    ReconnectLogic,
    RequiresEncryptionAPIError,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er

from .api import DeviceIdentity, format_mac
from .const import DOMAIN, MANUFACTURER

if TYPE_CHECKING:
    from homeassistant.const import Platform

    from .voice import VoiceRuntime

_LOGGER = logging.getLogger(__name__)

type HowdyScreenConfigEntry = ConfigEntry[HowdyScreenDevice]
type EntityListListener = Callable[[list[EntityInfo]], None]


class HowdyScreenDevice:
    """Keeps one device connected and fans its data out to the entities."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: HowdyScreenConfigEntry,
        client: APIClient,
        zeroconf_instance: Any,
    ) -> None:
        """Prepare the link; nothing happens until async_start."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.mac: str = entry.unique_id or ""
        self.identity: DeviceIdentity | None = None
        self.available = False
        self.entity_infos: dict[int, EntityInfo] = {}
        self.states: dict[int, EntityState] = {}
        self.api_version: str | None = None
        # Set by the entry setup when the device has a voice assistant.
        self.voice: VoiceRuntime | None = None
        # Unique ids of entities the integration adds itself (satellite,
        # selects, turn timings): not the device's, so never stale.
        self.own_unique_ids: set[str] = set()
        self.platforms: list[Platform] = []
        self._first_connect: asyncio.Future[None] | None = None
        self._unavailable_logged = False
        self._mismatch_logged = False
        self._state_listeners: dict[int, list[CALLBACK_TYPE]] = {}
        self._availability_listeners: list[CALLBACK_TYPE] = []
        self._entity_list_listeners: list[EntityListListener] = []
        self._reconnect = ReconnectLogic(
            client=client,
            on_connect=self._async_on_connect,
            on_disconnect=self._async_on_disconnect,
            on_connect_error=self._async_on_connect_error,
            zeroconf_instance=zeroconf_instance,
            name=entry.data.get("device_name") or None,
        )

    # Life cycle ------------------------------------------------------------

    async def async_start(self, connect_timeout: float) -> None:
        """Connect for the first time; raise what the first attempt raised.

        Setup waits for one successful connection so that the platforms see
        the device's real entity list; afterwards ReconnectLogic keeps the
        link up on its own and failures only make entities unavailable.
        """
        self._first_connect = self.hass.loop.create_future()
        await self._reconnect.start()
        try:
            async with asyncio.timeout(connect_timeout):
                await self._first_connect
        except BaseException:
            await self.async_stop()
            raise
        finally:
            self._first_connect = None

    async def async_stop(self) -> None:
        """Stop reconnecting and drop the connection."""
        await self._reconnect.stop()
        await self.client.disconnect(force=True)
        self._set_available(False, log=False)

    # ReconnectLogic callbacks ----------------------------------------------

    async def _async_on_connect(self) -> None:
        try:
            info = await self.client.device_info()
            identity = DeviceIdentity.from_device_info(info)
            if self.mac and identity.mac != self.mac:
                self._refuse_other_device(identity)
                await self.client.disconnect()
                return
            self._mismatch_logged = False
            entity_infos, _services = await self.client.list_entities_services()
        except APIConnectionError as err:
            # The device dropped the connection while we set up; ReconnectLogic
            # notices through on_disconnect and tries again.
            _LOGGER.debug("%s: connection lost during setup: %s", self.entry.title, err)
            return
        self.identity = identity
        self.mac = identity.mac
        self.api_version = (
            str(self.client.api_version) if self.client.api_version else None
        )
        self._update_device_registry(identity)
        self._apply_entity_list(entity_infos)
        self.client.subscribe_states(self._on_state)
        self._set_available(True, log=True)
        if self._first_connect is not None and not self._first_connect.done():
            self._first_connect.set_result(None)

    async def _async_on_disconnect(self, expected_disconnect: bool) -> None:
        self._set_available(False, log=not expected_disconnect)

    async def _async_on_connect_error(self, err: Exception) -> None:
        first = self._first_connect
        if first is not None and not first.done():
            # Setup is waiting: let it decide (retry later, or ask for a key).
            first.set_exception(err)
            return
        if isinstance(err, (InvalidEncryptionKeyAPIError, RequiresEncryptionAPIError)):
            _LOGGER.warning(
                "%s refused the encryption key; asking for a new one", self.entry.title
            )
            self.entry.async_start_reauth(self.hass)

    # Data from the device --------------------------------------------------

    @callback
    def _on_state(self, state: EntityState) -> None:
        self.states[state.key] = state
        for listener in self._state_listeners.get(state.key, ()):
            listener()

    def _refuse_other_device(self, identity: DeviceIdentity) -> None:
        if not self._mismatch_logged:
            _LOGGER.error(
                "%s: the device at %s is %s (%s), not the configured %s; not adopting it",
                self.entry.title,
                self.client.address,
                identity.name,
                format_mac(identity.mac),
                format_mac(self.mac),
            )
            self._mismatch_logged = True
        first = self._first_connect
        if first is not None and not first.done():
            first.set_exception(WrongDeviceError(identity.mac))

    def _update_device_registry(self, identity: DeviceIdentity) -> None:
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, identity.mac)},
            connections={(dr.CONNECTION_NETWORK_MAC, format_mac(identity.mac))},
            manufacturer=identity.manufacturer or MANUFACTURER,
            model=identity.model or None,
            name=identity.friendly_name,
            sw_version=identity.firmware_version or None,
        )

    def _apply_entity_list(self, infos: list[EntityInfo]) -> None:
        """Take the device's entity list: new entities appear, dropped ones go."""
        self.entity_infos = {info.key: info for info in infos}
        self.states = {
            key: state for key, state in self.states.items() if key in self.entity_infos
        }
        wanted = {f"{self.mac}-{info.object_id}" for info in infos}
        wanted |= self.own_unique_ids
        registry = er.async_get(self.hass)
        for reg_entry in er.async_entries_for_config_entry(
            registry, self.entry.entry_id
        ):
            if reg_entry.unique_id not in wanted:
                _LOGGER.debug(
                    "%s no longer has %s; removing it",
                    self.entry.title,
                    reg_entry.entity_id,
                )
                registry.async_remove(reg_entry.entity_id)
        for listener in list(self._entity_list_listeners):
            listener(infos)

    def _set_available(self, available: bool, *, log: bool) -> None:
        """Record reachability; log the loss once and the return once."""
        if available == self.available:
            return
        self.available = available
        if not available and log and not self._unavailable_logged:
            _LOGGER.info("%s is unavailable", self.entry.title)
            self._unavailable_logged = True
        elif available and self._unavailable_logged:
            _LOGGER.info("%s is available again", self.entry.title)
            self._unavailable_logged = False
        for listener in list(self._availability_listeners):
            listener()

    # Subscriptions for entities and platforms -----------------------------

    @callback
    def async_subscribe_state(self, key: int, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call listener when the state of entity `key` changes."""
        self._state_listeners.setdefault(key, []).append(listener)
        return lambda: self._state_listeners[key].remove(listener)

    @callback
    def async_subscribe_availability(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call listener when the device comes or goes."""
        self._availability_listeners.append(listener)
        return lambda: self._availability_listeners.remove(listener)

    @callback
    def async_subscribe_entity_list(
        self, listener: EntityListListener
    ) -> CALLBACK_TYPE:
        """Call listener with the full entity list now and after every reconnect."""
        self._entity_list_listeners.append(listener)
        listener(list(self.entity_infos.values()))
        return lambda: self._entity_list_listeners.remove(listener)


class WrongDeviceError(Exception):
    """A different device answered at the configured address."""

    def __init__(self, found_mac: str) -> None:
        """Remember which MAC answered."""
        super().__init__(found_mac)
        self.found_mac = found_mac
