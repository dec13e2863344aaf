"""howdyscreen-sim against the real client, aioesphomeapi's APIClient.

Every test starts its own simulator on a free loopback port (tests/simulator.py)
and talks to it over a real socket, with and without Noise encryption. Raw
sockets play the misbehaving peers (vanishing, not reading, sending garbage).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import inspect
import os
import socket
import struct
import sys
from typing import Any

from aioesphomeapi import (
    APIClient,
    APIConnectionError,
    EntityCategory,
    InvalidEncryptionKeyAPIError,
    NumberInfo,
    NumberMode,
    NumberState,
    RequiresEncryptionAPIError,
    SensorInfo,
    SensorState,
    SensorStateClass,
    SwitchInfo,
    SwitchState,
    VoiceAssistantFeature,
)
from aioesphomeapi.api_pb2 import (  # type: ignore[attr-defined]
    HelloRequest,
    SwitchCommandRequest,
)
import pytest

from tests.simulator import Simulator

ENCRYPTION = pytest.mark.parametrize(
    "encrypted", [True, False], ids=["noise", "plaintext"]
)
ALL_FEATURES = (
    VoiceAssistantFeature.VOICE_ASSISTANT
    | VoiceAssistantFeature.SPEAKER
    | VoiceAssistantFeature.API_AUDIO
    | VoiceAssistantFeature.TIMERS
    | VoiceAssistantFeature.ANNOUNCE
    | VoiceAssistantFeature.START_CONVERSATION
)
MAX_CLIENTS = 4  # HOWDY_API_MAX_CLIENTS


def fnv1a(text: str) -> int:
    """The entity key the device derives from an object_id (docs/protocol.md)."""
    h = 2166136261
    for byte in text.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h or 1


async def _maybe_await(result: Any) -> None:
    """Commands are coroutines in some aioesphomeapi versions, plain calls in others."""
    if inspect.isawaitable(result):
        await result


@contextlib.asynccontextmanager
async def connected(sim: Simulator, **kwargs: Any) -> AsyncIterator[APIClient]:
    """An APIClient connected to sim (with its key when encrypted)."""
    cli = APIClient(sim.host, sim.port, None, noise_psk=sim.key, **kwargs)
    await asyncio.wait_for(cli.connect(login=False), 15)
    try:
        yield cli
    finally:
        await cli.disconnect()


async def _states(
    cli: APIClient, until: Callable[[dict[int, Any]], bool]
) -> dict[int, Any]:
    """Subscribe and collect the latest state per key until `until` holds."""
    latest: dict[int, Any] = {}
    changed = asyncio.Event()

    def _on_state(state: Any) -> None:
        latest[state.key] = state
        changed.set()

    cli.subscribe_states(_on_state)
    async with asyncio.timeout(10):
        while not until(latest):
            changed.clear()
            await changed.wait()
    return latest


# ---- raw plaintext frames ---------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def frame(msg_type: int, payload: bytes = b"") -> bytes:
    """A plaintext API frame: 0x00, varint length, varint type, payload."""
    return b"\x00" + _varint(len(payload)) + _varint(msg_type) + payload


async def _read_varint(reader: asyncio.StreamReader) -> int:
    shift = value = 0
    while True:
        byte = (await reader.readexactly(1))[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One plaintext frame from the device: (type, payload)."""
    assert await reader.readexactly(1) == b"\x00"
    length = await _read_varint(reader)
    msg_type = await _read_varint(reader)
    return msg_type, await reader.readexactly(length)


async def read_until_type(reader: asyncio.StreamReader, msg_type: int) -> bytes:
    async with asyncio.timeout(5):
        while True:
            got, payload = await read_frame(reader)
            if got == msg_type:
                return payload


HELLO = frame(
    1,
    HelloRequest(
        client_info="raw-test", api_version_major=1, api_version_minor=10
    ).SerializeToString(),
)


