"""mDNS discovery of the device, as python-zeroconf and Home Assistant see it.

The C responder of the simulator (firmware/host/mdns_responder.c) announces
`_howdyscreen._tcp.local.` (or `_esphomelib._tcp.local.` in ESPHome mode) on
loopback and on the machine's other IPv4 interfaces. These tests browse for it
with python-zeroconf, the library Home Assistant's zeroconf integration is
built on, once on loopback and once configured the way Home Assistant
configures it, and check what Home Assistant's ESPHome config flow would read.

Several test runs (and other responders) may share this machine's port 5353,
so every test looks for its own, randomly named instance only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass
import os
import re
import secrets
import socket
import struct
import time

from homeassistant.components.zeroconf import info_from_service
from homeassistant.components.zeroconf.models import HaAsyncZeroconf, HaZeroconf
from homeassistant.helpers.device_registry import format_mac
import pytest
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from tests.simulator import Simulator

HOWDY_TYPE = "_howdyscreen._tcp.local."
ESPHOME_TYPE = "_esphomelib._tcp.local."
# What ESPHome devices put in `api_encryption`, and what HA's esphome flow
# only tests for presence.
NOISE_PROTOCOL = "Noise_NNpsk0_25519_ChaChaPoly_SHA256"
MDNS_GROUP = "224.0.0.251"
MDNS_PORT = 5353
# Sockets: tests/sim/conftest.py lifts the block of Home Assistant's plugin.

# ---- the device under test ------------------------------------------------------


@dataclass
class Announced:
    """A running simulator and what it should be seen announcing."""

    sim: Simulator
    instance: str
    service_type: str
    host: str
    mac: str
    friendly_name: str

    @property
    def port(self) -> int:
        return self.sim.port

    def stop(self) -> None:
        """Stop the simulator the clean way (SIGINT) and check its exit code."""
        assert self.sim.stop() == 0, self.sim.log()


@pytest.fixture
def announce(start_sim: Callable[..., Simulator]) -> Callable[..., Announced]:
    """Start a simulator with mDNS on, under a name no other run uses."""

    def _start(*, esphome: bool = False, key: bool = True) -> Announced:
        name = f"howdytest-{secrets.token_hex(4)}"
        mac = secrets.token_hex(6)
        friendly = f"Howdy Test {name[-4:]}"
        extra = ["--mac", ":".join(mac[i : i + 2] for i in range(0, 12, 2))]
        extra += ["--friendly-name", friendly]
        if esphome:
            extra.append("--esphome-mode")
        sim = start_sim(name=name, encrypted=key, mdns=True, extra_args=extra)
        sim.wait_for_log(r"announcing ")
        service = "_esphomelib._tcp.local." if esphome else HOWDY_TYPE
        return Announced(
            sim=sim,
            instance=name,
            service_type=service,
            host=name,  # the node name is a valid host label as it is
            mac=mac,
            friendly_name=friendly,
        )

    return _start


# ---- browsing ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _zeroconf(interfaces: object) -> AsyncIterator[AsyncZeroconf]:
    azc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
    try:
        yield azc
    finally:
        await azc.async_close()


async def _wait_for(
    zc: Zeroconf,
    service_type: str,
    instance: str,
    state: ServiceStateChange,
    timeout: float = 10.0,
) -> None:
    """Browse service_type until `instance` reaches `state`."""
    wanted = f"{instance}.{service_type}"
    # Start-up first: cancelling a browser whose start is still pending would
    # cancel the instance's start-up future with it (python-zeroconf 0.146).
    await zc.async_wait_for_start()
    seen = asyncio.get_running_loop().create_future()

    def _handler(
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        if name == wanted and state_change is state and not seen.done():
            seen.set_result(None)

    browser = AsyncServiceBrowser(zc, [service_type], handlers=[_handler])
    try:
        await asyncio.wait_for(seen, timeout)
    finally:
        await browser.async_cancel()


async def _discover(zc: Zeroconf, ann: Announced) -> AsyncServiceInfo:
    await _wait_for(zc, ann.service_type, ann.instance, ServiceStateChange.Added)
    info = AsyncServiceInfo(ann.service_type, f"{ann.instance}.{ann.service_type}")
    assert await info.async_request(zc, 3000), "SRV/TXT/A not resolved"
    return info


def _is_local_address(address: str) -> bool:
    """True if this machine owns the address (it can bind to it).

    Home Assistant's test plugin mocks the adapter list, so ask the kernel.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def _check_howdy_txt(props: dict[str, str | None], ann: Announced, key: bool) -> None:
    assert props["mac"] == ann.mac
    assert re.fullmatch(r"[0-9a-f]{12}", props["mac"] or "")
    assert props["version"]
    assert props["board"]
    assert props["friendly_name"] == ann.friendly_name
    if key:
        assert props["api_encryption"] == NOISE_PROTOCOL
    else:
        assert "api_encryption" not in props
    assert set(props) <= {"mac", "version", "board", "friendly_name", "api_encryption"}


