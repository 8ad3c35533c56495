"""The hold inbox's store, keys and accounts, on real SQLite files and real crypto."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from relay.errors import InboxKeyError
from relay.inbox import (
    MAX_FAILURES,
    InboxKey,
    InboxStore,
    hash_password,
    new_totp_secret,
    open_inbox,
    password_problem,
    sign_in,
)
from relay.settings import Settings

CANARY = "CANARY-HELD-7f3a9c"
PASSWORD = "correct horse battery staple"
EMAIL = "nurse@clinic.example"
DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def settings_in(tmp_path: Path, **inbox: object) -> Settings:
    return Settings(storage={"data_dir": tmp_path}, inbox=inbox)


def files_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("inbox.sqlite3*"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[InboxStore]:
    opened, _ = open_inbox(settings_in(tmp_path), clock=clock)
    yield opened
    opened.close()


def hold(store: InboxStore, message_id: str = "m1", at: float | None = None) -> None:
    store.add_held(
        message_id, "contact", at if at is not None else 1_800_000_000.0,
        {"name": "Pat Example", "message": f"my {CANARY} dose"},
        [{"category": "medication", "field": "message", "start": 3, "end": 21}], "en",
    )  # fmt: skip


def enrol(store: InboxStore) -> str:
    secret = new_totp_secret()
    assert store.add_staff(EMAIL, hash_password(PASSWORD), secret)
    return secret


def test_held_text_is_sealed_on_disk(store: InboxStore, tmp_path: Path) -> None:
    """A held message's text is in no database or WAL byte, and reads back whole."""
    hold(store)
    assert CANARY.encode() not in files_bytes(tmp_path)
    assert b"Pat Example" not in files_bytes(tmp_path)
    message = store.read_held("m1", actor=EMAIL, client="127.0.0.1")
    assert message is not None and CANARY in message.fields["message"]
    assert message.reasons[0]["category"] == "medication"
    assert message.summary.state == "read"