@contextlib.asynccontextmanager
async def raw(
    sim: Simulator,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def closed_by_device(reader: asyncio.StreamReader, timeout: float = 5.0) -> bool:
    """Read (and discard) until the device closes the connection."""
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


async def assert_serves(sim: Simulator) -> None:
    """The device is alive and answers a fresh client."""
    assert sim.running, sim.log()
    async with connected(sim) as cli:
        info = await cli.device_info()
        assert info.name == sim.name


# ---- device info and entities ---------------------------------------------------------


@ENCRYPTION
async def test_device_info(
    start_sim: Callable[..., Simulator], encrypted: bool
) -> None:
    sim = start_sim(encrypted=encrypted)
    async with connected(sim, expected_name=sim.name) as cli:
        info = await cli.device_info()
        api_version = cli.api_version
    assert api_version is not None
    assert (api_version.major, api_version.minor) >= (1, 10)
    assert info.name == sim.name
    assert info.friendly_name == sim.name
    assert info.manufacturer == "HowdyScreen"
    assert info.model == "HowdyScreen Simulator"
    # Home Assistant's esphome integration splits project_name on the dot.
    vendor, product = info.project_name.split(".", 1)
    assert vendor
    assert product
    assert info.project_version
    assert info.esphome_version
    assert info.uses_password is False
    assert len(info.mac_address) == 17
    assert info.mac_address.count(":") == 5
    assert info.voice_assistant_feature_flags == ALL_FEATURES
    assert info.voice_assistant_feature_flags_compat(api_version) == ALL_FEATURES


async def test_identity_options(start_sim: Callable[..., Simulator]) -> None:
    sim = start_sim(
        extra_args=["--friendly-name", "Kitchen Screen", "--mac", "02:48:12:34:56:78"]
    )
    async with connected(sim) as cli:
        info = await cli.device_info()
    assert info.friendly_name == "Kitchen Screen"
    assert info.mac_address == "02:48:12:34:56:78"
    # The key block is printed the way the screen shows it.
    out = sim.stdout()
    assert sim.key is not None
    assert sim.key in out
    assert sim.name in out


@ENCRYPTION
async def test_list_entities(
    start_sim: Callable[..., Simulator], encrypted: bool
) -> None:
    sim = start_sim(encrypted=encrypted)
    async with connected(sim) as cli:
        entities, services = await cli.list_entities_services()
    assert services == []
    by_id = {e.object_id: e for e in entities}
    for entity in entities:
        assert entity.key == fnv1a(entity.object_id), entity
        # unique_id left the client's model in later aioesphomeapi versions.
        unique_id = getattr(entity, "unique_id", None)
        if unique_id is not None:
            assert unique_id.endswith(entity.object_id)
    memory = ("heap_free", "heap_min_free", "psram_free")
    for object_id in memory:
        info = by_id[object_id]
        assert isinstance(info, SensorInfo)
        assert info.unit_of_measurement == "B"
        assert info.device_class == "data_size"
        assert info.state_class == SensorStateClass.MEASUREMENT
        assert info.entity_category == EntityCategory.DIAGNOSTIC
        assert info.accuracy_decimals == 0
    uptime = by_id["uptime"]
    assert isinstance(uptime, SensorInfo)
    assert (uptime.unit_of_measurement, uptime.device_class) == ("s", "duration")
    assert uptime.state_class == SensorStateClass.TOTAL_INCREASING
    for core in (0, 1):
        cpu = by_id[f"cpu_load_core{core}"]
        assert isinstance(cpu, SensorInfo)
        assert cpu.unit_of_measurement == "%"
        assert cpu.state_class == SensorStateClass.MEASUREMENT
        assert cpu.accuracy_decimals == 1
    # Per-task CPU load of the tasks a voice turn's audio passes through.
    for object_id in ("cpu_task_mic", "cpu_task_speaker", "cpu_task_api"):
        task = by_id[object_id]
        assert isinstance(task, SensorInfo)
        assert task.unit_of_measurement == "%"
        assert task.state_class == SensorStateClass.MEASUREMENT
        assert task.entity_category == EntityCategory.DIAGNOSTIC
        assert task.accuracy_decimals == 1
        assert task.disabled_by_default
    mute = by_id["mute"]
    assert isinstance(mute, SwitchInfo)
    assert mute.entity_category == EntityCategory.CONFIG
    volume = by_id["volume"]
    assert isinstance(volume, NumberInfo)
    assert (volume.min_value, volume.max_value, volume.step) == (0.0, 100.0, 1.0)
    assert volume.unit_of_measurement == "%"
    assert volume.mode == NumberMode.SLIDER
    # Home Assistant mirrors disabled_by_default into its registry: only what a
    # user charts or automates on starts enabled.
    enabled = {e.object_id for e in entities if not e.disabled_by_default}
    assert enabled == {
        "heap_free",
        "psram_free",
        "cpu_load_core0",
        "cpu_load_core1",
        "mute",
        "volume",
        "mic_latency",
        "playback_latency",
        "audio_underruns",
        "audio_overruns",
    }
    assert {
        "heap_min_free",
        "uptime",
        "cpu_task_mic",
        "cpu_task_speaker",
        "cpu_task_api",
        "audio_pool_slot_bytes",
        "audio_pool_slots",
    } <= set(by_id) - enabled


@ENCRYPTION
async def test_subscribe_states(
    start_sim: Callable[..., Simulator], encrypted: bool
) -> None:
    sim = start_sim(encrypted=encrypted)
    async with connected(sim) as cli:
        entities, _ = await cli.list_entities_services()
        keys = {e.key for e in entities}
        states = await _states(cli, lambda got: keys <= got.keys())
    by_id = {e.object_id: states[e.key] for e in entities}
    assert isinstance(by_id["heap_free"], SensorState)
    # Measured from malloc; a sanitizer build has no malloc statistics and
    # reports the value as missing instead.
    heap, heap_min = by_id["heap_free"], by_id["heap_min_free"]
    assert heap.missing_state == heap_min.missing_state
    if not heap.missing_state:
        assert heap.state > 0
        assert heap_min.state <= heap.state
    # The simulator has no PSRAM: the sensor exists but reports no value.
    assert by_id["psram_free"].missing_state
    assert by_id["uptime"].state >= 0
    for core in (0, 1):
        assert 0.0 <= by_id[f"cpu_load_core{core}"].state <= 100.0
    # Per-task load has no value until its first full window (2 s) passed.
    for object_id in ("cpu_task_mic", "cpu_task_speaker", "cpu_task_api"):
        task = by_id[object_id]
        assert task.missing_state or 0.0 <= task.state <= 100.0, object_id
    assert isinstance(by_id["mute"], SwitchState)
    assert by_id["mute"].state is False
    assert isinstance(by_id["volume"], NumberState)
    assert 0 <= by_id["volume"].state <= 100


async def test_periodic_state_push(start_sim: Callable[..., Simulator]) -> None:
    """Without any change the device re-sends every state each state period."""
    sim = start_sim(extra_args=["--state-period", "1"])
    async with connected(sim) as cli:
        key = fnv1a("mute")
        seen = 0
        got_two = asyncio.Event()

        def _on_state(state: Any) -> None:
            nonlocal seen
            if state.key == key:
                seen += 1
                if seen >= 3:
                    got_two.set()

        cli.subscribe_states(_on_state)
        await asyncio.wait_for(got_two.wait(), 5)


# ---- commands --------------------------------------------------------------------------


@ENCRYPTION
async def test_switch_and_number_commands(
    start_sim: Callable[..., Simulator], encrypted: bool
) -> None:
    sim = start_sim(encrypted=encrypted)
    mute, volume = fnv1a("mute"), fnv1a("volume")
    async with connected(sim) as cli, connected(sim) as watcher:
        watched = await _states(watcher, lambda got: {mute, volume} <= got.keys())
        await _states(cli, lambda got: {mute, volume} <= got.keys())

        async def _wait(client_states: dict[int, Any], key: int, value: Any) -> None:
            async with asyncio.timeout(5):
                while client_states[key].state != value:
                    await asyncio.sleep(0.02)

        await _maybe_await(cli.switch_command(mute, True))
        await _wait(watched, mute, True)  # pushed to every subscriber
        await _maybe_await(cli.number_command(volume, 42))
        await _wait(watched, volume, 42.0)
        # Out of range is clamped, fractions go to the step.
        await _maybe_await(cli.number_command(volume, 250))
        await _wait(watched, volume, 100.0)
        await _maybe_await(cli.number_command(volume, 12.6))
        await _wait(watched, volume, 13.0)
        await _maybe_await(cli.switch_command(mute, False))
        await _wait(watched, mute, False)
        # A command for a key that does not exist is refused; the link stays.
        await _maybe_await(cli.switch_command(0x1234, True))
        assert (await cli.device_info()).name == sim.name
    assert "refused" in sim.log()


# ---- encryption ------------------------------------------------------------------------


async def test_wrong_key(start_sim: Callable[..., Simulator]) -> None:
    sim = start_sim()
    wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    assert wrong != sim.key
    cli = APIClient(sim.host, sim.port, None, noise_psk=wrong)
    with pytest.raises(InvalidEncryptionKeyAPIError):
        await asyncio.wait_for(cli.connect(login=False), 15)
    await cli.disconnect(force=True)
    await assert_serves(sim)


async def test_plaintext_client_on_encrypted_device(
    start_sim: Callable[..., Simulator],
) -> None:
    sim = start_sim()
    cli = APIClient(sim.host, sim.port, None)
    with pytest.raises(RequiresEncryptionAPIError):
        await asyncio.wait_for(cli.connect(login=False), 15)
    await cli.disconnect(force=True)
    await assert_serves(sim)


async def test_key_persists_across_restarts(
    start_sim: Callable[..., Simulator], tmp_path: Any
) -> None:
    first = start_sim(name="howdy-persist")
    key = first.key
    assert first.stop() == 0
    second = start_sim(name="howdy-persist")
    assert second.key == key
    async with connected(second) as cli:
        assert (await cli.device_info()).name == "howdy-persist"


async def test_given_key(start_sim: Callable[..., Simulator]) -> None:
    key = "7JmKZ1q5tRb1mcNV7cDNVTqMnQ8CKUoZ/ym8qwwVl24="
    sim = start_sim(key=key)
    assert sim.key == key
    await assert_serves(sim)


# ---- what Home Assistant's esphome integration sends ---------------------------------


async def test_esphome_integration_subscriptions(
    start_sim: Callable[..., Simulator],
) -> None:
    """The subscriptions HA's esphome manager opens are accepted, the link stays up."""
    sim = start_sim(extra_args=["--esphome-mode"])
    async with connected(sim) as cli:
        await cli.device_info()
        await cli.list_entities_services()
        cli.subscribe_states(lambda _state: None)
        if hasattr(cli, "subscribe_home_assistant_states_and_services"):
            cli.subscribe_home_assistant_states_and_services(
                on_state=lambda *_: None,
                on_service_call=lambda *_: None,
                on_state_sub=lambda *_: None,
                on_state_request=lambda *_: None,
            )
        else:
            cli.subscribe_service_calls(lambda *_: None)
            cli.subscribe_home_assistant_states(lambda *_: None, lambda *_: None)
        cli.subscribe_logs(lambda *_: None)

        async def _start(*_args: Any) -> int | None:
            return 0

        async def _stop(*_args: Any) -> None:
            return None

        unsubscribe = cli.subscribe_voice_assistant(
            handle_start=_start, handle_stop=_stop, handle_audio=_stop
        )
        config = await cli.get_voice_assistant_configuration(5)
        assert config.max_active_wake_words >= 1
        # Something outside the profile (a light command) is refused, not fatal.
        await _maybe_await(cli.light_command(key=1, state=True))
        await asyncio.sleep(0.2)
        assert (await cli.device_info()).name == sim.name
        unsubscribe()
    log = sim.log()
    assert "voice assistant subscribed" in log
    assert "refused message type 32" in log


# ---- several clients, vanishing clients -------------------------------------------------


@ENCRYPTION
async def test_several_clients(
    start_sim: Callable[..., Simulator], encrypted: bool
) -> None:
    sim = start_sim(encrypted=encrypted)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(connected(sim)) for _ in range(MAX_CLIENTS)
        ]
        infos = await asyncio.gather(*(c.device_info() for c in clients))
        assert {i.name for i in infos} == {sim.name}
        # One more than the device has slots for is turned away...
        extra = APIClient(sim.host, sim.port, None, noise_psk=sim.key)
        with pytest.raises(APIConnectionError):
            await asyncio.wait_for(extra.connect(login=False), 15)
        await extra.disconnect(force=True)
        # ...while the others keep working.
        infos = await asyncio.gather(*(c.device_info() for c in clients))
        assert len(infos) == MAX_CLIENTS
    # Slots come back after the clients leave.
    await assert_serves(sim)


