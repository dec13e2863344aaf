"""Config flow: discovery, manual entry, encryption key, reauth, reconfigure.

Every path validates by connecting to the device (api.async_probe) before it
creates or changes an entry, so a saved entry always describes a device that
answered with the identity we store.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import voluptuous as vol

from .api import (
    CannotConnect,
    DeviceIdentity,
    DeviceIsPlaintext,
    EncryptionRequired,
    InvalidKey,
    async_probe,
    normalize_mac,
)
from .const import CONF_DEVICE_NAME, CONF_MAC, CONF_NOISE_PSK, DEFAULT_PORT, DOMAIN

_LOGGER = logging.getLogger(__name__)


def _host_schema(host: str = "", port: int = DEFAULT_PORT) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HOST, default=host): str,
            vol.Required(CONF_PORT, default=port): vol.All(
                vol.Coerce(int), vol.Range(min=1, max=65535)
            ),
        }
    )


KEY_SCHEMA = vol.Schema({vol.Required(CONF_NOISE_PSK): str})


class HowdyScreenConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a HowdyScreen, or repair the way Home Assistant reaches one."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing known about the device."""
        self._host = ""
        self._port = DEFAULT_PORT
        self._name = ""
        self._noise_psk: str | None = None

    async def _async_try(
        self, noise_psk: str | None
    ) -> tuple[DeviceIdentity | None, str | None]:
        """Probe the device; return its identity or a translated error key."""
        try:
            identity = await async_probe(self.hass, self._host, self._port, noise_psk)
        except EncryptionRequired:
            return None, "encryption_required"
        except InvalidKey:
            return None, "invalid_key"
        except DeviceIsPlaintext:
            return None, "device_is_plaintext"
        except CannotConnect:
            return None, "cannot_connect"
        return identity, None

    def _entry_data(self, identity: DeviceIdentity) -> dict[str, Any]:
        return {
            CONF_HOST: self._host,
            CONF_PORT: self._port,
            CONF_NOISE_PSK: self._noise_psk or "",
            CONF_MAC: identity.mac,
            CONF_DEVICE_NAME: identity.name,
        }

    async def _async_finish(self, identity: DeviceIdentity) -> ConfigFlowResult:
        """Create the entry for a device that just answered."""
        await self.async_set_unique_id(identity.mac, raise_on_progress=False)
        self._abort_if_unique_id_configured(
            updates={CONF_HOST: self._host, CONF_PORT: self._port}
        )
        return self.async_create_entry(
            title=identity.friendly_name, data=self._entry_data(identity)
        )

    # Manual entry -------------------------------------------------------

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the address of a device that was not discovered."""
        errors: dict[str, str] = {}
        if user_input is not None:
            self._host = user_input[CONF_HOST].strip()
            self._port = user_input[CONF_PORT]
            identity, error = await self._async_try(None)
            if error == "encryption_required":
                return await self.async_step_encryption_key()
            if identity is not None:
                return await self._async_finish(identity)
            assert error is not None
            errors["base"] = error
        return self.async_show_form(
            step_id="user",
            data_schema=_host_schema(self._host, self._port),
            errors=errors,
        )

    # Discovery ----------------------------------------------------------

    async def async_step_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """Handle a device announcing _howdyscreen._tcp."""
        mac = normalize_mac(str(discovery_info.properties.get("mac", "")))
        if len(mac) != 12:
            return self.async_abort(reason="invalid_discovery")
        self._host = discovery_info.host
        self._port = discovery_info.port or DEFAULT_PORT
        self._name = str(
            discovery_info.properties.get("friendly_name")
            or discovery_info.name.split(".", 1)[0]
        )
        await self.async_set_unique_id(mac)
        # A known device that moved: follow it, and reload so it reconnects.
        self._abort_if_unique_id_configured(
            updates={CONF_HOST: self._host, CONF_PORT: self._port}
        )
        self.context["title_placeholders"] = {"name": self._name}
        if discovery_info.properties.get("api_encryption"):
            return await self.async_step_encryption_key()
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask the user to confirm adding a discovered device."""
        errors: dict[str, str] = {}
        if user_input is not None:
            identity, error = await self._async_try(None)
            if error == "encryption_required":
                return await self.async_step_encryption_key()
            if identity is not None:
                return await self._async_finish(identity)
            assert error is not None
            errors["base"] = error
        self._set_confirm_only()
        return self.async_show_form(
            step_id="discovery_confirm",
            description_placeholders={"name": self._name, "host": self._host},
            errors=errors,
        )

    # Encryption key -----------------------------------------------------

    async def async_step_encryption_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the key the device shows on its screen."""
        errors: dict[str, str] = {}
        if user_input is not None:
            self._noise_psk = user_input[CONF_NOISE_PSK].strip()
            identity, error = await self._async_try(self._noise_psk)
            if identity is not None:
                return await self._async_finish(identity)
            assert error is not None
            errors["base"] = error
        return self.async_show_form(
            step_id="encryption_key",
            data_schema=KEY_SCHEMA,
            description_placeholders={
                "name": self._name or self._host,
                "host": self._host,
            },
            errors=errors,
        )

    # Reauth -------------------------------------------------------------

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Start over with a new key after the stored one stopped working."""
        self._host = entry_data[CONF_HOST]
        self._port = entry_data[CONF_PORT]
        self._name = self._get_reauth_entry().title
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the device's new key."""
        errors: dict[str, str] = {}
        entry = self._get_reauth_entry()
        if user_input is not None:
            self._noise_psk = user_input[CONF_NOISE_PSK].strip()
            identity, error = await self._async_try(self._noise_psk)
            if identity is not None:
                await self.async_set_unique_id(identity.mac)
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_NOISE_PSK: self._noise_psk}
                )
            assert error is not None
            errors["base"] = error
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=KEY_SCHEMA,
            description_placeholders={"name": self._name, "host": self._host},
            errors=errors,
        )

    # Reconfigure --------------------------------------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the address or key of a configured device."""
        errors: dict[str, str] = {}
        entry = self._get_reconfigure_entry()
        if user_input is not None:
            self._host = user_input[CONF_HOST].strip()
            self._port = user_input[CONF_PORT]
            self._noise_psk = user_input.get(CONF_NOISE_PSK, "").strip() or None
            identity, error = await self._async_try(self._noise_psk)
            if identity is not None:
                await self.async_set_unique_id(identity.mac)
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                return self.async_update_reload_and_abort(
                    entry,
                    data_updates={
                        CONF_HOST: self._host,
                        CONF_PORT: self._port,
                        CONF_NOISE_PSK: self._noise_psk or "",
                    },
                )
            assert error is not None
            errors["base"] = error
        else:
            self._host = entry.data[CONF_HOST]
            self._port = entry.data[CONF_PORT]
            self._noise_psk = entry.data.get(CONF_NOISE_PSK) or None
        schema = _host_schema(self._host, self._port).extend(
            {vol.Optional(CONF_NOISE_PSK, default=self._noise_psk or ""): str}
        )
        return self.async_show_form(
            step_id="reconfigure", data_schema=schema, errors=errors
        )
