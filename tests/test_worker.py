"""The delivery Worker with a real SqliteOutbox and a real SMTP server (aiosmtpd), or the
MaildirSender where SMTP is beside the point; time comes from a fake clock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import anyio
import pytest

from relay.compose import Draft, render
from relay.delivery import MaildirSender, SmtpSender, backoff
from relay.metrics import Metrics
from relay.outbox import Item, NewItem, SqliteOutbox
from relay.settings import DeliverySettings, SmtpSettings
from relay.worker import Worker
from tests.smtpd import (
    HOST,
    PASSWORD,
    USERNAME,
    RecordingHandler,
    ScriptedFactory,
    SettingsFactory,
    SmtpdFactory,
    free_port,
)

A = "frontdesk@clinic.example"
B = "billing@clinic.example"
INITIAL = 60.0
MAXIMUM = 600.0


class FakeClock:
    """``worker.clock``: returns ``now``, which only the test moves."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def delivery(**overrides: Any) -> DeliverySettings:
    values: dict[str, Any] = {
        "retry_initial": INITIAL,
        "retry_max": MAXIMUM,
        "give_up_after": 86400,
        "lease_seconds": 300,
    }
    return DeliverySettings(**(values | overrides))


@pytest.fixture
def enqueue(
    outbox: SqliteOutbox, new_item: Callable[..., NewItem], clock: FakeClock
) -> Callable[..., str]:
    """``enqueue(give_up_after=86400, **new_item_kwargs)``: store an item now; its id."""

    def add(give_up_after: float = 86400, **kwargs: Any) -> str:
        item = new_item(**kwargs)
        outbox.add([item], now=clock.now, give_up_after=give_up_after)
        return item.id

    return add


@pytest.fixture
def worker_for(outbox: SqliteOutbox, clock: FakeClock) -> Callable[..., Worker]:
    """``worker_for(sender, **delivery_overrides)``; call it inside the (async) test."""

    def make(sender: Any, **overrides: Any) -> Worker:
        return Worker(outbox, sender, delivery(**overrides), Metrics(), clock=clock)

    return make


def get(outbox: SqliteOutbox, item_id: str) -> Item:
    item = outbox.get(item_id)
    assert item is not None
    return item


def attempts(worker: Worker, result: str) -> float:
    value = worker.metrics.registry.get_sample_value(
        "relay_delivery_attempts_total", {"result": result}
    )
    return value or 0.0


def message_ids(handler: RecordingHandler) -> Counter[str]:
    return Counter(
        str(message_from_bytes(got.content, policy=policy.SMTP)["Message-ID"])
        for got in handler.received
    )


def refused_port_settings() -> SmtpSettings:
    """Settings for a port nobody listens on: every attempt fails, fast, as transient."""
    return SmtpSettings(host=HOST, port=free_port(), timeout=2)


# --- outcomes -----------------------------------------------------------------------------


async def test_delivered_is_sent_with_body_purged_and_metadata_kept(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
    clock: FakeClock,
) -> None:
    """Delivered: state sent, body NULL, ids and attempts kept, nothing left to do."""
    server = smtpd()
    item_id = enqueue(recipients=[A, B])
    before = get(outbox, item_id)
    worker = worker_for(SmtpSender(smtp_settings()))

    assert await worker.step() is True

    item = get(outbox, item_id)
    assert item.state == "sent"
    assert item.body is None
    assert item.attempts == 1
    assert item.last_error is None
    assert item.updated_at == clock.now
    assert (item.message_id, item.submission_id, item.form_id, item.sender, item.size) == (
        before.message_id, before.submission_id, before.form_id, before.sender, before.size,
    )  # fmt: skip
    [got] = server.handler.received
    assert got.rcpt_tos == [A, B]
    assert message_ids(server.handler) == {before.message_id: 1}
    assert attempts(worker, "sent") == 1
    assert await worker.step() is False


async def test_transient_failure_requeues_with_backoff(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
    clock: FakeClock,
) -> None:
    """451 after DATA: queued again, next try in [initial, initial*1.1], attempt counted."""
    smtpd(RecordingHandler(data_reply="451 4.3.0 try later"))
    item_id = enqueue()
    worker = worker_for(SmtpSender(smtp_settings()))

    assert await worker.step() is True

    item = get(outbox, item_id)
    assert item.state == "queued"
    assert item.attempts == 1
    assert item.body is not None
    assert item.lease_until is None
    assert item.last_error is not None and "451" in item.last_error
    assert INITIAL <= item.next_attempt_at - clock.now <= INITIAL * 1.1
    assert attempts(worker, "retry") == 1
    assert await worker.step() is False  # not due yet


