"""Delivery under load, with a real outbox and a real aiosmtpd server: urgent notices
first, one SMTP connection across a backlog, and a worker on its own loop that a
busy intake loop cannot starve."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

import anyio
import pytest

from relay import worker as worker_module
from relay.delivery import MaildirSender, SmtpSender
from relay.metrics import Metrics
from relay.outbox import NewItem, SqliteOutbox
from relay.settings import DeliverySettings
from relay.worker import Worker, WorkerThread
from tests.smtpd import RecordingHandler, SettingsFactory, SmtpdFactory

NOW = 1_800_000_000.0


def urgent(item: NewItem) -> NewItem:
    return dataclasses.replace(item, id=f"{item.id}.urgent", kind="urgent", verdict="crisis")


def connections(handler: RecordingHandler) -> int:
    """SMTP sessions the server saw (each begins with STARTTLS in these tests)."""
    return sum(1 for verb, _ in handler.commands if verb == "STARTTLS")


def received_ids(handler: RecordingHandler) -> list[str]:
    return [
        str(message_from_bytes(got.content, policy=policy.SMTP)["Message-ID"])
        for got in handler.received
    ]


def test_claim_takes_urgent_notices_before_older_items(
    outbox: SqliteOutbox, new_item: Callable[..., NewItem]
) -> None:
    """An urgent notice is claimed before ordinary items that have waited longer."""
    ordinary = [new_item() for _ in range(3)]
    notice = urgent(new_item())
    outbox.add(ordinary, now=NOW, give_up_after=3600)
    outbox.add([notice], now=NOW + 5, give_up_after=3600)
    order = [outbox.claim(now=NOW + 10, lease=60) for _ in range(4)]
    assert [i.id if i else None for i in order] == [notice.id] + [i.id for i in ordinary]


def test_urgent_notice_waiting_for_a_retry_does_not_jump_the_queue(
    outbox: SqliteOutbox, new_item: Callable[..., NewItem]
) -> None:
    """Only a due urgent notice goes first; one in backoff waits for its time."""
    notice, ordinary = urgent(new_item()), new_item()
    outbox.add([notice, ordinary], now=NOW, give_up_after=3600)
    outbox.mark_retry(notice.id, now=NOW, next_attempt_at=NOW + 60, error="x",
                      recipients=["a@clinic.example"], failed={})  # fmt: skip
    claimed = outbox.claim(now=NOW + 1, lease=60)
    assert claimed is not None and claimed.id == ordinary.id


async def test_a_backlog_goes_out_over_one_connection(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    new_item: Callable[..., NewItem],
) -> None:
    """Five queued messages are delivered over one SMTP session, urgent one first."""
    server = smtpd()
    items = [new_item() for _ in range(4)]
    notice = urgent(new_item())
    outbox.add([*items, notice], now=NOW, give_up_after=3600)
    sender = SmtpSender(smtp_settings())
    worker = Worker(outbox, sender, DeliverySettings(), Metrics(), clock=lambda: NOW)
    try:
        while await worker.step():
            pass
    finally:
        await sender.close()
    assert outbox.stats().counts["sent"] == 5
    assert connections(server.handler) == 1
    assert received_ids(server.handler)[0] == notice.message_id
    assert ("QUIT", True) in server.handler.commands  # closed politely


async def test_a_dropped_idle_connection_is_replaced_without_a_failed_attempt(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    new_item: Callable[..., NewItem],
) -> None:
    """The server closed the kept connection while we were idle: the next message goes
    out on a fresh one at once, with no retry and no attempt spent."""
    server = smtpd()
    first, second = new_item(), new_item()
    outbox.add([first, second], now=NOW, give_up_after=3600)
    sender = SmtpSender(smtp_settings())
    worker = Worker(outbox, sender, DeliverySettings(), Metrics(), clock=lambda: NOW)
    try:
        assert await worker.step()
        assert sender.connected
        server.controller.loop.call_soon_threadsafe(server.controller._abort_all)
        await asyncio.to_thread(server.controller.idle.wait, 2.0)
        assert await worker.step()
    finally:
        await sender.close()
    second_item = outbox.get(second.id)
    assert second_item is not None
    assert (second_item.state, second_item.attempts) == ("sent", 1)
    assert connections(server.handler) == 2


async def test_an_idle_worker_closes_its_connection(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    new_item: Callable[..., NewItem],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After KEEP_OPEN seconds with nothing to send, the worker QUITs the session."""
    monkeypatch.setattr(worker_module, "KEEP_OPEN", 0.2)
    server = smtpd()
    outbox.add([new_item()], now=NOW, give_up_after=3600)
    sender = SmtpSender(smtp_settings())
    worker = Worker(outbox, sender, DeliverySettings(poll_interval=0.05), Metrics(),
                    clock=lambda: NOW)  # fmt: skip
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        with anyio.fail_after(5):
            while outbox.stats().counts["sent"] != 1:  # noqa: ASYNC110
                await anyio.sleep(0.02)
            while sender.connected:  # noqa: ASYNC110
                await anyio.sleep(0.02)
            # the client closes its side first: the server reads the QUIT a moment later
            while ("QUIT", True) not in server.handler.commands:  # noqa: ASYNC110
                await anyio.sleep(0.02)
        tg.cancel_scope.cancel()
    assert ("QUIT", True) in server.handler.commands


async def test_delivery_goes_on_while_the_intake_loop_is_blocked(
    tmp_path: Path, new_item: Callable[..., NewItem]
) -> None:
    """The worker runs on a loop of its own: while this loop is busy (as under a flood
    of posts), a wake from here is heard and the backlog is delivered meanwhile."""
    box = SqliteOutbox(tmp_path / "outbox.sqlite3")
    worker = Worker(box, MaildirSender(tmp_path / "mail"),
                    DeliverySettings(poll_interval=60), Metrics())  # fmt: skip
    thread = WorkerThread(worker)
    thread.start()
    try:
        await anyio.sleep(0.2)  # the worker found nothing and waits (60 s poll)
        box.add([new_item() for _ in range(20)], now=time.time(), give_up_after=3600)
        worker.wake()
        deadline = time.monotonic() + 5
        while box.stats().counts["sent"] < 20 and time.monotonic() < deadline:
            time.sleep(0.05)  # noqa: ASYNC251 (this loop is blocked on purpose)
        assert box.stats().counts["sent"] == 20
    finally:
        await anyio.to_thread.run_sync(thread.stop)
        box.close()
    assert not thread._thread or not thread._thread.is_alive()
    worker.wake()  # an intake finishing after the worker stopped: no error reaches it
