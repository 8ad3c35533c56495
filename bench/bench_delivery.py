"""Delivery throughput: the relay's worker draining its outbox to a local aiosmtpd sink,
against raw aiosmtplib sending the same messages over one reused connection (as the
worker does) and with one connection each, measured in the same run.

    .venv/bin/python bench/bench_delivery.py [--messages 500]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relay.compose import draft_submission, render
from relay.delivery import SmtpSender
from relay.metrics import Metrics
from relay.outbox import NewItem, SqliteOutbox
from relay.settings import DeliverySettings, SmtpSettings
from relay.worker import Worker
from tests.support import Sink, SinkServer

FIELDS = {
    "name": "Bench Visitor",
    "email": "visitor@example.com",
    "phone": "555-010-1234",
    "message": "Hello, do you have any appointments next Tuesday afternoon? Thank you!",
}


def draft(n: int) -> bytes:
    return draft_submission(
        fields=FIELDS, field_order=list(FIELDS), multiline={"message"}, form_id="contact",
        subject_template="Website contact from {name}", from_address="no-reply@clinic.example",
        recipients=["desk@clinic.example"], submission_id=f"bench{n:06d}", verdict="clean",
        medical_policy="reject", reply_to="visitor@example.com", now=datetime.now(UTC),
    ).to_json()  # fmt: skip


async def raw(port: int, messages: list[bytes]) -> float:
    start = time.perf_counter()
    for body in messages:
        await aiosmtplib.send(body, sender="no-reply@clinic.example",
                              recipients=["desk@clinic.example"], hostname="127.0.0.1",
                              port=port, start_tls=False, use_tls=False)  # fmt: skip
    return time.perf_counter() - start


async def raw_reused(port: int, messages: list[bytes]) -> float:
    start = time.perf_counter()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as smtp:
        for body in messages:
            await smtp.sendmail("no-reply@clinic.example", ["desk@clinic.example"], body)
    return time.perf_counter() - start


async def relay(port: int, outbox: SqliteOutbox, count: int) -> float:
    smtp = SmtpSettings(host="127.0.0.1", port=port, security="none")
    sender = SmtpSender(smtp)
    worker = Worker(outbox, sender, DeliverySettings(), Metrics())
    start = time.perf_counter()
    delivered = 0
    while delivered < count:
        if await worker.step():
            delivered += 1
    await sender.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    n = args.messages
    sink = Sink()
    server = SinkServer(sink)
    server.up()
    try:
        from relay.compose import Draft

        bodies = [render(Draft.from_json(draft(i))).as_bytes() for i in range(n)]
        raw_seconds = asyncio.run(raw(server.port, bodies))
        reused_seconds = asyncio.run(raw_reused(server.port, bodies))
        with tempfile.TemporaryDirectory() as tmp:
            outbox = SqliteOutbox(Path(tmp) / "o.db")
            outbox.add(
                [NewItem(id=f"bench{i:06d}", submission_id=f"bench{i:06d}", form_id="contact",
                         kind="submission", verdict="clean", message_id=f"<bench{i}@x>",
                         sender="no-reply@clinic.example", recipients=["desk@clinic.example"],
                         body=draft(i)) for i in range(n)],
                now=time.time(), give_up_after=3600,
            )  # fmt: skip
            relay_seconds = asyncio.run(relay(server.port, outbox, n))
            outbox.close()
    finally:
        server.down()
    assert len(sink.received) == 3 * n, "every message arrives, all three ways"
    print(f"delivery: {n} messages to a local aiosmtpd sink")
    print(f"{'sender':<44}{'msg/s':>10}")
    print(f"{'raw aiosmtplib.send, one connection each':<44}{n / raw_seconds:>10.0f}")
    print(f"{'raw aiosmtplib, one connection reused':<44}{n / reused_seconds:>10.0f}")
    print(f"{'contact-relay worker (outbox, reused)':<44}{n / relay_seconds:>10.0f}")
    print(
        f"ratio (relay / raw): {reused_seconds / relay_seconds:.2f} against the reused "
        f"connection, {raw_seconds / relay_seconds:.2f} against one connection each"
    )


if __name__ == "__main__":
    main()