async def test_repeated_transient_failures_double_the_wait_up_to_retry_max(
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
    clock: FakeClock,
) -> None:
    """Each failure doubles the wait (60, 120, 240, 480) until retry_max (600) caps it."""
    item_id = enqueue()
    worker = worker_for(SmtpSender(refused_port_settings()))
    waits = []
    for n in range(1, 7):
        clock.now = get(outbox, item_id).next_attempt_at
        assert await worker.step() is True
        item = get(outbox, item_id)
        assert (item.state, item.attempts) == ("queued", n)
        waits.append(item.next_attempt_at - clock.now)
    for n, wait in enumerate(waits, start=1):
        base = min(MAXIMUM, INITIAL * 2 ** (n - 1))
        assert base <= wait <= min(MAXIMUM, base * 1.1), (n, wait)
    assert waits[-2:] == [MAXIMUM, MAXIMUM]


async def test_past_give_up_after_goes_dead_with_body_kept(
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
    clock: FakeClock,
) -> None:
    """When the next try would fall past give_up_after, the item goes dead, body kept."""
    item_id = enqueue(give_up_after=100)
    worker = worker_for(SmtpSender(refused_port_settings()))

    assert await worker.step() is True
    assert get(outbox, item_id).state == "queued"  # next try in <= 66 s: inside 100 s
    clock.now = get(outbox, item_id).next_attempt_at
    assert await worker.step() is True

    item = get(outbox, item_id)
    assert item.state == "dead"
    assert item.attempts == 2
    assert item.body is not None
    assert item.recipients == ("frontdesk@clinic.example",)
    assert item.last_error is not None and item.last_error.startswith("gave up after 2 attempts")
    assert worker.metrics.registry.get_sample_value("relay_dead_letters_total") == 1


async def test_5xx_after_data_goes_dead(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
) -> None:
    """550 after DATA: dead at once, body kept, reply code recorded."""
    smtpd(RecordingHandler(data_reply="550 5.7.1 no"))
    item_id = enqueue()
    worker = worker_for(SmtpSender(smtp_settings()))

    assert await worker.step() is True

    item = get(outbox, item_id)
    assert (item.state, item.attempts) == ("dead", 1)
    assert item.body is not None
    assert item.last_error is not None and "550" in item.last_error
    assert await worker.step() is False


# --- partial refusal ----------------------------------------------------------------------


async def test_partial_451_requeues_for_that_recipient_only(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
    clock: FakeClock,
) -> None:
    """451 at RCPT for one of two: requeued for it alone; the retry sends to it alone."""
    server = smtpd(RecordingHandler(rcpt_replies={B: "451 4.2.1 mailbox busy"}))
    item_id = enqueue(recipients=[A, B])
    worker = worker_for(SmtpSender(smtp_settings()))

    assert await worker.step() is True
    item = get(outbox, item_id)
    assert (item.state, item.recipients, item.failed, item.attempts) == ("queued", (B,), {}, 1)

    server.handler.rcpt_replies.clear()
    clock.now = item.next_attempt_at
    assert await worker.step() is True

    assert [got.rcpt_tos for got in server.handler.received] == [[A], [B]]
    assert get(outbox, item_id).state == "sent"
    assert message_ids(server.handler) == {item.message_id: 2}


async def test_partial_550_goes_dead_listing_the_refused_recipient(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
    clock: FakeClock,
) -> None:
    """550 at RCPT for one of two: dead, listing it; the other got the message once."""
    server = smtpd(RecordingHandler(rcpt_replies={B: "550 5.1.1 no such user"}))
    item_id = enqueue(recipients=[A, B])
    worker = worker_for(SmtpSender(smtp_settings()))

    assert await worker.step() is True
    clock.advance(86400)
    assert await worker.step() is False

    item = get(outbox, item_id)
    assert item.state == "dead"
    assert item.recipients == (B,)
    assert item.failed == {B: 550}
    assert item.body is not None
    assert [got.rcpt_tos for got in server.handler.received] == [[A]]


