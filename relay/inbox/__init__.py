"""The ``hold`` inbox: medical messages kept encrypted, read by staff after signing in.

Public face of the package; everything else is private. ``open_inbox(settings)`` finds
the inbox key and opens ``<data_dir>/inbox.sqlite3``; the store seals each held message
under its own AES-GCM data key wrapped by the inbox key (see ``_crypto``).

The inbox key comes from ``RELAY_INBOX__KEY`` / ``RELAY_INBOX__KEY_FILE`` (base64 of 32
bytes), else from ``<data_dir>/inbox.key``, which is generated (mode 0600) when there is
no inbox yet. A missing or wrong key never makes messages silently unreadable: opening
fails with InboxKeyError and a message that says how to recover, and nothing is changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from relay.errors import InboxKeyError
from relay.inbox._accounts import (
    MAX_FAILURES,
    SignIn,
    enrolment_uri,
    hash_password,
    new_totp_secret,
    password_problem,
    sign_in,
)
from relay.inbox._crypto import InboxKey
from relay.inbox._store import HeldMessage, HeldSummary, InboxStore, Session
from relay.settings import Settings

__all__ = [
    "MAX_FAILURES",
    "HeldMessage",
    "HeldSummary",
    "InboxKey",
    "InboxStore",
    "Session",
    "SignIn",
    "enrolment_uri",
    "hash_password",
    "inbox_in_use",
    "key_file",
    "new_totp_secret",
    "open_inbox",
    "password_problem",
    "resolve_key",
    "sign_in",
]


def inbox_path(settings: Settings) -> Path:
    return settings.storage.data_dir / "inbox.sqlite3"


def key_file(settings: Settings) -> Path:
    return settings.storage.data_dir / "inbox.key"


def inbox_in_use(settings: Settings) -> bool:
    """A form holds medical messages, or an inbox exists already (switching a form back
    to ``reject`` must not cut staff off from what is held): then its key must open it
    before anything else starts."""
    if any(f.medical == "hold" for f in settings.forms.values()):
        return True
    try:
        return inbox_path(settings).exists()
    except OSError:  # a data folder we may not read: the outbox check says what to fix
        return False


def resolve_key(settings: Settings) -> tuple[InboxKey, bool]:
    """The inbox key, and whether it was generated just now (the caller says to back
    it up). Generates one only when there is no inbox yet."""
    configured = settings.inbox.key.get_secret_value()
    if configured:
        return InboxKey.from_text(configured), False
    path = key_file(settings)
    try:
        return InboxKey.from_text(path.read_text(encoding="ascii")), False
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise InboxKeyError(f"cannot read the inbox key {path}: {exc.__class__.__name__}") from None
    if inbox_path(settings).exists():
        raise InboxKeyError(
            f"held messages are stored in {inbox_path(settings)} but the inbox key is "
            f"missing ({path}, RELAY_INBOX__KEY or RELAY_INBOX__KEY_FILE). Restore it from "
            "your backup; nothing was changed or deleted."
        )
    key = InboxKey.generate()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.to_text() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key, True


def open_inbox(settings: Settings, *, clock: Callable[[], float]) -> tuple[InboxStore, bool]:
    """The inbox store, and whether its key was generated just now."""
    key, generated = resolve_key(settings)
    return InboxStore(inbox_path(settings), key, clock=clock), generated
