"""A TCP proxy that makes a link worse: fixed delay plus jitter, in order.

Every segment read from one side is forwarded to the other no earlier than
``delay + U(0, jitter)`` after it was read, and never before the segment
read before it (TCP keeps order, so jitter shows up as bunching, as on a
real congested WiFi link). Both directions by default, or only one.

    python -m bench.linkproxy --upstream 127.0.0.1:6053 --listen-port 16053 \\
        --delay-ms 20 --jitter-ms 100
    python -m bench.linkproxy --self-test

In code (the degraded-link benchmark):

    async with LinkProxy("127.0.0.1", sim.port, delay_ms=20, jitter_ms=100) as proxy:
        ... point Home Assistant at 127.0.0.1:proxy.port ...

The self-test passes bytes through the proxy and checks they arrive intact
and in order, and that the added delay stays within [delay, delay + jitter]
plus a scheduling allowance; it reports the measured added delay, against a
direct connection and a 0 ms proxy measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass, field
import random
import struct
import sys
import time
from typing import Any

from .common import Context, log, summary, write_result

READ_SIZE = 65536


@dataclass
class LinkStats:
    """What went through one proxy."""

    segments: int = 0
    bytes: int = 0
    added_ms: list[float] = field(default_factory=list)  # release - read, per segment


class LinkProxy:
    """Delay + jitter TCP proxy on 127.0.0.1 (an ephemeral port unless given)."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        seed: int = 7,
        listen_port: int = 0,
        directions: str = "both",  # "both", "down" (to the client), "up"
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = delay_ms / 1000
        self.jitter_s = jitter_ms / 1000
        self.rng = random.Random(seed)  # noqa: S311  (simulation, not security)
        self.listen_port = listen_port
        self.directions = directions
        self.port = 0
        self.stats = LinkStats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.listen_port
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close the listener and every proxied connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task

    async def __aenter__(self) -> LinkProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        delay_up = self.directions in ("both", "up")
        delay_down = self.directions in ("both", "down")
        self._spawn(self._pump(reader, up_writer, delay_up))
        self._spawn(self._pump(up_reader, writer, delay_down))

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delayed: bool
    ) -> None:
        queue: asyncio.Queue[tuple[float, float, bytes]] = asyncio.Queue()

        async def release() -> None:
            while True:
                read_at, due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                self.stats.added_ms.append((time.monotonic() - read_at) * 1000)
                del self.stats.added_ms[:-100000]
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        releaser = asyncio.create_task(release())
        last_due = 0.0
        try:
            while True:
                data = await reader.read(READ_SIZE)
                now = time.monotonic()
                if not data:
                    queue.put_nowait((now, now, b""))
                    break
                self.stats.segments += 1
                self.stats.bytes += len(data)
                due = now
                if delayed:
                    due += self.delay_s + self.rng.uniform(0, self.jitter_s)
                due = max(due, last_due)  # order-preserving
                last_due = due
                queue.put_nowait((now, due, data))
            await releaser
        except (OSError, asyncio.IncompleteReadError):
            releaser.cancel()
        finally:
            with contextlib.suppress(OSError):
                writer.close()


# ---- self-test ----------------------------------------------------------------

RECORD = struct.Struct("<Id")  # sequence number, send time (monotonic seconds)


async def _one_way(port: int, messages: int, period_s: float) -> dict[str, Any]:
    """Send timestamped records to a sink on `port`; measure arrival - send."""
    received: list[tuple[int, float]] = []
    done = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = b""
        while len(received) < messages:
            data = await reader.read(READ_SIZE)
            if not data:
                break
            now = time.monotonic()
            buf += data
            while len(buf) >= RECORD.size:
                seq, sent = RECORD.unpack_from(buf)
                buf = buf[RECORD.size :]
                received.append((seq, (now - sent) * 1000))
        done.set()
        writer.close()

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    sink_port = server.sockets[0].getsockname()[1]
    return {
        "server": server,
        "sink_port": sink_port,
        "received": received,
        "done": done,
        "messages": messages,
        "period_s": period_s,
        "via": port,
    }


