"""Stub speech engines for HowdyScreen's benchmarks.

Loaded as a custom component by bench/harness into a Home Assistant started
for a benchmark. One config entry (imported from ``bench_stubs:`` in
configuration.yaml) provides:

- ``wake_word.bench_wake_word``: consumes audio forever, never detects
  (keeps a continuously streaming satellite in its wake word stage);
- ``stt.bench_stt``: a fixed transcript a fixed time after the audio ends;
- ``conversation.bench_agent``: a fixed reply after a fixed latency, streamed
  in pieces on Home Assistant releases that stream agents;
- ``tts.bench_tts``: a generated tone sweep as a streaming WAV, first bytes a
  fixed time after the first text, then paced at a fixed speed.

Websocket commands (admin): ``bench_stubs/stats`` (counters and recent
timestamped events), ``bench_stubs/configure`` (change settings),
``bench_stubs/reset`` (zero the counters), ``bench_stubs/feed`` (run N
in-process microphone streams through the preferred pipeline: feeder.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.components import websocket_api
from homeassistant.config_entries import SOURCE_IMPORT, ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.typing import ConfigType
import voluptuous as vol

from .const import DOMAIN, StubData, StubSettings, StubStats
from .feeder import Feeder

PLATFORMS = [Platform.CONVERSATION, Platform.STT, Platform.TTS, Platform.WAKE_WORD]

CONFIG_SCHEMA = vol.Schema({DOMAIN: vol.Any(None, dict)}, extra=vol.ALLOW_EXTRA)


def _data(hass: HomeAssistant) -> StubData:
    data: StubData = hass.data[DOMAIN]
    return data


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Keep the YAML settings and import them as the one config entry."""
    settings = StubSettings()
    settings.update(dict(config.get(DOMAIN) or {}))
    hass.data[DOMAIN] = StubData(settings=settings)
    websocket_api.async_register_command(hass, ws_stats)
    websocket_api.async_register_command(hass, ws_configure)
    websocket_api.async_register_command(hass, ws_reset)
    websocket_api.async_register_command(hass, ws_feed)
    if not hass.config_entries.async_entries(DOMAIN):
        hass.async_create_task(
            hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_IMPORT}, data={}
            )
        )
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Set up the four stub engines."""
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Unload the stub engines."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


@websocket_api.websocket_command({vol.Required("type"): "bench_stubs/stats"})
@websocket_api.require_admin
@callback
def ws_stats(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Counters, settings and recent events of the stubs."""
    data = _data(hass)
    connection.send_result(
        msg["id"], {"stats": data.stats.as_dict(), "settings": data.settings.as_dict()}
    )


@websocket_api.websocket_command(
    {vol.Required("type"): "bench_stubs/configure", vol.Required("settings"): dict}
)
@websocket_api.require_admin
@callback
def ws_configure(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Change settings (takes effect at the next request to an engine)."""
    data = _data(hass)
    try:
        data.settings.update(msg["settings"])
    except (KeyError, TypeError, ValueError) as err:
        connection.send_error(msg["id"], "invalid_format", str(err))
        return
    connection.send_result(msg["id"], data.settings.as_dict())


@websocket_api.websocket_command({vol.Required("type"): "bench_stubs/reset"})
@websocket_api.require_admin
@callback
def ws_reset(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Zero the counters (active wake word streams stay counted as active)."""
    data = _data(hass)
    active = data.stats.wake_streams_active
    data.stats = StubStats(wake_streams_active=active)
    connection.send_result(msg["id"], data.stats.as_dict())


@websocket_api.websocket_command(
    {
        vol.Required("type"): "bench_stubs/feed",
        vol.Required("streams"): vol.All(int, vol.Range(min=0, max=200)),
        vol.Optional("wav"): str,
    }
)
@websocket_api.require_admin
@websocket_api.async_response
async def ws_feed(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Run `streams` in-process microphone streams from the wake word stage
    (0 stops them); wav: the 16 kHz mono WAV they loop."""
    data = _data(hass)
    if data.feeder is None:
        data.feeder = Feeder(hass)
    if msg["streams"] == 0:
        await data.feeder.stop()
    elif "wav" not in msg:
        connection.send_error(msg["id"], "invalid_format", "wav is required")
        return
    else:
        try:
            await data.feeder.start(msg["streams"], Path(msg["wav"]))
        except (OSError, ValueError, EOFError) as err:
            connection.send_error(msg["id"], "invalid_format", str(err))
            return
    connection.send_result(msg["id"], {"streams": data.feeder.streams})