def test_files_are_private_whatever_the_umask(tmp_path: Path, clock: Clock) -> None:
    """The key file and the database are created 0600 even under umask 000."""
    import os

    old = os.umask(0)
    try:
        store, generated = open_inbox(settings_in(tmp_path), clock=clock)
        hold(store)
        store.close()
    finally:
        os.umask(old)
    assert generated
    for name in ("inbox.key", "inbox.sqlite3"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_wrong_key_stops_and_changes_nothing(tmp_path: Path, clock: Clock) -> None:
    """Another key refuses to open the inbox, says how to recover, and deletes nothing."""
    store, _ = open_inbox(settings_in(tmp_path), clock=clock)
    hold(store)
    store.close()
    other = InboxKey.generate().to_text()
    with pytest.raises(InboxKeyError, match="backup"):
        open_inbox(settings_in(tmp_path, key=other), clock=clock)
    store, _ = open_inbox(settings_in(tmp_path), clock=clock)
    assert [h.id for h in store.list_held()] == ["m1"]
    store.close()


def test_missing_key_with_held_messages_is_refused(tmp_path: Path, clock: Clock) -> None:
    """A lost key file is not silently replaced by a new one while messages are held."""
    store, _ = open_inbox(settings_in(tmp_path), clock=clock)
    hold(store)
    store.close()
    (tmp_path / "inbox.key").unlink()
    with pytest.raises(InboxKeyError, match="missing"):
        open_inbox(settings_in(tmp_path), clock=clock)
    assert not (tmp_path / "inbox.key").exists()


def test_malformed_key_is_refused(tmp_path: Path, clock: Clock) -> None:
    """A key that is not base64 of 32 bytes gets a clear message naming the problem."""
    with pytest.raises(InboxKeyError, match="base64"):
        open_inbox(settings_in(tmp_path, key="not a key!"), clock=clock)
    with pytest.raises(InboxKeyError, match="32 bytes"):
        open_inbox(settings_in(tmp_path, key="c2hvcnQ="), clock=clock)


def test_rotation_rewraps_every_data_key(store: InboxStore, tmp_path: Path, clock: Clock) -> None:
    """After rotate_key the new key opens messages and TOTP secrets; the old one opens nothing."""
    hold(store)
    secret = enrol(store)
    new = InboxKey.generate()
    assert store.rotate_key(new) == 2
    store.close()
    with pytest.raises(InboxKeyError):
        open_inbox(settings_in(tmp_path), clock=clock)  # inbox.key still holds the old key
    reopened, _ = open_inbox(settings_in(tmp_path, key=new.to_text()), clock=clock)
    message = reopened.read_held("m1", actor=EMAIL, client="")
    assert message is not None and CANARY in message.fields["message"]
    staff = reopened.get_staff(EMAIL)
    assert staff is not None and staff.totp_secret == secret
    reopened.close()


def test_a_row_copied_elsewhere_does_not_open(store: InboxStore, tmp_path: Path) -> None:
    """The message id is bound into the seal: a sealed body moved onto another id fails."""
    hold(store, "m1")
    hold(store, "m2")
    db = sqlite3.connect(tmp_path / "inbox.sqlite3")
    db.execute(
        "UPDATE held SET ciphertext = (SELECT ciphertext FROM held WHERE id = 'm1'), "
        "wrapped_key = (SELECT wrapped_key FROM held WHERE id = 'm1') WHERE id = 'm2'"
    )
    db.commit()
    db.close()
    with pytest.raises(InboxKeyError):
        store.read_held("m2", actor=EMAIL, client="")


def test_audit_log_is_append_only(store: InboxStore, tmp_path: Path) -> None:
    """UPDATE and DELETE on the audit table are refused by the database itself."""
    hold(store)
    store.read_held("m1", actor=EMAIL, client="10.0.0.7")
    db = sqlite3.connect(tmp_path / "inbox.sqlite3")
    for sql in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    db.close()
    rows = store.audit_since()
    assert rows[-1]["action"] == "view" and rows[-1]["client"] == "10.0.0.7"
    assert all(CANARY not in str(row) for row in rows)


def test_unknown_id_is_audited_and_shows_nothing(store: InboxStore) -> None:
    """Reading or closing an id that does not exist gives nothing and is written down."""
    assert store.read_held("nope", actor=EMAIL, client="c") is None
    assert not store.mark_done("nope", actor=EMAIL, client="c")
    assert [r["action"] for r in store.audit_since()[-2:]] == ["view-missing", "done-missing"]


def test_sign_in_needs_password_and_fresh_code(store: InboxStore, clock: Clock) -> None:
    """A right password and code open a session; a wrong one, or a code used twice, do not."""
    secret = enrol(store)
    code = pyotp.TOTP(secret).at(clock.now)
    assert sign_in(store, EMAIL, "wrong password!!", code, client="c", now=clock.now).refused == (
        "password"
    )
    assert sign_in(store, EMAIL, PASSWORD, "000000" if code != "000000" else "111111",
                   client="c", now=clock.now).refused == "code"  # fmt: skip
    ok = sign_in(store, EMAIL, PASSWORD, code, client="c", now=clock.now)
    assert ok.refused is None and ok.token and ok.csrf
    again = sign_in(store, EMAIL, PASSWORD, code, client="c", now=clock.now)
    assert again.refused == "replayed"
    assert sign_in(store, "nobody@clinic.example", PASSWORD, code, client="c",
                   now=clock.now).refused == "unknown"  # fmt: skip
    actions = [r["action"] for r in store.audit_since()]
    assert actions.count("sign-in-failed") == 3 and "sign-in" in actions
    assert "sign-in-unknown" in actions


def test_ten_failures_lock_for_fifteen_minutes(store: InboxStore, clock: Clock) -> None:
    """The tenth failure locks the account; the right password and code wait 15 minutes."""
    secret = enrol(store)
    for _ in range(MAX_FAILURES):
        assert sign_in(
            store, EMAIL, "wrong password!!", "123456", client="c", now=clock.now
        ).refused
    clock.now += 60
    code = pyotp.TOTP(secret).at(clock.now)
    assert sign_in(store, EMAIL, PASSWORD, code, client="c", now=clock.now).refused == "locked"
    assert store.list_staff()[0][2]  # shown as locked
    clock.now += 15 * 60
    code = pyotp.TOTP(secret).at(clock.now)
    assert sign_in(store, EMAIL, PASSWORD, code, client="c", now=clock.now).refused is None
    actions = [r["action"] for r in store.audit_since()]
    assert "locked" in actions and "sign-in-while-locked" in actions


def test_attempts_checked_at_once_open_one_session(
    store: InboxStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sign-ins run in threads: an attempt that read the account before another spent its
    code (or locked the account) opens no session. Interleaved here by running the other
    attempt inside the first one's read."""
    secret = enrol(store)
    code = pyotp.TOTP(secret).at(clock.now)
    read = store.get_staff
    inner: list[str | None] = []

    def read_then_race(email: str) -> object:
        staff = read(email)
        if not inner:
            inner.append("racing")
            inner[0] = sign_in(store, EMAIL, PASSWORD, code, client="b", now=clock.now).refused
        return staff

    monkeypatch.setattr(store, "get_staff", read_then_race)
    outer = sign_in(store, EMAIL, PASSWORD, code, client="a", now=clock.now)
    assert inner == [None] and outer.refused == "replayed" and not outer.token
    assert [r["action"] for r in store.audit_since()].count("sign-in") == 1

    clock.now += 60
    code = pyotp.TOTP(secret).at(clock.now)
    inner.clear()

    def read_then_lock(email: str) -> object:
        staff = read(email)
        if not inner:
            inner.append("locked")
            for _ in range(MAX_FAILURES):
                sign_in(store, EMAIL, "wrong password!!", "123456", client="b", now=clock.now)
        return staff

    monkeypatch.setattr(store, "get_staff", read_then_lock)
    assert sign_in(store, EMAIL, PASSWORD, code, client="a", now=clock.now).refused == "replayed"
    assert store.list_staff()[0][2]  # still locked


def test_sessions_end_when_idle_and_on_sign_out(store: InboxStore, clock: Clock) -> None:
    """A session lives while used; idle past the limit, or signed out, it is gone."""
    secret = enrol(store)
    ok = sign_in(
        store, EMAIL, PASSWORD, pyotp.TOTP(secret).at(clock.now), client="c", now=clock.now
    )
    idle = 15 * 60
    clock.now += idle - 1
    assert store.session(ok.token, idle_seconds=idle) is not None  # touched: idle starts again
    clock.now += idle - 1
    session = store.session(ok.token, idle_seconds=idle)
    assert session is not None and session.email == EMAIL and session.csrf == ok.csrf
    clock.now += idle + 1
    assert store.session(ok.token, idle_seconds=idle) is None
    clock.now += 60
    ok = sign_in(
        store, EMAIL, PASSWORD, pyotp.TOTP(secret).at(clock.now), client="c", now=clock.now
    )
    store.end_session(ok.token, client="c")
    assert store.session(ok.token, idle_seconds=idle) is None
    assert store.session("forged-token", idle_seconds=idle) is None


def test_reset_ends_sessions_and_unlocks(store: InboxStore, clock: Clock) -> None:
    """staff reset gives a new password and code and ends the account's sessions."""
    secret = enrol(store)
    ok = sign_in(
        store, EMAIL, PASSWORD, pyotp.TOTP(secret).at(clock.now), client="c", now=clock.now
    )
    new_secret = new_totp_secret()
    assert store.reset_staff(EMAIL, hash_password("another long passphrase"), new_secret)
    assert store.session(ok.token, idle_seconds=900) is None
    clock.now += 30
    code = pyotp.TOTP(new_secret).at(clock.now)
    assert sign_in(store, EMAIL, "another long passphrase", code, client="c",
                   now=clock.now).refused is None  # fmt: skip


def test_retention_purges_and_checkpoints(store: InboxStore, clock: Clock, tmp_path: Path) -> None:
    """Held messages go after 30 days, handled ones after 7, counted in the audit log."""
    hold(store, "old", at=clock.now - 31 * DAY)
    hold(store, "handled", at=clock.now - 10 * DAY)
    hold(store, "fresh", at=clock.now - 1 * DAY)
    clock.now -= 8 * DAY
    assert store.mark_done("handled", actor=EMAIL, client="c")
    clock.now += 8 * DAY
    assert store.counts()[0] == 2  # old and fresh are not done
    assert store.purge(retention_days=30, done_retention_days=7) == 2
    assert [h.id for h in store.list_held()] == ["fresh"]
    assert store.audit_since()[-1]["action"] == "purge"
    assert (tmp_path / "inbox.sqlite3-wal").stat().st_size == 0


@pytest.mark.parametrize(
    ("password", "refused"),
    [
        ("short1!", True),
        ("password1234", True),
        ("Qwertyuiop123!", True),
        ("nurse-nurse-nurse", True),
        ("aaaaaaaaaaaaaaaa", True),
        ("correct horse battery staple", False),
    ],
)
def test_password_policy(password: str, refused: bool) -> None:
    """Short, common, name-based and repetitive passwords are refused; a passphrase is fine."""
    assert (password_problem(password, EMAIL) is not None) is refused