# ---- tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [True, False], ids=["encrypted", "plaintext"])
async def test_browse_on_loopback(
    announce: Callable[..., Announced], key: bool
) -> None:
    """A browser on loopback finds the service, its TXT, port and 127.0.0.1."""
    ann = announce(key=key)
    async with _zeroconf(["127.0.0.1"]) as azc:
        info = await _discover(azc.zeroconf, ann)
    assert info.port == ann.port
    assert info.server == f"{ann.host}.local."
    # The A record carries the address of the interface a query or an
    # announcement went out on: 127.0.0.1 on loopback. This browser also hears
    # the copies on the machine's other interfaces (Linux delivers every
    # joined group to every socket bound to 5353), so any local address may
    # win; the legacy-unicast test below pins the loopback answer exactly.
    addresses = info.parsed_addresses()
    assert addresses
    assert all(_is_local_address(a) for a in addresses), addresses
    _check_howdy_txt(info.decoded_properties, ann, key)


async def test_seen_by_home_assistant_zeroconf(
    announce: Callable[..., Announced],
) -> None:
    """Home Assistant's zeroconf, set up as on a one-interface host, sees it.

    With only its default interface enabled Home Assistant browses with
    InterfaceChoice.Default (not loopback), so this is the path a Home Assistant
    on the same machine takes. The result goes through Home Assistant's own
    info_from_service, and is checked for what a config flow reads.
    """
    ann = announce()
    hzc = HaZeroconf(interfaces=InterfaceChoice.Default, ip_version=IPVersion.V4Only)
    azc = HaAsyncZeroconf(zc=hzc)
    try:
        info = await _discover(hzc, ann)
        service_info = info_from_service(info)
    finally:
        await azc.ha_async_close()
    assert service_info is not None
    assert service_info.type == HOWDY_TYPE
    assert service_info.name == f"{ann.instance}.{HOWDY_TYPE}"
    assert service_info.port == ann.port
    assert service_info.hostname == f"{ann.host}.local."
    assert service_info.host  # an address that is neither link-local nor 0.0.0.0
    assert format_mac(service_info.properties["mac"]) != service_info.properties["mac"]
    _check_howdy_txt(service_info.properties, ann, key=True)


async def test_esphome_mode(announce: Callable[..., Announced]) -> None:
    """ESPHome mode: `_esphomelib._tcp` with the TXT that HA's esphome flow reads."""
    ann = announce(esphome=True)
    async with _zeroconf(["127.0.0.1"]) as azc:
        info = await _discover(azc.zeroconf, ann)
        # The device is not also announced under our own type.
        other = AsyncServiceInfo(HOWDY_TYPE, f"{ann.instance}.{HOWDY_TYPE}")
        assert not await other.async_request(azc.zeroconf, 500)
    props = info.decoded_properties
    assert info.port == ann.port
    # esphome's async_step_zeroconf: mac (required), friendly_name, the host
    # name (= node name), api_encryption (presence means Noise).
    assert re.fullmatch(r"[0-9a-f]{12}", props["mac"] or "")
    assert props["mac"] == ann.mac
    assert props["friendly_name"] == ann.friendly_name
    assert info.server is not None
    assert info.server.removesuffix(".local.") == ann.host
    assert props["api_encryption"] == NOISE_PROTOCOL
    for key in ("version", "platform", "board", "network"):
        assert props[key], key


