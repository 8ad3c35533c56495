"""The inbox database: held messages (sealed), staff accounts, sessions and the audit log.

One SQLite file, ``<data_dir>/inbox.sqlite3`` (WAL, ``synchronous=FULL``,
``secure_delete``, mode 0600). Schema:

* ``meta``      name -> value; ``key_check`` proves the inbox key at every start
* ``held``      id, form, received_at, state (unread | read | done), done_at, and the
                sealed payload (wrapped data key + ciphertext); nothing readable
* ``staff``     email, argon2id hash, sealed TOTP secret, failure count, lock, the last
                TOTP time step used (a code is good once)
* ``sessions``  SHA-256 of the cookie value (never the value), owner, CSRF token,
                created and last-seen times
* ``audit``     append-only (triggers refuse UPDATE and DELETE): when, who, what,
                which id, from where; never message text

Synchronous and blocking: the HTTP layer calls it through ``anyio.to_thread``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from relay.errors import InboxKeyError
from relay.inbox._crypto import InboxKey

HeldState = Literal["unread", "read", "done"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS held (
    id TEXT PRIMARY KEY,
    form_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'unread' CHECK (state IN ('unread', 'read', 'done')),
    done_at REAL,
    wrapped_key BLOB NOT NULL,
    ciphertext BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS held_by_time ON held (received_at);
CREATE TABLE IF NOT EXISTS staff (
    email TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    totp_wrapped BLOB NOT NULL,
    totp_sealed BLOB NOT NULL,
    created_at REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    last_step INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    email TEXT NOT NULL REFERENCES staff (email) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True, slots=True)
class HeldSummary:
    id: str
    form_id: str
    received_at: float
    state: HeldState


@dataclass(frozen=True, slots=True)
class HeldMessage:
    summary: HeldSummary
    fields: dict[str, str]
    reasons: list[dict[str, Any]]  # category, field, start, end (offsets into fields)
    language: str


@dataclass(frozen=True, slots=True)
class StaffRecord:
    email: str
    password_hash: str
    totp_secret: str
    created_at: float
    failures: int
    locked_until: float
    last_step: int


@dataclass(frozen=True, slots=True)
class Session:
    email: str
    csrf: str
    created_at: float
    last_seen: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite opens it (SQLite gives -wal and -shm the
    database file's mode), whatever the umask."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    os.chmod(path, 0o600)


class InboxStore:
    """All inbox SQL. Each public method is one transaction; the audit row for an
    action is written in the same transaction as the action."""

    def __init__(self, path: Path, key: InboxKey, *, clock: Callable[[], float]) -> None:
        _create_private(path)
        self.path = path
        self._key = key
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._check_key()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _check_key(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'key_check'").fetchone()
        if row is None:
            with self._tx() as db:
                db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('key_check', ?), ('key_id', ?)",
                    (self._key.check_value(), self._key.key_id),
                )
            return
        if not self._key.matches(row[0]):
            stored = self._db.execute("SELECT value FROM meta WHERE name = 'key_id'").fetchone()
            raise InboxKeyError(
                f"the inbox key (id {self._key.key_id}) is not the one the held messages in "
                f"{self.path} were sealed with (id {stored[0] if stored else '?'}). Restore "
                "that key (RELAY_INBOX__KEY, RELAY_INBOX__KEY_FILE or <data_dir>/inbox.key) "
                "from your backup; nothing was changed or deleted."
            )

    def audit(self, actor: str, action: str, target: str = "", client: str = "") -> None:
        with self._tx() as db:
            self._audit(db, actor, action, target, client)

    def _audit(
        self, db: sqlite3.Connection, actor: str, action: str, target: str = "", client: str = ""
    ) -> None:
        db.execute(
            "INSERT INTO audit (at, actor, action, target, client) VALUES (?, ?, ?, ?, ?)",
            (self._clock(), actor, action, target, client),
        )

    def audit_since(self, since: float = 0.0) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT seq, at, actor, action, target, client FROM audit WHERE at >= ? ORDER BY seq",
            (since,),
        ).fetchall()
        keys = ("seq", "at", "actor", "action", "target", "client")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # -- held messages -------------------------------------------------------------

    def add_held(
        self, message_id: str, form_id: str, received_at: float, fields: dict[str, str],
        reasons: list[dict[str, Any]], language: str,
    ) -> None:  # fmt: skip
        """Seal and store one held message; committed (FULL) when this returns."""
        payload = json.dumps({"fields": fields, "reasons": reasons, "language": language})
        wrapped, sealed = self._key.seal(payload.encode(), aad=message_id.encode())
        with self._tx() as db:
            db.execute(
                "INSERT INTO held (id, form_id, received_at, wrapped_key, ciphertext) "
                "VALUES (?, ?, ?, ?, ?)",
                (message_id, form_id, received_at, wrapped, sealed),
            )

    def discard(self, message_id: str) -> None:
        """Take back a message whose post was not acknowledged (its notice could not be
        stored): it was never accepted, so it is deleted without an audit entry."""
        with self._tx() as db:
            db.execute("DELETE FROM held WHERE id = ?", (message_id,))

    def list_held(self) -> list[HeldSummary]:
        rows = self._db.execute(
            "SELECT id, form_id, received_at, state FROM held ORDER BY received_at DESC"
        ).fetchall()
        return [HeldSummary(*row) for row in rows]

    def read_held(self, message_id: str, *, actor: str, client: str) -> HeldMessage | None:
        """Open one message for a signed-in reader: marks it read and audits the view.
        An unknown id is audited too (as ``view-missing``) and gives None."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id, form_id, received_at, state, wrapped_key, ciphertext "
                "FROM held WHERE id = ?",
                (message_id,),
            ).fetchone()
            if row is None:
                self._audit(db, actor, "view-missing", message_id[:64], client)
                return None
            state: HeldState = "read" if row[3] == "unread" else row[3]
            db.execute("UPDATE held SET state = ? WHERE id = ?", (state, message_id))
            self._audit(db, actor, "view", message_id, client)
        data = json.loads(self._key.open(row[4], row[5], aad=message_id.encode()))
        summary = HeldSummary(row[0], row[1], row[2], state)
        return HeldMessage(summary, data["fields"], data["reasons"], data["language"])

    def mark_done(self, message_id: str, *, actor: str, client: str) -> bool:
        with self._tx() as db:
            changed = db.execute(
                "UPDATE held SET state = 'done', done_at = ? WHERE id = ? AND state != 'done'",
                (self._clock(), message_id),
            ).rowcount
            exists = (
                changed or db.execute("SELECT 1 FROM held WHERE id = ?", (message_id,)).fetchone()
            )
            self._audit(db, actor, "done" if exists else "done-missing", message_id[:64], client)
        return bool(exists)

    def purge(self, *, retention_days: float, done_retention_days: float) -> int:
        """Delete held messages past ``retention_days`` and handled ones past
        ``done_retention_days`` (secure_delete), audit the count, and checkpoint the WAL
        so no copy of the deleted pages survives there."""
        now = self._clock()
        with self._tx() as db:
            deleted = db.execute(
                "DELETE FROM held WHERE received_at < ? OR (state = 'done' AND done_at < ?)",
                (now - retention_days * 86400, now - done_retention_days * 86400),
            ).rowcount
            if deleted:
                self._audit(db, "relay", "purge", str(deleted))
        if deleted:
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

    def counts(self) -> tuple[int, float | None]:
        """Held messages not yet done, and the receipt time of the oldest unread one."""
        held, oldest = self._db.execute(
            "SELECT COUNT(*) FILTER (WHERE state != 'done'), "
            "MIN(received_at) FILTER (WHERE state = 'unread') FROM held"
        ).fetchone()
        return int(held), oldest

    # -- staff ---------------------------------------------------------------------

    def add_staff(self, email: str, password_hash: str, totp_secret: str) -> bool:
        """False when the account exists already."""
        wrapped, sealed = self._key.seal(totp_secret.encode(), aad=b"totp:" + email.encode())
        with self._tx() as db:
            added = db.execute(
                "INSERT OR IGNORE INTO staff (email, password_hash, totp_wrapped, totp_sealed, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                (email, password_hash, wrapped, sealed, self._clock()),
            ).rowcount
            if added:
                self._audit(db, "operator", "staff-add", email)
        return bool(added)

    def reset_staff(self, email: str, password_hash: str, totp_secret: str) -> bool:
        """New password and TOTP secret, unlocked, every session of the account ended."""
        wrapped, sealed = self._key.seal(totp_secret.encode(), aad=b"totp:" + email.encode())
        with self._tx() as db:
            changed = db.execute(
                "UPDATE staff SET password_hash = ?, totp_wrapped = ?, totp_sealed = ?, "
                "failures = 0, locked_until = 0, last_step = 0 WHERE email = ?",
                (password_hash, wrapped, sealed, email),
            ).rowcount
            if changed:
                db.execute("DELETE FROM sessions WHERE email = ?", (email,))
                self._audit(db, "operator", "staff-reset", email)
        return bool(changed)

    def remove_staff(self, email: str) -> bool:
        with self._tx() as db:
            removed = db.execute("DELETE FROM staff WHERE email = ?", (email,)).rowcount
            if removed:
                self._audit(db, "operator", "staff-remove", email)
        return bool(removed)

    def list_staff(self) -> list[tuple[str, float, bool]]:
        """(email, created_at, locked now) for each account."""
        now = self._clock()
        rows = self._db.execute(
            "SELECT email, created_at, locked_until FROM staff ORDER BY email"
        ).fetchall()
        return [(email, created, locked > now) for email, created, locked in rows]

    def get_staff(self, email: str) -> StaffRecord | None:
        row = self._db.execute(
            "SELECT email, password_hash, totp_wrapped, totp_sealed, created_at, failures, "
            "locked_until, last_step FROM staff WHERE email = ?",
            (email,),
        ).fetchone()
        if row is None:
            return None
        secret = self._key.open(row[2], row[3], aad=b"totp:" + email.encode()).decode()
        return StaffRecord(row[0], row[1], secret, row[4], row[5], row[6], row[7])

    def record_failure(self, email: str, *, client: str, limit: int, lock_seconds: float) -> bool:
        """Count a failed sign-in; at ``limit`` failures lock the account. True if locked."""
        now = self._clock()
        with self._tx() as db:
            self._audit(db, email, "sign-in-failed", "", client)
            row = db.execute(
                "UPDATE staff SET failures = failures + 1 WHERE email = ? RETURNING failures",
                (email,),
            ).fetchone()
            if row is None or row[0] < limit:
                return False
            db.execute(
                "UPDATE staff SET failures = 0, locked_until = ? WHERE email = ?",
                (now + lock_seconds, email),
            )
            self._audit(db, email, "locked", "", client)
            return True

    def signed_in(self, email: str, *, step: int, client: str) -> tuple[str, str] | None:
        """A good sign-in: reset failures, spend the TOTP step, open a session.
        Returns (cookie token, CSRF token); only the token's digest is stored. None, and
        nothing changed, when the account was locked or the step spent since the caller
        read it (get_staff): two attempts checked at once with one code, or an attempt
        checked while another locked the account, open no session."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self._clock()
        with self._tx() as db:
            spent = db.execute(
                "UPDATE staff SET failures = 0, locked_until = 0, last_step = ? "
                "WHERE email = ? AND last_step < ? AND locked_until <= ?",
                (step, email, step, now),
            )
            if spent.rowcount != 1:
                return None
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (_digest(token), email, csrf, now, now),
            )
            self._audit(db, email, "sign-in", "", client)
        return token, csrf

    def session(self, token: str, *, idle_seconds: float) -> Session | None:
        """The live session for a cookie value, touched; an idle one is ended (None)."""
        now = self._clock()
        digest = _digest(token)
        with self._tx() as db:
            row = db.execute(
                "SELECT email, csrf, created_at, last_seen FROM sessions WHERE token_hash = ?",
                (digest,),
            ).fetchone()
            if row is None:
                return None
            if now - row[3] > idle_seconds:
                db.execute("DELETE FROM sessions WHERE token_hash = ?", (digest,))
                self._audit(db, row[0], "session-expired")
                return None
            db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, digest))
        return Session(row[0], row[1], row[2], now)

    def end_session(self, token: str, *, client: str) -> None:
        with self._tx() as db:
            row = db.execute(
                "DELETE FROM sessions WHERE token_hash = ? RETURNING email", (_digest(token),)
            ).fetchone()
            if row is not None:
                self._audit(db, row[0], "sign-out", "", client)

    # -- keys ----------------------------------------------------------------------

    def rotate_key(self, new: InboxKey) -> int:
        """Re-wrap every data key (messages and TOTP secrets) under ``new``, in one
        transaction; returns how many were re-wrapped. The bodies are not touched."""
        with self._tx() as db:
            held = db.execute("SELECT id, wrapped_key FROM held").fetchall()
            for message_id, wrapped in held:
                db.execute(
                    "UPDATE held SET wrapped_key = ? WHERE id = ?",
                    (self._key.rewrap(wrapped, new, aad=message_id.encode()), message_id),
                )
            staff = db.execute("SELECT email, totp_wrapped FROM staff").fetchall()
            for email, wrapped in staff:
                db.execute(
                    "UPDATE staff SET totp_wrapped = ? WHERE email = ?",
                    (self._key.rewrap(wrapped, new, aad=b"totp:" + email.encode()), email),
                )
            db.execute("UPDATE meta SET value = ? WHERE name = 'key_check'", (new.check_value(),))
            db.execute("UPDATE meta SET value = ? WHERE name = 'key_id'", (new.key_id,))
            self._audit(db, "operator", "rotate-key", f"{self._key.key_id}->{new.key_id}")
        self._key = new
        return len(held) + len(staff)
