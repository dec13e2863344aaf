"""A client that says goodbye and closes, and a reconnect right behind it.

Home Assistant's esphome config flow sends DisconnectRequest and closes its
socket without reading the answer; within milliseconds the integration's
reconnect logic opens a new connection and sends the Noise hello and
handshake in one write. The simulator is frozen (SIGSTOP) while both
clients act, so the whole exchange lands in the same poll round of the
device, every time: the ordering a loaded machine produces only now and then.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
import contextlib
import os
import select
import signal
import socket
import struct
import time

from noise.connection import NoiseConnection  # type: ignore[import-untyped]
import pytest

from tests.simulator import Simulator

HELLO_REQUEST = 1
HELLO_RESPONSE = 2
DISCONNECT_REQUEST = 5
DEVICE_INFO_REQUEST = 9
DEVICE_INFO_RESPONSE = 10


class NoiseLink:
    """A minimal blocking Noise client (what aioesphomeapi puts on the wire)."""

    def __init__(self, sim: Simulator) -> None:
        self.sock = socket.create_connection((sim.host, sim.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        proto = NoiseConnection.from_name(b"Noise_NNpsk0_25519_ChaChaPoly_SHA256")
        proto.set_as_initiator()
        assert sim.key is not None
        proto.set_psks(psk=base64.b64decode(sim.key))
        proto.set_prologue(b"NoiseAPIInit\x00\x00")
        proto.start_handshake()
        self.proto = proto
        self.buf = b""

    def send_hello_and_handshake(self) -> None:
        """Client hello and handshake frame in one write, as aioesphomeapi does."""
        msg = self.proto.write_message()
        size = len(msg) + 1
        self.sock.sendall(b"\x01\x00\x00" + bytes((1, size >> 8, size & 0xFF, 0)) + msg)

    def frame(self, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 3:
                size = (self.buf[1] << 8) | self.buf[2]
                if len(self.buf) >= 3 + size:
                    out, self.buf = self.buf[3 : 3 + size], self.buf[3 + size :]
                    return out
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.sock], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("no frame from the device")
            data = self.sock.recv(4096)
            if not data:
                raise EOFError("the device closed the connection")
            self.buf += data

    def finish_handshake(self) -> None:
        server_hello = self.frame()
        assert server_hello[0] == 1, server_hello
        answer = self.frame()
        assert answer[0] == 0, answer
        self.proto.read_message(answer[1:])

    def send(self, msg_type: int, payload: bytes = b"") -> None:
        data = self.proto.encrypt(struct.pack(">HH", msg_type, len(payload)) + payload)
        self.sock.sendall(bytes((1, len(data) >> 8, len(data) & 0xFF)) + data)

    def receive(self) -> int:
        plain = self.proto.decrypt(self.frame())
        return int(struct.unpack(">H", plain[:2])[0])

    def hello(self, client_info: bytes) -> None:
        self.send(HELLO_REQUEST, b"\x0a" + bytes((len(client_info),)) + client_info)
        assert self.receive() == HELLO_RESPONSE


@contextlib.contextmanager
def frozen(sim: Simulator) -> Iterator[None]:
    """Stops the simulator for the block; it then sees everything at once."""
    os.kill(sim.proc.pid, signal.SIGSTOP)
    try:
        yield
        time.sleep(0.05)  # let loopback deliver the bytes before the device runs
    finally:
        os.kill(sim.proc.pid, signal.SIGCONT)


@pytest.mark.parametrize(
    "old_first", [True, False], ids=["goodbye-first", "reconnect-first"]
)
def test_goodbye_and_reconnect_in_one_poll_round(
    start_sim: Callable[..., Simulator], old_first: bool
) -> None:
    sim = start_sim(encrypted=True, extra_args=["--esphome-mode"])
    for _ in range(5):
        old = NoiseLink(sim)
        old.send_hello_and_handshake()
        old.finish_handshake()
        old.hello(b"config flow")
        old.send(DEVICE_INFO_REQUEST)
        assert old.receive() == DEVICE_INFO_RESPONSE
        with frozen(sim):
            if old_first:
                old.send(DISCONNECT_REQUEST)
                old.sock.close()
            new = NoiseLink(sim)
            new.send_hello_and_handshake()
            if not old_first:
                old.send(DISCONNECT_REQUEST)
                old.sock.close()
        new.finish_handshake()
        new.hello(b"Home Assistant")
        new.send(DEVICE_INFO_REQUEST)
        assert new.receive() == DEVICE_INFO_RESPONSE
        new.send(DISCONNECT_REQUEST)
        new.sock.close()
    sim.wait_for_log(r"hello from 'Home Assistant'")
    assert "refused" not in sim.log()
