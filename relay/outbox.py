"""The durable outbox: every acknowledged submission lives here until it is sent or dead.

SQLite in WAL mode with ``synchronous=FULL``: a commit has reached the disk before the
intake answers 2xx. States::

    queued --claim--> sending --250--> sent        (body purged, metadata kept)
       ^                 |   --5xx / too old--> dead (body kept for the operator)
       +----- 4xx, drop, lease expired, release --+
       ^
       +--- release_suspected --- suspected   (failed the fill-time token or proof of
                                   work: kept, never delivered unless an operator
                                   releases it; purged after limits.suspected_days)

A claim is a lease: a worker that dies mid-send leaves a row whose lease runs out and
is requeued (at-least-once; the stable Message-ID marks a resend as the same mail).
A claim takes urgent crisis notices (kind ``urgent``) before anything else that is due.
Delivered bodies are purged (``secure_delete`` zeroes them in the pages) and ``tidy()``
checkpoints the WAL, so delivered text leaves every database file within seconds.
One-time tokens (a proof-of-work solution, a fill-time token) are spent in the same
transaction that stores the post carrying them (``NewItem.once``): a token used before
makes its post ``suspected``, and a post that is refused spends nothing.
This module owns the schema and all SQL. It never logs and stores no text outside
the ``body`` column.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread

from relay.errors import ConfigError, OutboxCorrupt, OutboxUnavailable
from relay.storage import DiskReserve, private_dir, private_file, unusable_folder

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    submission_id TEXT NOT NULL,
    form_id TEXT NOT NULL,
    kind TEXT NOT NULL,              -- submission | urgent
    verdict TEXT NOT NULL,           -- clean | medical | crisis
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,        -- JSON list still to deliver to
    failed TEXT NOT NULL DEFAULT '{}',  -- JSON {recipient: reply code} refused for good
    body BLOB,                       -- the JSON draft (relay.compose); NULL once sent
    size INTEGER NOT NULL,
    state TEXT NOT NULL,             -- queued | sending | sent | dead | suspected
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    deadline REAL NOT NULL,          -- give up (dead) after this
    lease_until REAL,
    updated_at REAL NOT NULL,
    last_error TEXT                  -- error class and reply code only, never content
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_due_kind ON outbox (state, kind, next_attempt_at);
CREATE TABLE IF NOT EXISTS heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS spent (token TEXT PRIMARY KEY, until REAL NOT NULL);
"""

STATES = ("queued", "sending", "sent", "dead", "suspected")


@dataclass(frozen=True)
class NewItem:
    id: str
    submission_id: str
    form_id: str
    kind: str
    verdict: str
    message_id: str
    sender: str
    recipients: Sequence[str]
    body: bytes = field(repr=False)
    suspected: bool = False  # kept, not delivered (failed the token or proof of work)
    # One-time tokens this post spends, each with the time its record may be forgotten
    # (the token itself expires then); a token spent before makes the post suspected.
    once: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Item:
    id: str
    submission_id: str
    form_id: str
    kind: str
    verdict: str
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    failed: dict[str, int]
    body: bytes | None = field(repr=False)
    size: int
    state: str
    attempts: int
    created_at: float
    next_attempt_at: float
    deadline: float
    lease_until: float | None
    updated_at: float
    last_error: str | None


@dataclass(frozen=True)
class Stats:
    counts: dict[str, int]
    oldest_queued_at: float | None

    @property
    def depth(self) -> int:
        return self.counts.get("queued", 0) + self.counts.get("sending", 0)


_COLUMNS = (
    "id, submission_id, form_id, kind, verdict, message_id, sender, recipients, failed, body,"
    " size, state, attempts, created_at, next_attempt_at, deadline, lease_until, updated_at,"
    " last_error"
)


def _item(row: sqlite3.Row) -> Item:
    values = dict(row)
    values["recipients"] = tuple(json.loads(values["recipients"]))
    values["failed"] = json.loads(values["failed"])
    return Item(**values)