async def _measure_link(
    delay_ms: float | None, jitter_ms: float, messages: int, period_s: float
) -> dict[str, Any]:
    """delay_ms None: a direct connection (no proxy)."""
    probe = await _one_way(0, messages, period_s)
    server: asyncio.Server = probe["server"]
    proxy = None
    port = probe["sink_port"]
    if delay_ms is not None:
        proxy = LinkProxy("127.0.0.1", port, delay_ms=delay_ms, jitter_ms=jitter_ms)
        await proxy.start()
        port = proxy.port
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        start = time.monotonic()
        for seq in range(messages):
            due = start + seq * period_s
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(RECORD.pack(seq, time.monotonic()))
            await writer.drain()
        await asyncio.wait_for(
            probe["done"].wait(), 10 + (delay_ms or 0) / 1000 + jitter_ms / 1000
        )
        writer.close()
    finally:
        if proxy is not None:
            await proxy.stop()
        server.close()
    received: list[tuple[int, float]] = probe["received"]
    in_order = [seq for seq, _ in received] == list(range(messages))
    latencies = [lat for _, lat in received]
    return {
        "delay_ms": delay_ms,
        "jitter_ms": jitter_ms,
        "messages": messages,
        "received": len(received),
        "in_order": in_order,
        "latency_ms": summary(latencies),
        "series_ms": latencies,
    }


async def self_test(messages: int = 200, period_s: float = 0.01) -> dict[str, Any]:
    """Direct, 0 ms proxy, and delayed/jittered proxies; checks and figures."""
    cases: list[tuple[float | None, float]] = [
        (None, 0.0),
        (0.0, 0.0),
        (50.0, 0.0),
        (20.0, 50.0),
        (20.0, 100.0),
    ]
    results = [await _measure_link(d, j, messages, period_s) for d, j in cases]
    base = results[1]["latency_ms"]["median"]  # the proxy's own cost
    allowance_ms = 15.0  # event-loop scheduling on a shared 2-core machine
    failures = []
    for r in results:
        if not r["in_order"] or r["received"] != messages:
            failures.append(f"{r['delay_ms']}/{r['jitter_ms']}: lost or reordered data")
        if r["delay_ms"] is None:
            continue
        lo = r["delay_ms"]
        hi = r["delay_ms"] + r["jitter_ms"] + base + allowance_ms
        added = r["latency_ms"]
        r["bounds_ms"] = [lo, hi]
        if added["min"] < lo - 1.0 or added["p95"] > hi:
            failures.append(
                f"{r['delay_ms']}+U(0,{r['jitter_ms']}) ms: measured "
                f"min {added['min']:.1f} p95 {added['p95']:.1f}, expected within [{lo}, {hi:.1f}]"
            )
    return {
        "cases": results,
        "passed": not failures,
        "failures": failures,
        "proxy_overhead_ms_median": base,
        "direct_median_ms": results[0]["latency_ms"]["median"],
    }


def run(ctx: Context) -> dict[str, Any]:
    """The proxy's self-test as a benchmark (figures for docs/performance.md)."""
    result = asyncio.run(self_test(messages=ctx.pick(200, 1000)))
    for case in result["cases"]:
        name = (
            "direct"
            if case["delay_ms"] is None
            else (f"{case['delay_ms']:.0f} ms + U(0, {case['jitter_ms']:.0f}) ms")
        )
        lat = case["latency_ms"]
        log(
            f"  {name:24s} one-way median {lat['median']:.2f} ms, p95 {lat['p95']:.2f} ms"
        )
    log(
        f"  self-test {'passed' if result['passed'] else 'FAILED: ' + '; '.join(result['failures'])}"
    )
    write_result(ctx, "linkproxy", result)
    if not result["passed"]:
        raise RuntimeError(
            "linkproxy self-test failed: " + "; ".join(result["failures"])
        )
    return result


async def _serve(args: argparse.Namespace) -> None:
    host, _, port = args.upstream.rpartition(":")
    async with LinkProxy(
        host,
        int(port),
        delay_ms=args.delay_ms,
        jitter_ms=args.jitter_ms,
        seed=args.seed,
        listen_port=args.listen_port,
        directions=args.directions,
    ) as proxy:
        print(
            f"linkproxy: 127.0.0.1:{proxy.port} -> {args.upstream}, "
            f"{args.delay_ms} ms + U(0, {args.jitter_ms}) ms ({args.directions})",
            flush=True,
        )
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    """Command line: a proxy, or the self-test."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--upstream", help="HOST:PORT to forward to")
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--directions", choices=["both", "down", "up"], default="both")
    args = parser.parse_args(argv)
    if args.self_test:
        result = asyncio.run(self_test())
        for case in result["cases"]:
            lat = case["latency_ms"]
            print(
                f"delay {case['delay_ms']} jitter {case['jitter_ms']}: "
                f"median {lat['median']:.2f} p95 {lat['p95']:.2f} max {lat['max']:.2f} ms"
            )
        print(
            "self-test passed" if result["passed"] else f"FAILED: {result['failures']}"
        )
        return 0 if result["passed"] else 1
    if not args.upstream:
        parser.error("--upstream is required (or --self-test)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
