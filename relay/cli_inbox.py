"""``contact-relay staff ...``, ``inbox rotate-key`` and ``audit``: the inbox's operators.

Passwords come from a prompt (twice, not echoed) or, with ``--password-stdin``, from the
first line of standard input (for scripts); they are never arguments, which other users
of the machine could read in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from relay.errors import ConfigError
from relay.inbox import (
    InboxKey,
    enrolment_uri,
    hash_password,
    key_file,
    new_totp_secret,
    open_inbox,
    password_problem,
)
from relay.settings import Settings


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    """The staff, inbox and audit commands; ``add`` gives a parser its --config option."""
    staff = add(sub.add_parser("staff", help="staff accounts for the hold inbox"))
    ops = staff.add_subparsers(dest="op", required=True)
    for name, text in (("add", "create an account"), ("reset", "new password and code")):
        op = ops.add_parser(name, help=f"{text}; prints the TOTP enrolment URI once")
        op.add_argument("email")
        op.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    ops.add_parser("list", help="accounts (no secrets)")
    ops.add_parser("remove", help="delete an account and its sessions").add_argument("email")

    inbox = add(sub.add_parser("inbox", help="the hold inbox's key"))
    inbox_ops = inbox.add_subparsers(dest="op", required=True)
    rotate = inbox_ops.add_parser("rotate-key", help="re-wrap every data key under a new key")
    rotate.add_argument(
        "--new-key-file", type=Path,
        help="where to write the new key (required when the key comes from RELAY_INBOX__KEY*)",
    )  # fmt: skip

    audit = add(sub.add_parser("audit", help="print the inbox audit log as JSON lines"))
    audit.add_argument("--since", help="ISO date or time, e.g. 2026-11-01")


def _password(email: str, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {email}: ")
        if getpass.getpass("Again: ") != password:
            raise ConfigError("the two passwords differ; nothing was changed")
    if problem := password_problem(password, email):
        raise ConfigError(f"password refused: {problem}; nothing was changed")
    return password


def _email(text: str) -> str:
    from relay.settings import check_address

    try:
        return check_address(text.strip()).casefold()
    except ValueError:
        raise ConfigError(f"not a valid email address: {text!r}") from None


def run_staff(settings: Settings, args: argparse.Namespace) -> int:
    store, generated = open_inbox(settings, clock=time.time)
    try:
        if generated:
            print(
                f"A new inbox key was written to {key_file(settings)}: back it up.", file=sys.stderr
            )
        if args.op == "list":
            for email, created, locked in store.list_staff():
                since = datetime.fromtimestamp(created, UTC).date().isoformat()
                print("\t".join([email, f"since {since}"] + (["LOCKED"] if locked else [])))
            return 0
        email = _email(args.email)
        if args.op == "remove":
            if not store.remove_staff(email):
                raise ConfigError(f"no account {email}")
            print(f"removed {email}")
            return 0
        password = _password(email, args.password_stdin)
        secret = new_totp_secret()
        change = store.add_staff if args.op == "add" else store.reset_staff
        if not change(email, hash_password(password), secret):
            raise ConfigError(
                f"an account {email} exists already" if args.op == "add" else f"no account {email}"
            )
        print("Add this to the authenticator app now (it is shown once):")
        print(enrolment_uri(secret, email, settings.clinic.name))
        return 0
    finally:
        store.close()


def run_rotate(settings: Settings, args: argparse.Namespace) -> int:
    store, _ = open_inbox(settings, clock=time.time)
    try:
        new = InboxKey.generate()
        from_env = bool(settings.inbox.key.get_secret_value())
        target: Path = args.new_key_file or key_file(settings)
        if from_env and args.new_key_file is None:
            raise ConfigError(
                "the inbox key comes from RELAY_INBOX__KEY or RELAY_INBOX__KEY_FILE: pass "
                "--new-key-file PATH, then put that key where the old one was"
            )
        # The new key reaches the disk before any data key is re-wrapped under it.
        staging = target.with_name(target.name + ".new")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(new.to_text() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        count = store.rotate_key(new)
        os.replace(staging, target)
        print(f"re-wrapped {count} data keys; the new key (id {new.key_id}) is in {target}.")
        print("Back it up now, and destroy old copies of the previous key.")
        return 0
    finally:
        store.close()


def run_audit(settings: Settings, since: str | None) -> int:
    start = 0.0
    if since:
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            raise ConfigError(f"--since: not an ISO date or time: {since!r}") from None
        start = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    store, _ = open_inbox(settings, clock=time.time)
    try:
        for row in store.audit_since(start):
            row["at"] = datetime.fromtimestamp(row["at"], UTC).isoformat(timespec="seconds")
            print(json.dumps(row))
        return 0
    finally:
        store.close()