async def test_mixed_refusal_retries_the_4xx_then_goes_dead_for_the_5xx(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
    clock: FakeClock,
) -> None:
    """C accepted, A 451, B 550: A is retried alone and delivered; the item then goes dead
    listing only B, and nobody got the message twice."""
    c = "records@clinic.example"
    server = smtpd(RecordingHandler(rcpt_replies={A: "451 4.2.1 busy", B: "550 5.1.1 no"}))
    item_id = enqueue(recipients=[A, B, c])
    worker = worker_for(SmtpSender(smtp_settings()))

    assert await worker.step() is True
    item = get(outbox, item_id)
    assert (item.state, item.recipients, item.failed) == ("queued", (A,), {B: 550})

    del server.handler.rcpt_replies[A]
    clock.now = item.next_attempt_at
    assert await worker.step() is True

    item = get(outbox, item_id)
    assert (item.state, item.recipients, item.failed) == ("dead", (B,), {B: 550})
    assert [got.rcpt_tos for got in server.handler.received] == [[c], [A]]


# --- held: configuration faults -------------------------------------------------------------


async def test_held_auth_keeps_attempts_and_clears_when_config_is_fixed(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
) -> None:
    """AUTH 535: item back to queued, attempts unchanged, worker.hold set; a fixed sender
    clears the hold and delivers."""
    server = smtpd(auth_required=True)
    item_id = enqueue()
    worker = worker_for(SmtpSender(smtp_settings(username=USERNAME, password="wrong")))

    for _ in range(2):
        assert await worker.step() is False
        item = get(outbox, item_id)
        assert (item.state, item.attempts, item.last_error) == ("queued", 0, None)
        assert item.lease_until is None
    assert worker.hold is not None
    assert "authentication" in worker.hold.reason
    assert attempts(worker, "held") == 2
    assert server.handler.received == []

    worker.sender = SmtpSender(smtp_settings(username=USERNAME, password=PASSWORD))
    assert await worker.step() is True

    assert worker.hold is None
    item = get(outbox, item_id)
    assert (item.state, item.attempts) == ("sent", 1)
    [got] = server.handler.received
    assert got.login == USERNAME.encode()


# --- leases, duplicates, cancellation ------------------------------------------------------


async def test_expired_lease_is_reaped_and_delivered(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
    clock: FakeClock,
) -> None:
    """An item claimed by a worker that died comes back once its lease runs out."""
    server = smtpd()
    item_id = enqueue()
    assert outbox.claim(now=clock.now, lease=300) is not None  # the worker that died
    worker = worker_for(SmtpSender(smtp_settings()), lease_seconds=300)

    clock.advance(300)
    assert await worker.step() is False  # lease not yet past
    clock.advance(1)
    assert await worker.step() is True

    assert get(outbox, item_id).state == "sent"
    assert len(server.handler.received) == 1


async def test_retry_after_drop_after_final_dot_repeats_the_message_id(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
    clock: FakeClock,
) -> None:
    """Dropped after the final dot (ambiguous), then retried: the server holds two copies
    with the same Message-ID, so staff can tell the duplicate."""
    server = smtpd(RecordingHandler(drop_after_data=True))
    item_id = enqueue()
    worker = worker_for(SmtpSender(smtp_settings()))

    assert await worker.step() is True
    item = get(outbox, item_id)
    assert (item.state, item.attempts) == ("queued", 1)

    server.handler.drop_after_data = False
    clock.now = item.next_attempt_at
    assert await worker.step() is True

    assert get(outbox, item_id).state == "sent"
    assert message_ids(server.handler) == {item.message_id: 2}
    first, second = server.handler.received
    assert first.content == second.content


async def test_cancellation_mid_send_releases_the_claim(
    scripted: ScriptedFactory,
    smtp_settings: SettingsFactory,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
) -> None:
    """Cancelled while waiting on the server (shutdown): the item is queued again at once,
    no attempt spent."""
    server = await scripted("silent")
    item_id = enqueue()
    worker = worker_for(SmtpSender(smtp_settings(timeout=30)))

    task = asyncio.create_task(worker.step())
    async with asyncio.timeout(5):
        await server.connected.wait()
    # Let the client settle into waiting for the greeting: on Python 3.11 a cancel that
    # lands as asyncio.wait_for's inner connect completes is swallowed (fixed in 3.12).
    await asyncio.sleep(0.05)
    assert get(outbox, item_id).state == "sending"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    item = get(outbox, item_id)
    assert (item.state, item.attempts, item.lease_until) == ("queued", 0, None)


