"""Constants shared by the HowdyScreen integration's modules."""

from typing import Final

DOMAIN: Final = "howdyscreen"

# The ESPHome native API port, which HowdyScreen devices keep.
DEFAULT_PORT: Final = 6053

# Config entry data keys.  CONF_HOST and CONF_PORT come from homeassistant.const.
CONF_NOISE_PSK: Final = "noise_psk"
CONF_MAC: Final = "mac"
CONF_DEVICE_NAME: Final = "device_name"

MANUFACTURER: Final = "HowdyScreen"

# How long a connection attempt made on behalf of a user (config flow, setup)
# may take before we report the device as unreachable.
CONNECT_TIMEOUT: Final = 10.0
