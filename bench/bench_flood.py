"""Delivery under a flood of posts: the real service under uvicorn, a real aiosmtpd sink,
posts at the intake's full rate for ``--seconds`` with a crisis post mixed in every
``--crisis-every`` seconds.

Two runs of the same service: one whose delivery is held (the sink does not offer the
STARTTLS it is asked for), which gives the intake's speed alone; one delivering to the
sink. Printed: intake req/s in both, delivered messages/s during the flood and while the
backlog drains afterwards (unloaded), and the age of the oldest urgent notice when it
reached the sink (from the crisis post's 202). Issue 10 asks for delivery under flood
>= 1/3 of unloaded, and every urgent notice out within 10 s.

    .venv/bin/python bench/bench_flood.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import build_post
from tests.support import RelayProcess, Sink, SinkServer, relay_env_for, wait_for

ORDINARY = json.dumps(
    {
        "name": "Flood Visitor",
        "email": "visitor@example.com",
        "phone": "555-010-1234",
        "message": "Hello, do you have any appointments next Tuesday afternoon? Thank you!",
    }
).encode()
CRISIS = json.dumps(
    {
        "name": "Crisis Visitor",
        "email": "help@example.com",
        "phone": "555-010-9999",
        "message": "I don't want to live anymore. I have saved up my pills to take them tonight.",
    }
).encode()


@dataclass
class TimedSink(Sink):
    """The sink, noting when each submission id arrived."""

    arrived: dict[str, float] = field(default_factory=dict)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.arrived[self.received[-1]["submission_id"]] = time.time()
        return reply


@dataclass
class Flood:
    accepted: int = 0
    other: dict[int, int] = field(default_factory=dict)
    crisis_acked: dict[str, float] = field(default_factory=dict)  # id -> time of the 202
    seconds: float = 0.0


async def _read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(
        (int(x.split(b":")[1]) for x in lines[1:] if x.lower().startswith(b"content-length:")), 0
    )
    return int(lines[0].split()[1]), await reader.readexactly(length)


async def _poster(port: int, request: bytes, until: float, out: Flood) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < until:
            writer.write(request)
            status, _ = await _read(reader)
            if status == 202:
                out.accepted += 1
            else:
                out.other[status] = out.other.get(status, 0) + 1
    finally:
        writer.close()


async def _crisis(port: int, every: float, until: float, out: Flood) -> None:
    request = build_post("/f/contact", CRISIS, "application/json", "127.0.0.1")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < until:
            writer.write(request)
            status, body = await _read(reader)
            if status == 202:
                out.crisis_acked[json.loads(body)["id"]] = time.time()
            await asyncio.sleep(every)
    finally:
        writer.close()


async def _flood(port: int, seconds: float, connections: int, crisis_every: float) -> Flood:
    out = Flood()
    request = build_post("/f/contact", ORDINARY, "application/json", "127.0.0.1")
    start = time.monotonic()
    until = start + seconds
    await asyncio.gather(
        *(_poster(port, request, until, out) for _ in range(connections)),
        _crisis(port, crisis_every, until, out),
    )
    out.seconds = time.monotonic() - start
    return out


def flood(port: int, seconds: float, connections: int, crisis_every: float) -> Flood:
    return asyncio.run(_flood(port, seconds, connections, crisis_every))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--crisis-every", type=float, default=0.5)
    args = parser.parse_args()
    sink = TimedSink()
    server = SinkServer(sink)
    server.up()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # 1. The intake alone: delivery held (STARTTLS asked for, not offered).
            held = RelayProcess(
                Path(tmp) / "held", relay_env_for(server, RELAY_SMTP__SECURITY="starttls")
            )
            held.start()
            try:
                alone = flood(held.port, args.seconds, args.connections, args.crisis_every)
            finally:
                held.stop()
            assert not sink.received, "the held relay delivered nothing"

            # 2. The same flood with delivery running.
            relay = RelayProcess(Path(tmp) / "live", relay_env_for(server))
            relay.start()
            try:
                loaded = flood(relay.port, args.seconds, args.connections, args.crisis_every)
                flood_end = time.time()
                with sink.lock:
                    during = sum(1 for t in sink.arrived.values() if t <= flood_end)
                total = loaded.accepted + len(loaded.crisis_acked)
                drained = wait_for(lambda: len(sink.arrived) >= total, 600, 0.05)
                drain_end = max(sink.arrived.values())
            finally:
                relay.stop()
    finally:
        server.down()
    assert drained, f"only {len(sink.arrived)} of {total} acknowledged posts arrived"
    after = total - during
    unloaded = after / (drain_end - flood_end) if after else float("nan")
    under = during / loaded.seconds
    ages = [sink.arrived[i] - t for i, t in loaded.crisis_acked.items()]
    print(
        f"flood: {args.seconds:.0f} s of JSON posts on {args.connections} keep-alive "
        f"connections, a crisis post every {args.crisis_every} s; real uvicorn, aiosmtpd sink"
    )
    print(
        f"intake, delivery held:    {alone.accepted / alone.seconds:8.0f} req/s "
        f"(other statuses {alone.other})"
    )
    print(
        f"intake, delivery running: {loaded.accepted / loaded.seconds:8.0f} req/s "
        f"(other statuses {loaded.other})"
    )
    print(f"delivered under flood:    {under:8.1f} msg/s ({during} in {loaded.seconds:.1f} s)")
    print(
        f"delivered unloaded:       {unloaded:8.1f} msg/s ({after} while the backlog drained "
        f"in {drain_end - flood_end:.1f} s)"
    )
    print(f"ratio (flood / unloaded): {under / unloaded:8.2f}  (issue 10: >= 0.33)")
    print(f"urgent notices: {len(ages)}, oldest when it left: {max(ages):.2f} s "
          f"(median {sorted(ages)[len(ages) // 2]:.2f} s; issue 10: < 10 s)")  # fmt: skip


if __name__ == "__main__":
    main()
