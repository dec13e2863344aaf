"""Runtime state of one configured HowdyScreen (entry.runtime_data)."""

from __future__ import annotations

from dataclasses import dataclass

from .api import DeviceIdentity


@dataclass(slots=True)
class HowdyScreenRuntime:
    """What a loaded config entry knows about its device."""

    identity: DeviceIdentity