class SqliteOutbox:
    """All outbox SQL. Thread-safe: one connection, one lock; callers in async code
    run these methods in a worker thread (see ``relay.app``)."""

    def __init__(self, path: Path, *, busy_timeout: float = 5.0, min_free_bytes: int = 0) -> None:
        try:
            private_dir(path.parent)
            # SQLite gives -wal and -shm the database file's mode: make that one 0600 first.
            private_file(path)
            for suffix in ("-wal", "-shm"):
                if (companion := path.with_name(path.name + suffix)).exists():
                    private_file(companion)
            self._db = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.OperationalError) as exc:
            raise ConfigError(unusable_folder(path.parent, exc)) from None
        self.path = path
        self.reserve = DiskReserve(path.parent, min_free_bytes)
        self._lock = threading.Lock()
        self._db.row_factory = sqlite3.Row
        try:
            result = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise sqlite3.DatabaseError(result)
            # New databases give freed pages back to the file system on tidy(vacuum=True).
            self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            # Never recreate over it: the file may hold acknowledged submissions.
            raise OutboxCorrupt(
                f"{path} is damaged ({exc.sqlite_errorname or 'integrity check failed'}); "
                "it was left as it is for "
                "inspection. Move it aside to start with an empty outbox."
            ) from None

    def close(self) -> None:
        """Checkpoint and close. A failed checkpoint (a full disk) is not an error here:
        the WAL stays and SQLite replays it at the next start."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            finally:
                self._db.close()

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; any SQLite failure becomes OutboxUnavailable.

        ``durable=False`` commits without waiting for the disk (synchronous=NORMAL):
        for delivery bookkeeping only (claims, outcomes), where a commit lost to a
        power cut means at worst a resend with the same Message-ID, as after a crash
        between sending and marking. The next durable commit (an intake's) syncs the
        WAL, these frames included. An fsync costs more than the rest of a delivery."""
        with self._lock:
            try:
                if not durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise OutboxUnavailable(f"outbox write failed: {exc.sqlite_errorname}") from exc
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous=FULL")

    def add(self, items: Sequence[NewItem], *, now: float, give_up_after: float) -> list[str]:
        """Store items in one transaction; returns their states (``queued`` or
        ``suspected``) only once they are on disk."""
        states = []
        with self._write() as db:
            for i in items:
                state = "suspected" if i.suspected else "queued"
                for token, until in i.once:
                    cur = db.execute(
                        "INSERT OR IGNORE INTO spent (token, until) VALUES (?, ?)", (token, until)
                    )
                    if cur.rowcount != 1:  # used before: a replay
                        state = "suspected"
                states.append(state)
            db.executemany(
                "INSERT INTO outbox (id, submission_id, form_id, kind, verdict, message_id,"
                " sender, recipients, body, size, state, created_at, next_attempt_at, deadline,"
                " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        i.id, i.submission_id, i.form_id, i.kind, i.verdict, i.message_id,
                        i.sender, json.dumps(list(i.recipients)), i.body, len(i.body), state,
                        now, now, now + give_up_after, now,
                    )
                    for i, state in zip(items, states, strict=True)
                ],
            )  # fmt: skip
        return states

    def claim(self, *, now: float, lease: float, item_id: str | None = None) -> Item | None:
        """Lease a due item (or the named queued one) to the caller, or None: urgent
        notices first, then the longest due. Both picks walk an index (no sort), so a
        claim stays cheap behind a backlog of thousands."""
        picks: list[tuple[str, str | float]]
        if item_id is not None:
            picks = [("SELECT seq FROM outbox WHERE state='queued' AND id = ?", item_id)]
        else:
            due = "state='queued' AND next_attempt_at <= ?"
            picks = [
                (f"SELECT seq FROM outbox WHERE {due} AND kind='urgent'"
                 " ORDER BY next_attempt_at, seq LIMIT 1", now),
                (f"SELECT seq FROM outbox WHERE {due} ORDER BY next_attempt_at, seq LIMIT 1", now),
            ]  # fmt: skip
        with self._write(durable=False) as db:
            for pick, value in picks:
                row = db.execute(
                    f"UPDATE outbox SET state='sending', lease_until=?, updated_at=?"
                    f" WHERE seq = ({pick}) RETURNING {_COLUMNS}",
                    (now + lease, now, value),
                ).fetchone()
                if row:
                    return _item(row)
        return None

    def reap(self, *, now: float) -> int:
        """Requeue items whose lease ran out (their worker died or hung)."""
        with self._write(durable=False) as db:
            cur = db.execute(
                "UPDATE outbox SET state='queued', lease_until=NULL, updated_at=?"
                " WHERE state='sending' AND lease_until < ?",
                (now, now),
            )
            return cur.rowcount

    def release(self, item_id: str, *, now: float) -> None:
        """Give a claim back untried (shutdown, or the queue is held)."""
        with self._write(durable=False) as db:
            db.execute(
                "UPDATE outbox SET state='queued', lease_until=NULL, updated_at=?"
                " WHERE id=? AND state='sending'",
                (now, item_id),
            )

    def mark_sent(self, item_id: str, *, now: float) -> None:
        """Delivered to every recipient: purge the body, keep the metadata."""
        with self._write(durable=False) as db:
            db.execute(
                "UPDATE outbox SET state='sent', body=NULL, recipients='[]', lease_until=NULL,"
                " attempts=attempts+1, updated_at=?, last_error=NULL WHERE id=?",
                (now, item_id),
            )

    def mark_retry(
        self,
        item_id: str,
        *,
        now: float,
        next_attempt_at: float,
        error: str,
        recipients: Sequence[str],
        failed: dict[str, int],
    ) -> None:
        with self._write(durable=False) as db:
            db.execute(
                "UPDATE outbox SET state='queued', lease_until=NULL, attempts=attempts+1,"
                " next_attempt_at=?, updated_at=?, last_error=?, recipients=?, failed=?"
                " WHERE id=?",
                (next_attempt_at, now, error, json.dumps(list(recipients)),
                 json.dumps(failed), item_id),
            )  # fmt: skip

    def mark_dead(
        self, item_id: str, *, now: float, error: str, recipients: Sequence[str],
        failed: dict[str, int],
    ) -> None:  # fmt: skip
        """Park an item for the operator; its body stays until retried or purged."""
        with self._write(durable=False) as db:
            db.execute(
                "UPDATE outbox SET state='dead', lease_until=NULL, attempts=attempts+1,"
                " updated_at=?, last_error=?, recipients=?, failed=? WHERE id=?",
                (now, error, json.dumps(list(recipients)), json.dumps(failed), item_id),
            )

    def retry(self, item_id: str, *, now: float, give_up_after: float) -> bool:
        """Operator retry of a dead item: queue it now, to the recipients that failed."""
        with self._write() as db:
            row = db.execute(
                "SELECT recipients, failed FROM outbox WHERE id=? AND state='dead'"
                " AND body IS NOT NULL",
                (item_id,),
            ).fetchone()
            if row is None:
                return False
            recipients = sorted(set(json.loads(row[0])) | set(json.loads(row[1])))
            db.execute(
                "UPDATE outbox SET state='queued', next_attempt_at=?, deadline=?, updated_at=?,"
                " recipients=?, failed='{}' WHERE id=?",
                (now, now + give_up_after, now, json.dumps(recipients), item_id),
            )
            return True

    def purge(self, *, now: float, sent_older_than: float, dead: bool) -> int:
        """Delete sent metadata older than the cut-off and, if asked, every dead item;
        then truncate the WAL so that deleted bytes leave the disk files too."""
        with self._write() as db:
            count = db.execute(
                "DELETE FROM outbox WHERE state='sent' AND updated_at < ?",
                (now - sent_older_than,),
            ).rowcount
            if dead:
                count += db.execute("DELETE FROM outbox WHERE state='dead'").rowcount
        self.checkpoint()
        return count

    def checkpoint(self) -> bool:
        """Copy the WAL into the database and truncate it to zero bytes; False when a
        reader (another process) kept it from completing."""
        with self._lock:
            busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return not busy

    def tidy(self, *, vacuum: bool = False) -> bool:
        """After delivered bodies were purged: checkpoint (so that no copy of them stays
        in the WAL), with ``vacuum`` first hand free pages back to the file system, and
        tell the disk reserve how much room the database holds free. False when the
        checkpoint could not complete (try again later)."""
        try:
            with self._lock:
                if vacuum:
                    # executescript steps the pragma to the end (one step frees one page).
                    self._db.executescript("PRAGMA incremental_vacuum;")
                busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                pages = self._db.execute("PRAGMA freelist_count").fetchone()[0]
                size = self._db.execute("PRAGMA page_size").fetchone()[0]
        except sqlite3.Error as exc:
            raise OutboxUnavailable(f"outbox tidy failed: {exc.sqlite_errorname}") from exc
        self.reserve.reclaimable = pages * size
        return not busy

    def get(self, item_id: str) -> Item | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE id=?", (item_id,)
            ).fetchone()
        return _item(row) if row else None

    def items(self, *, state: str | None = None, limit: int = 100) -> list[Item]:
        """Newest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE ? IS NULL OR state=?"
                " ORDER BY seq DESC LIMIT ?",
                (state, state, limit),
            ).fetchall()
        return [_item(r) for r in rows]

    def stats(self) -> Stats:
        with self._lock:
            counts = dict.fromkeys(STATES, 0)
            for state, n in self._db.execute("SELECT state, count(*) FROM outbox GROUP BY state"):
                counts[state] = n
            oldest = self._db.execute(
                "SELECT min(created_at) FROM outbox WHERE state IN ('queued','sending')"
            ).fetchone()[0]
        return Stats(counts=counts, oldest_queued_at=oldest)

    def release_suspected(self, item_id: str, *, now: float, give_up_after: float) -> bool:
        """Operator release of a suspected item: deliverable now. False if none such."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE outbox SET state='queued', next_attempt_at=?, deadline=?, updated_at=?"
                " WHERE id=? AND state='suspected'",
                (now, now + give_up_after, now, item_id),
            )
            return cur.rowcount == 1

    def purge_suspected(self, *, now: float, older_than: float) -> int:
        """Delete suspected items older than the cut-off, and forget one-time tokens past
        their expiry; then truncate the WAL so the deleted text leaves the disk too."""
        with self._write() as db:
            count = db.execute(
                "DELETE FROM outbox WHERE state='suspected' AND created_at < ?",
                (now - older_than,),
            ).rowcount
            db.execute("DELETE FROM spent WHERE until < ?", (now,))
        self.checkpoint()
        return count

    def writable(self, *, now: float) -> bool:
        """True when a real write commits right now (for /readyz): catches a full disk,
        a read-only volume and a lock held too long, as an intake would meet them."""
        try:
            with self._write() as db:
                db.execute("INSERT OR REPLACE INTO heartbeat (id, at) VALUES (1, ?)", (now,))
        except OutboxUnavailable:
            return False
        return True