async def test_run_survives_an_outbox_locked_past_its_busy_timeout(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    new_item: Callable[..., NewItem],
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    """SQLITE_BUSY beyond busy_timeout (a backup or purge holding the lock): the worker's
    run() loop outlives it and delivers once the lock is gone (RELIABILITY.md section 8)."""
    server = smtpd()
    outbox = SqliteOutbox(tmp_path / "busy.sqlite3", busy_timeout=0.2)
    outbox.add([new_item()], now=clock.now, give_up_after=86400)
    worker = Worker(
        outbox, SmtpSender(smtp_settings()), delivery(poll_interval=0.05), Metrics(), clock=clock
    )
    locker = sqlite3.connect(outbox.path, timeout=0, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await anyio.sleep(0.5)  # the worker meets SQLITE_BUSY after 0.2 s
            locker.execute("ROLLBACK")
            with anyio.fail_after(5):
                # Wait for the outcome to be recorded, not just for the server's copy:
                # cancelling between the two would leave the item queued for a resend.
                while outbox.stats().counts["sent"] != 1:  # noqa: ASYNC110
                    await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
        assert len(server.handler.received) == 1
    finally:
        locker.close()
        outbox.close()


# --- maildir --------------------------------------------------------------------------------


async def test_maildir_writes_one_file_per_item_even_when_retried(
    tmp_path: Path,
    outbox: SqliteOutbox,
    enqueue: Callable[..., str],
    worker_for: Callable[..., Worker],
    clock: FakeClock,
) -> None:
    """A resend (the worker died after writing) replaces the file: one file per item."""
    maildir = tmp_path / "mail"
    sender = MaildirSender(maildir)
    item_id = enqueue(recipients=[A, B])
    claimed = outbox.claim(now=clock.now, lease=300)
    assert claimed is not None and claimed.body is not None
    message = render(Draft.from_json(claimed.body)).as_bytes()
    assert await sender.send(claimed, message) == {}  # written; then the worker died
    worker = worker_for(sender, lease_seconds=300)

    clock.advance(301)
    assert await worker.step() is True

    assert get(outbox, item_id).state == "sent"
    [path] = (maildir / "new").iterdir()
    assert list((maildir / "tmp").iterdir()) == []
    data = path.read_bytes()
    assert data.startswith(b"Return-Path: <no-reply@clinic.example>\r\n")
    assert f"X-Envelope-To: {A}, {B}\r\n".encode() in data
    assert data.endswith(message)


# --- backoff --------------------------------------------------------------------------------


def no_jitter(low: float, high: float) -> float:
    return 0.0


@pytest.mark.parametrize(
    ("attempt", "initial", "maximum", "expected"),
    [
        (1, 60, 3600, 60),
        (2, 60, 3600, 120),
        (3, 60, 3600, 240),
        (6, 60, 3600, 1920),
        (7, 60, 3600, 3600),  # 3840 capped
        (100, 60, 3600, 3600),
        (5000, 60, 3600, 3600),  # 2**4999 does not fit a float
        (1, 300, 120, 120),  # initial above the cap
        (4, 0.5, 10, 4),
    ],
)
def test_backoff_table(attempt: int, initial: float, maximum: float, expected: float) -> None:
    """min(max, initial * 2**(attempt-1)) with no jitter."""
    assert backoff(attempt, initial=initial, maximum=maximum, jitter=no_jitter) == expected


def test_backoff_jitter_adds_up_to_a_tenth_and_never_passes_the_cap() -> None:
    """Jitter is drawn from [0, base/10]; the result never exceeds maximum."""
    calls: list[tuple[float, float]] = []

    def most(low: float, high: float) -> float:
        calls.append((low, high))
        return high

    assert backoff(1, initial=60, maximum=3600, jitter=most) == 66
    assert calls == [(0, 6.0)]
    assert backoff(6, initial=60, maximum=2000, jitter=most) == 2000  # 1920 + 192 capped


def test_backoff_default_jitter_stays_in_bounds() -> None:
    """With the default random jitter, attempt 1 waits between initial and initial*1.1."""
    for _ in range(200):
        assert 60 <= backoff(1, initial=60, maximum=3600) <= 66