@ENCRYPTION
async def test_client_vanishes(
    start_sim: Callable[..., Simulator], encrypted: bool
) -> None:
    """Sockets closed without Disconnect (FIN and RST) free their slots."""
    sim = start_sim(encrypted=encrypted)
    async with connected(sim) as survivor:
        for _ in range(MAX_CLIENTS + 2):
            async with raw(sim) as (_reader, writer):
                if not encrypted:
                    writer.write(HELLO)
                    await writer.drain()
            sock = socket.create_connection((sim.host, sim.port))
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            sock.close()  # RST
        # A real client in a process that is killed mid-session (SIGKILL:
        # no Disconnect, the kernel closes its socket).
        await _killed_client(sim)
        await asyncio.sleep(0.3)
        assert (await survivor.device_info()).name == sim.name
        # All slots are usable again.
        async with contextlib.AsyncExitStack() as stack:
            others = [
                await stack.enter_async_context(connected(sim))
                for _ in range(MAX_CLIENTS - 1)
            ]
            assert len(others) == MAX_CLIENTS - 1
    assert sim.running


_CLIENT_SCRIPT = """
import asyncio, sys
from aioesphomeapi import APIClient

async def main():
    key = sys.argv[3] or None
    cli = APIClient(sys.argv[1], int(sys.argv[2]), None, noise_psk=key)
    await cli.connect(login=False)
    await cli.device_info()
    cli.subscribe_states(lambda s: None)
    print("ready", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def _killed_client(sim: Simulator) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CLIENT_SCRIPT,
        sim.host,
        str(sim.port),
        sim.key or "",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.strip() == b"ready"
    finally:
        proc.kill()
        await proc.wait()


async def test_client_stops_reading_is_dropped_by_keepalive(
    start_sim: Callable[..., Simulator],
) -> None:
    """A peer that neither reads nor answers pings is dropped; others go on."""
    sim = start_sim(encrypted=False, extra_args=["--keepalive", "2"])
    async with connected(sim) as survivor, raw(sim) as (_reader, writer):
        writer.write(HELLO + frame(20))  # hello, subscribe states; then silence
        await writer.drain()
        await asyncio.to_thread(
            sim.wait_for_log, r"no answer to the keepalive ping", 10
        )
        assert (await survivor.device_info()).name == sim.name


async def test_client_not_reading_overflows_and_is_dropped(
    start_sim: Callable[..., Simulator],
) -> None:
    """Requests piling up answers nobody reads end in a drop, not a stall."""
    sim = start_sim(encrypted=False)
    async with connected(sim) as survivor:
        sock = socket.create_connection((sim.host, sim.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            sock.sendall(HELLO)
            burst = frame(11) * 2000  # ListEntitiesRequest: ~1 KiB of answer each
            sock.setblocking(False)
            sent = 0
            async with asyncio.timeout(30):
                while "not reading" not in sim.log():
                    with contextlib.suppress(BlockingIOError):
                        sent += sock.send(burst)
                    await asyncio.sleep(0.01)
                    assert (await survivor.device_info()).name == sim.name
        finally:
            sock.close()
        assert (await survivor.device_info()).name == sim.name


# ---- malformed input ---------------------------------------------------------------


async def test_malformed_plaintext(start_sim: Callable[..., Simulator]) -> None:
    sim = start_sim(encrypted=False)
    # Not an API frame at all.
    async with raw(sim) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await closed_by_device(reader)
    # A frame announcing more than the device will ever buffer.
    async with raw(sim) as (reader, writer):
        writer.write(HELLO + b"\x00" + _varint(10_000_000) + _varint(11))
        assert await closed_by_device(reader)
    # An overlong varint.
    async with raw(sim) as (reader, writer):
        writer.write(b"\x00" + b"\xff" * 12)
        assert await closed_by_device(reader)
    # A message before the hello is a protocol violation.
    async with raw(sim) as (reader, writer):
        writer.write(frame(7))
        assert await closed_by_device(reader)
    # Unknown types, device-only types and undecodable payloads are refused
    # one by one; the connection stays up and still answers a ping.
    async with raw(sim) as (reader, writer):
        writer.write(HELLO)
        await read_until_type(reader, 2)
        writer.write(frame(9999, b"\x01\x02\x03"))
        writer.write(frame(12))  # ListEntitiesBinarySensorResponse: not in the profile
        writer.write(frame(10, b"\x12\x03abc"))  # DeviceInfoResponse: device-to-client
        writer.write(frame(33, b"\x0d\x01"))  # SwitchCommandRequest, key cut short
        writer.write(frame(92, b"\x12\x04\x0a\x05xy"))  # truncated nested message
        writer.write(frame(92, b"\x12\x00" * 2000))  # decodes larger than the arena
        good = SwitchCommandRequest(key=fnv1a("mute"), state=True).SerializeToString()
        writer.write(frame(33, good))
        writer.write(frame(7))  # PingRequest
        await writer.drain()
        await read_until_type(reader, 8)  # PingResponse
    log = sim.log()
    assert "refused message type 9999" in log
    assert "malformed protobuf" in log
    assert "exceeds the arena" in log
    await assert_serves(sim)


async def test_malformed_noise(start_sim: Callable[..., Simulator]) -> None:
    sim = start_sim()
    cases = [
        os.urandom(64),
        b"\x01\x00\x00",  # empty noise hello, then nothing
        b"\x01\xff\xff" + os.urandom(100),  # frame longer than allowed
        b"\x01\x00\x01\x00" + b"\x01\x00\x31" + b"\x00" * 0x31,  # handshake of garbage
    ]
    for data in cases:
        async with raw(sim) as (reader, writer):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await closed_by_device(reader, timeout=3)
    await assert_serves(sim)


# ---- keepalive ---------------------------------------------------------------------


@pytest.mark.slow
@ENCRYPTION
async def test_idle_connection_survives_a_minute(
    start_sim: Callable[..., Simulator], encrypted: bool
) -> None:
    """Over a minute of idling both sides ping; nobody drops the link."""
    sim = start_sim(
        encrypted=encrypted, extra_args=["--keepalive", "10", "--log-level", "debug"]
    )
    stopped: list[bool] = []
    cli = APIClient(sim.host, sim.port, None, noise_psk=sim.key, keepalive=10)
    await cli.connect(on_stop=lambda expected: _record(stopped, expected), login=False)
    try:
        await cli.device_info()
        await asyncio.sleep(65)
        assert stopped == [], sim.log()
        assert (await cli.device_info()).name == sim.name
    finally:
        await cli.disconnect()
    log = sim.log()
    assert "idle, sending ping" in log  # the device pinged the idle client...
    assert "keepalive timeout" not in log  # ...and was answered


async def _record(stopped: list[bool], expected: bool) -> None:
    stopped.append(expected)


async def test_clean_exit_on_sigterm(start_sim: Callable[..., Simulator]) -> None:
    sim = start_sim()
    stopped: list[bool] = []
    cli = APIClient(sim.host, sim.port, None, noise_psk=sim.key)
    await cli.connect(on_stop=lambda expected: _record(stopped, expected), login=False)
    sim.proc.terminate()
    assert await asyncio.to_thread(sim.proc.wait, 10) == 0
    async with asyncio.timeout(5):
        while not stopped:
            await asyncio.sleep(0.05)
    # The device said goodbye first: the client saw an expected disconnect.
    assert stopped == [True]
    await cli.disconnect(force=True)
