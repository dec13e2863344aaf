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
from collections.abc import AsyncIterator, Iterator
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time

from homeassistant.components.zeroconf import info_from_service
from homeassistant.components.zeroconf.models import HaAsyncZeroconf, HaZeroconf
from homeassistant.helpers.device_registry import format_mac
import pytest
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
HOWDY_TYPE = "_howdyscreen._tcp.local."
ESPHOME_TYPE = "_esphomelib._tcp.local."
# What ESPHome devices put in `api_encryption`, and what HA's esphome flow
# only tests for presence.
NOISE_PROTOCOL = "Noise_NNpsk0_25519_ChaChaPoly_SHA256"
MDNS_GROUP = "224.0.0.251"
MDNS_PORT = 5353



@pytest.fixture(autouse=True)
def _real_sockets(socket_enabled: None) -> None:
    """Home Assistant's test plugin blocks sockets; these tests need them."""


# ---- the announcer under test ---------------------------------------------------


@dataclass
class Announced:
    """A running announcer and what it should be seen announcing."""

    instance: str
    service_type: str
    host: str
    port: int
    txt: dict[str, str]
    proc: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        """Stop it the way the simulator is stopped (SIGINT), wait for exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.returncode == 0, self.proc.stderr.read() if self.proc.stderr else ""


@pytest.fixture(scope="session")
def announcer_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the test-only driver of the responder (firmware/test/tools)."""
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler")
    out = tmp_path_factory.mktemp("mdns") / "mdns_announce"
    subprocess.run(
        [
            cc,
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O1",
            f"-I{FIRMWARE / 'host'}",
            f"-I{FIRMWARE / 'components/howdy_core/include'}",
            str(FIRMWARE / "test/tools/mdns_announce.c"),
            str(FIRMWARE / "host/mdns_packet.c"),
            str(FIRMWARE / "host/mdns_responder.c"),
            "-lpthread",
            "-o",
            str(out),
        ],
        check=True,
    )
    return out


def _unique_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _device_txt(mac: str, key: bool, *, esphome: bool) -> dict[str, str]:
    """The TXT records the device publishes (see docs/mdns.md)."""
    if esphome:
        txt = {
            "friendly_name": "Howdy Test",
            "version": "2025.4.0",
            "mac": mac,
            "platform": "ESP32",
            "board": "esp32-p4-wifi6-touch-lcd-3.4c",
            "network": "wifi",
        }
    else:
        txt = {
            "mac": mac,
            "version": "0.1.0",
            "board": "sim",
            "friendly_name": "Howdy Test",
        }
    if key:
        txt["api_encryption"] = NOISE_PROTOCOL
    return txt


@pytest.fixture
def announce(announcer_binary: Path) -> Iterator[object]:
    """Start announcers; every one still running is stopped at teardown."""
    started: list[Announced] = []

    def _start(*, esphome: bool = False, key: bool = True) -> Announced:
        name = _unique_name("howdytest")
        mac = secrets.token_hex(6)
        port = 20000 + secrets.randbelow(20000)
        service = "_esphomelib._tcp" if esphome else "_howdyscreen._tcp"
        txt = _device_txt(mac, key, esphome=esphome)
        proc = subprocess.Popen(
            [
                str(announcer_binary),
                name,
                service,
                str(port),
                *(f"{k}={v}" for k, v in txt.items()),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("announcing"), proc.stderr.read() if proc.stderr else line
        ann = Announced(
            instance=name,
            service_type=f"{service}.local.",
            host=name,
            port=port,
            txt=txt,
            proc=proc,
        )
        started.append(ann)
        return ann

    yield _start
    for ann in started:
        ann.stop()


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


def _check_howdy_txt(props: dict[str, str | None], ann: Announced, key: bool) -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", props["mac"] or "")
    assert props["version"]
    assert props["board"]
    assert props["friendly_name"]
    if key:
        assert props["api_encryption"] == NOISE_PROTOCOL
    else:
        assert "api_encryption" not in props
    assert props == ann.txt


# ---- tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [True, False], ids=["encrypted", "plaintext"])
async def test_browse_on_loopback(announce: object, key: bool) -> None:
    """A browser on loopback finds the service, its TXT, port and 127.0.0.1."""
    ann = announce(key=key)
    async with _zeroconf(["127.0.0.1"]) as azc:
        info = await _discover(azc.zeroconf, ann)
    assert info.port == ann.port
    assert info.server == f"{ann.host}.local."
    assert "127.0.0.1" in info.parsed_addresses()
    _check_howdy_txt(info.decoded_properties, ann, key)


async def test_seen_by_home_assistant_zeroconf(announce: object) -> None:
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


async def test_esphome_mode(announce: object) -> None:
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
    assert props["friendly_name"] == ann.txt["friendly_name"]
    assert info.server is not None
    assert info.server.removesuffix(".local.") == ann.host
    assert props["api_encryption"] == NOISE_PROTOCOL
    for key in ("version", "platform", "board", "network"):
        assert props[key], key


async def test_goodbye_on_stop(announce: object) -> None:
    """Stopping the announcer sends goodbyes: browsers drop it at once."""
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
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    return sock


async def test_legacy_unicast_and_malformed_packets(announce: object) -> None:
    """Garbage does not kill the responder; a one-shot query (source port not
    5353) gets a plain unicast DNS answer with its id and 127.0.0.1."""
    ann = announce()
    host = f"{ann.host}.local."
    with _loopback_query_socket() as sock:
        garbage = [
            b"",
            b"\x00" * 11,
            struct.pack("!HHHHHH", 1, 0, 0xFFFF, 0xFFFF, 0, 0),
            struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\0\x01\0\x01",  # self pointer
            struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x3f" + b"a" * 10,  # cut label
            os.urandom(600),
        ]
        for packet in garbage:
            sock.sendto(packet, (MDNS_GROUP, MDNS_PORT))
        assert ann.proc.poll() is None

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
    qid_r, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", answer[:12])
    assert flags & 0x8000  # a response
    assert qd == 1  # the question is echoed
    assert an >= 1
    assert answer[12 : len(query)] == query[12:]
    # The A record follows the echoed question; its name points at it.
    rr = answer[len(query) :]
    assert rr[:2] == b"\xc0\x0c"
    rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", rr[2:12])
    assert (rtype, rclass, rdlen) == (1, 1, 4)  # no cache-flush bit for legacy
    assert 0 < ttl <= 10
    assert socket.inet_ntoa(rr[12:16]) == "127.0.0.1"
    assert ann.proc.poll() is None