async def test_goodbye_on_stop(announce: Callable[..., Announced]) -> None:
    """Stopping the simulator sends goodbyes: browsers drop it at once."""
    ann = announce()
    async with _zeroconf(["127.0.0.1"]) as azc:
        await _discover(azc.zeroconf, ann)
        removed = asyncio.ensure_future(
            _wait_for(
                azc.zeroconf,
                ann.service_type,
                ann.instance,
                ServiceStateChange.Removed,
                timeout=5.0,
            )
        )
        await asyncio.sleep(0.5)  # let the browser see the instance first
        started = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, ann.stop)
        await removed
        # A PTR with TTL 4500 s would otherwise linger for over an hour.
        assert time.monotonic() - started < 5.0


def _dns_query(qid: int, name: str, qtype: int, qu: bool = False) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0)
    qname = b"".join(
        bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")
    )
    qclass = 0x8001 if qu else 0x0001
    return header + qname + b"\0" + struct.pack("!HH", qtype, qclass)


def _loopback_query_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(
        socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1")
    )
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    return sock


async def test_legacy_unicast_and_malformed_packets(
    announce: Callable[..., Announced],
) -> None:
    """Garbage does not kill the responder; a one-shot query (source port not
    5353) gets a plain unicast DNS answer with its id and 127.0.0.1."""
    ann = announce()
    host = f"{ann.host}.local."
    with _loopback_query_socket() as sock:
        garbage = [
            b"",
            b"\x00" * 11,
            struct.pack("!HHHHHH", 1, 0, 0xFFFF, 0xFFFF, 0, 0),
            struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0)
            + b"\xc0\x0c\0\x01\0\x01",  # self pointer
            struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x3f" + b"a" * 10,  # cut label
            os.urandom(600),
        ]
        for packet in garbage:
            sock.sendto(packet, (MDNS_GROUP, MDNS_PORT))
        assert ann.sim.running

        qid = secrets.randbelow(0xFFFF) + 1
        query = _dns_query(qid, host, 1)  # A
        deadline = time.monotonic() + 5.0
        answer = None
        while answer is None and time.monotonic() < deadline:
            sock.sendto(query, (MDNS_GROUP, MDNS_PORT))
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                try:
                    data, _src = await asyncio.get_running_loop().run_in_executor(
                        None, sock.recvfrom, 9000
                    )
                except TimeoutError:
                    continue
                if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                    answer = data
                    break
    assert answer is not None, "no legacy unicast answer"
    _qid, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", answer[:12])
    assert flags & 0x8000  # a response
    assert qd == 1  # the question is echoed
    assert an >= 1
    assert answer[12 : len(query)] == query[12:]
    # The A record follows the echoed question.
    pos = len(query)
    name, pos = _read_name(answer, pos)
    assert name.lower() == host.lower()
    rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", answer[pos : pos + 10])
    assert (rtype, rclass, rdlen) == (1, 1, 4)  # no cache-flush bit for legacy
    assert 0 < ttl <= 10
    assert socket.inet_ntoa(answer[pos + 10 : pos + 14]) == "127.0.0.1"
    assert ann.sim.running


def _read_name(packet: bytes, pos: int) -> tuple[str, int]:
    """Decode a possibly compressed DNS name; return it and the end offset."""
    labels: list[str] = []
    end = None
    for _ in range(64):
        length = packet[pos]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | packet[pos + 1]
            continue
        if length == 0:
            return ".".join(labels) + ".", end if end is not None else pos + 1
        labels.append(packet[pos + 1 : pos + 1 + length].decode())
        pos += 1 + length
    raise AssertionError("name too long")
