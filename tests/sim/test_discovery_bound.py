"""A simulator listening on one address announces that address only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from tests.simulator import Simulator

SERVICE_TYPE = "_howdyscreen._tcp.local."


async def test_bound_to_loopback_announces_loopback_only(
    start_sim: Callable[..., Simulator],
) -> None:
    """No other address of the machine is advertised for a loopback-only API.

    Linux hands multicast joined on any interface to every socket bound to
    5353, so a browser on loopback would also hear copies announced on the
    machine's other interfaces, with their addresses; there must be none.
    """
    sim = start_sim(encrypted=True, mdns=True, name="howdy-bound")
    azc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    try:
        info = AsyncServiceInfo(SERVICE_TYPE, f"howdy-bound.{SERVICE_TYPE}")
        async with asyncio.timeout(10):
            while not await info.async_request(azc.zeroconf, 1000):
                pass
        # Let every copy of the announcements (sent at 0, 1 and 3 s) arrive.
        await asyncio.sleep(3.5)
        await info.async_request(azc.zeroconf, 1000)
        assert info.port == sim.port
        assert info.parsed_addresses() == ["127.0.0.1"]
    finally:
        await azc.async_close()
