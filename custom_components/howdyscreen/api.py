"""One place that talks to a device on behalf of a user-facing step.

The config flow and the entry setup both need to "connect once, read the
device's identity, disconnect" and to turn the many aioesphomeapi exceptions
into the few outcomes a user can act on.  Keeping that here means the two can
never disagree on what "wrong key" or "cannot connect" means.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
import logging

from aioesphomeapi import (
    APIClient,
    APIConnectionError,
    DeviceInfo,
    EncryptionPlaintextAPIError,
    InvalidEncryptionKeyAPIError,
    RequiresEncryptionAPIError,
)
from homeassistant.components import zeroconf
from homeassistant.core import HomeAssistant

from .const import CONNECT_TIMEOUT

_LOGGER = logging.getLogger(__name__)

CLIENT_INFO = "Home Assistant HowdyScreen"


class HowdyScreenError(Exception):
    """Base of the outcomes a user-facing connection attempt can have."""


class CannotConnect(HowdyScreenError):
    """The device did not answer, or the connection broke."""


class EncryptionRequired(HowdyScreenError):
    """The device only talks encrypted and no key was given."""


class InvalidKey(HowdyScreenError):
    """The key was refused by the device, or is not a valid key at all."""


class DeviceIsPlaintext(HowdyScreenError):
    """A key was given but the device runs without encryption."""


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """What a probe learned about a device."""

    name: str
    friendly_name: str
    mac: str
    model: str
    manufacturer: str
    firmware_version: str
    # VoiceAssistantFeature bits the device declares (0: no voice assistant).
    voice_assistant_feature_flags: int = 0

    @classmethod
    def from_device_info(cls, info: DeviceInfo) -> DeviceIdentity:
        """Build from the DeviceInfo message the device sent."""
        return cls(
            name=info.name,
            friendly_name=info.friendly_name or info.name,
            mac=normalize_mac(info.mac_address),
            model=info.model,
            manufacturer=info.manufacturer,
            firmware_version=info.project_version or info.esphome_version,
            voice_assistant_feature_flags=info.voice_assistant_feature_flags,
        )


def normalize_mac(mac: str) -> str:
    """Return a MAC as 12 lowercase hex digits, whatever separators it had."""
    return "".join(ch for ch in mac.lower() if ch in "0123456789abcdef")


def format_mac(mac: str) -> str:
    """Return a MAC as aa:bb:cc:dd:ee:ff (Home Assistant's connection form)."""
    digits = normalize_mac(mac)
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def valid_noise_psk(key: str) -> bool:
    """Tell whether a key is 32 bytes of base64, as the device prints it."""
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


async def async_create_client(
    hass: HomeAssistant, host: str, port: int, noise_psk: str | None
) -> APIClient:
    """Create a client that shares Home Assistant's zeroconf instance."""
    zc = await zeroconf.async_get_async_instance(hass)
    return APIClient(
        host,
        port,
        None,
        client_info=CLIENT_INFO,
        zeroconf_instance=zc,
        noise_psk=noise_psk or None,
    )


async def async_probe(
    hass: HomeAssistant, host: str, port: int, noise_psk: str | None
) -> DeviceIdentity:
    """Connect once, read the device's identity and disconnect."""
    if noise_psk and not valid_noise_psk(noise_psk):
        raise InvalidKey("The key is not 32 bytes of base64")
    client = await async_create_client(hass, host, port, noise_psk)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await client.connect(login=True)
            info = await client.device_info()
    except RequiresEncryptionAPIError as err:
        raise EncryptionRequired(str(err)) from err
    except InvalidEncryptionKeyAPIError as err:
        raise InvalidKey(str(err)) from err
    except EncryptionPlaintextAPIError as err:
        raise DeviceIsPlaintext(str(err)) from err
    except (APIConnectionError, TimeoutError, OSError) as err:
        _LOGGER.debug("Probe of %s:%s failed: %r", host, port, err)
        raise CannotConnect(str(err) or type(err).__name__) from err
    finally:
        await client.disconnect(force=True)
    return DeviceIdentity.from_device_info(info)