@dataclass
class _Pending:
    item: NewItem
    done: bool = False
    state: str = ""
    error: OutboxUnavailable | None = None


class GroupCommit:
    """Shares one commit (one fsync, about 2 ms on this kind of disk) among the
    submissions that arrive together.

    Leader/follower, as databases do it: a request adds its item to the pending list
    and takes the lock; whoever holds the lock commits everything pending, and a
    request whose item was committed by an earlier holder returns at once. Nobody
    returns before its own item is on disk, and a failed commit fails every item in it.
    """

    def __init__(self, outbox: SqliteOutbox, *, give_up_after: float) -> None:
        self._outbox = outbox
        self._give_up_after = give_up_after
        self._pending: list[_Pending] = []
        self._lock = anyio.Lock()

    async def add(self, item: NewItem, *, clock: Callable[[], float]) -> str:
        """Store one item, sharing the commit; its state (``queued`` or ``suspected``).
        Raise OutboxUnavailable if it cannot be stored, including below the disk reserve
        (urgent crisis notices, small and rare, are still taken there: the reserve exists
        to keep them and delivery going)."""
        if item.kind != "urgent" and not self._outbox.reserve.has_room():
            raise OutboxUnavailable("disk reserve reached")
        entry = _Pending(item)
        self._pending.append(entry)
        async with self._lock:
            if not entry.done:
                batch, self._pending = self._pending, []
                error = OutboxUnavailable("the commit did not finish")
                states: list[str] = []
                try:
                    states = await anyio.to_thread.run_sync(
                        lambda: self._outbox.add(
                            [p.item for p in batch], now=clock(), give_up_after=self._give_up_after
                        )
                    )
                except OutboxUnavailable as exc:
                    error = exc
                finally:
                    # Whatever happened (an error, a cancellation), every post in the batch
                    # learns it: none may take an unfinished commit for a stored one.
                    for i, pending in enumerate(batch):
                        done = i < len(states)
                        pending.done = True
                        pending.state = states[i] if done else ""
                        pending.error = None if done else error
        if entry.error is not None:
            raise entry.error
        if not entry.state:  # never committed (a batch cut short): not acknowledged
            raise OutboxUnavailable("the commit did not finish")
        return entry.state
