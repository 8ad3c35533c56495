"""The SQLite outbox on real files: durability settings, leases, state changes, purge."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.errors import OutboxCorrupt, OutboxUnavailable
from relay.outbox import NewItem, SqliteOutbox

DAY = 86400.0


def new_item(n: int = 1, recipients: tuple[str, ...] = ("desk@clinic.example",)) -> NewItem:
    return NewItem(
        id=f"item{n}", submission_id=f"item{n}", form_id="contact", kind="submission",
        verdict="clean", message_id=f"<item{n}@clinic.example>", sender="no-reply@clinic.example",
        recipients=recipients, body=b"Subject: hi\r\n\r\nCANARY-BODY-" + str(n).encode() + b"\r\n",
    )  # fmt: skip


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[SqliteOutbox]:
    box = SqliteOutbox(tmp_path / "outbox.sqlite3")
    yield box
    box.close()


def test_durability_pragmas(outbox: SqliteOutbox) -> None:
    """WAL with synchronous=FULL (2) and secure_delete on, so a commit is on disk before the ack."""
    db = sqlite3.connect(outbox.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    own = outbox._db  # the relay's own connection carries the per-connection settings
    assert own.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert own.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_added_items_survive_reopening(tmp_path: Path) -> None:
    """What add() returned from is there for a new process."""
    box = SqliteOutbox(tmp_path / "o.db")
    box.add([new_item(1), new_item(2)], now=100, give_up_after=DAY)
    box._db.close()  # no checkpoint, as after a crash
    again = SqliteOutbox(tmp_path / "o.db")
    assert [i.id for i in again.items(state="queued")] == ["item2", "item1"]
    again.close()


def test_claim_is_fifo_and_leased(outbox: SqliteOutbox) -> None:
    """Claims take the oldest due item and lease it; a leased item is not claimed twice."""
    outbox.add([new_item(1)], now=100, give_up_after=DAY)
    outbox.add([new_item(2)], now=101, give_up_after=DAY)
    first = outbox.claim(now=200, lease=60)
    second = outbox.claim(now=200, lease=60)
    assert first is not None and second is not None
    assert (first.id, second.id) == ("item1", "item2")
    assert first.state == "sending" and first.lease_until == 260
    assert outbox.claim(now=200, lease=60) is None


def test_expired_lease_is_reaped(outbox: SqliteOutbox) -> None:
    """A claim whose worker died comes back once its lease runs out, not before."""
    outbox.add([new_item()], now=100, give_up_after=DAY)
    assert outbox.claim(now=100, lease=60) is not None
    assert outbox.reap(now=150) == 0
    assert outbox.reap(now=161) == 1
    item = outbox.claim(now=161, lease=60)
    assert item is not None and item.id == "item1"


def test_sent_purges_the_body_and_keeps_metadata(outbox: SqliteOutbox) -> None:
    """After delivery only metadata remains; the message bytes are gone from the file too."""
    outbox.add([new_item()], now=100, give_up_after=DAY)
    outbox.claim(now=100, lease=60)
    outbox.mark_sent("item1", now=101)
    item = outbox.get("item1")
    assert item is not None and item.state == "sent" and item.body is None
    assert item.message_id == "<item1@clinic.example>" and item.attempts == 1
    outbox.checkpoint()
    for path in outbox.path.parent.iterdir():
        assert b"CANARY-BODY-1" not in path.read_bytes(), path.name


def test_retry_schedules_and_counts(outbox: SqliteOutbox) -> None:
    """A deferred item waits until next_attempt_at and keeps only the recipients still due."""
    outbox.add([new_item(recipients=("a@c.example", "b@c.example"))], now=100, give_up_after=DAY)
    outbox.claim(now=100, lease=60)
    outbox.mark_retry("item1", now=101, next_attempt_at=200, error="x 451",
                      recipients=["b@c.example"], failed={})  # fmt: skip
    assert outbox.claim(now=199, lease=60) is None
    item = outbox.claim(now=200, lease=60)
    assert item is not None and item.recipients == ("b@c.example",) and item.attempts == 1


def test_dead_items_keep_their_body_until_retried_or_purged(outbox: SqliteOutbox) -> None:
    """Dead items are parked with the body; an operator retry queues them again."""
    outbox.add([new_item()], now=100, give_up_after=DAY)
    outbox.claim(now=100, lease=60)
    outbox.mark_dead(
        "item1", now=101, error="550", recipients=[], failed={"desk@clinic.example": 550}
    )
    item = outbox.get("item1")
    assert item is not None and item.state == "dead" and item.body is not None
    assert outbox.retry("item1", now=500, give_up_after=DAY)
    again = outbox.claim(now=500, lease=60)
    assert again is not None and again.recipients == ("desk@clinic.example",)
    assert again.deadline == 500 + DAY
    assert not outbox.retry("nope", now=500, give_up_after=DAY)


def test_purge_removes_old_sent_and_dead_rows(outbox: SqliteOutbox) -> None:
    """purge deletes sent metadata past the cut-off and, when asked, dead items."""
    outbox.add([new_item(1), new_item(2), new_item(3)], now=0, give_up_after=DAY)
    for _ in (1, 2):
        outbox.claim(now=0, lease=60)
    outbox.mark_sent("item1", now=0)
    outbox.mark_dead("item2", now=0, error="550", recipients=[], failed={})
    assert outbox.purge(now=10 * DAY, sent_older_than=30 * DAY, dead=False) == 0
    assert outbox.purge(now=40 * DAY, sent_older_than=30 * DAY, dead=True) == 2
    assert [i.id for i in outbox.items()] == ["item3"]


def test_stats_count_states_and_oldest(outbox: SqliteOutbox) -> None:
    """stats() reports counts by state and the creation time of the oldest waiting item."""
    outbox.add([new_item(1)], now=50, give_up_after=DAY)
    outbox.add([new_item(2)], now=60, give_up_after=DAY)
    outbox.claim(now=70, lease=60)
    stats = outbox.stats()
    assert stats.counts == {"queued": 1, "sending": 1, "sent": 0, "dead": 0, "suspected": 0}
    assert stats.depth == 2 and stats.oldest_queued_at == 50


def test_locked_database_refuses_instead_of_acknowledging(tmp_path: Path) -> None:
    """When the commit cannot happen, add() raises OutboxUnavailable and stores nothing."""
    box = SqliteOutbox(tmp_path / "o.db", busy_timeout=0.05)
    blocker = sqlite3.connect(tmp_path / "o.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with pytest.raises(OutboxUnavailable) as info:
        box.add([new_item()], now=1, give_up_after=DAY)
    assert "CANARY" not in str(info.value)
    assert not box.writable(now=1)
    blocker.execute("ROLLBACK")
    assert box.writable(now=1)
    assert box.items() == []
    box.close()


def test_corrupt_database_is_left_alone(tmp_path: Path) -> None:
    """A damaged file stops start-up with a clear error and is not overwritten."""
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxCorrupt, match="left as it is"):
        SqliteOutbox(path)
    assert path.read_bytes() == b"this is not a database" * 100


def suspect(n: int) -> NewItem:
    return dataclasses.replace(new_item(n), suspected=True)


def test_suspected_items_are_kept_but_never_claimed(outbox: SqliteOutbox) -> None:
    """A suspected item is stored (and counted) but no worker claims it until released."""
    assert outbox.add([suspect(1)], now=100, give_up_after=DAY) == ["suspected"]
    assert outbox.claim(now=200, lease=60) is None
    stats = outbox.stats()
    assert stats.counts["suspected"] == 1 and stats.depth == 0
    assert [i.id for i in outbox.items(state="suspected")] == ["item1"]


def test_release_makes_a_suspected_item_deliverable(outbox: SqliteOutbox) -> None:
    """release_suspected queues it now with a fresh deadline; other states are untouched."""
    outbox.add([suspect(1), new_item(2)], now=100, give_up_after=DAY)
    assert not outbox.release_suspected("item2", now=500, give_up_after=DAY)
    assert not outbox.release_suspected("nope", now=500, give_up_after=DAY)
    assert outbox.release_suspected("item1", now=500, give_up_after=DAY)
    item = outbox.get("item1")
    assert item is not None and item.state == "queued" and item.deadline == 500 + DAY
    claimed = [outbox.claim(now=600, lease=60) for _ in range(2)]
    assert {c.id for c in claimed if c is not None} == {"item1", "item2"}


def test_suspected_items_are_purged_after_their_days(outbox: SqliteOutbox) -> None:
    """purge_suspected deletes suspected items older than the cut-off and nothing else."""
    outbox.add([suspect(1), new_item(2)], now=0, give_up_after=30 * DAY)
    outbox.add([suspect(3)], now=10 * DAY, give_up_after=30 * DAY)
    assert outbox.purge_suspected(now=15 * DAY, older_than=14 * DAY) == 1
    assert outbox.get("item1") is None
    assert outbox.get("item2") is not None and outbox.get("item3") is not None


def test_a_one_time_token_is_spent_with_its_post(outbox: SqliteOutbox) -> None:
    """The first post carrying a token is queued; a replay is stored as suspected; a token
    past its expiry is forgotten by the purge."""
    once = (("pow:abc", 1000.0),)
    first = dataclasses.replace(new_item(1), once=once)
    replay = dataclasses.replace(new_item(2), once=once)
    other = dataclasses.replace(new_item(3), once=(("pow:def", 1000.0),))
    assert outbox.add([first], now=100, give_up_after=DAY) == ["queued"]
    assert outbox.add([replay, other], now=101, give_up_after=DAY) == ["suspected", "queued"]
    outbox.purge_suspected(now=2000, older_than=14 * DAY)
    again = dataclasses.replace(new_item(4), once=once)
    assert outbox.add([again], now=2001, give_up_after=DAY) == ["queued"]


def test_a_failed_commit_spends_nothing(tmp_path: Path) -> None:
    """When the transaction cannot commit, the token is not recorded as used."""
    box = SqliteOutbox(tmp_path / "o.db", busy_timeout=0.05)
    blocker = sqlite3.connect(tmp_path / "o.db", isolation_level=None)
    once = (("ts:xyz", 1000.0),)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(OutboxUnavailable):
            box.add([dataclasses.replace(new_item(1), once=once)], now=1, give_up_after=DAY)
        blocker.execute("ROLLBACK")
        assert box.add([dataclasses.replace(new_item(2), once=once)], now=2, give_up_after=DAY) == [
            "queued"
        ]
    finally:
        blocker.close()
        box.close()


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    """close() may be called again (the WAL descriptor is closed once)."""
    box = SqliteOutbox(tmp_path / "o.db")
    box.close()
    box.close()
