"""Staff accounts: password policy, argon2id hashes, TOTP codes, and the sign-in rule.

Sign-in needs all three of email, password and a 6-digit TOTP code. Every refusal looks
the same from outside (the caller shows one message), so a visitor cannot learn whether
an address has an account, whether it is locked, or which of the three was wrong; the
audit log records the real reason.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from relay.inbox._store import InboxStore

MIN_PASSWORD_CHARS = 12
MAX_FAILURES = 10
LOCK_SECONDS = 15 * 60
TOTP_STEP = 30
# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile.
_HASHER = PasswordHasher()
# Checked against a real hash so an unknown address costs the same time as a known one.
_DUMMY_HASH = _HASHER.hash("contact-relay: no such account")
_CODE = re.compile(r"\d{6}")


@cache
def _common_passwords() -> frozenset[str]:
    text = files("relay.inbox").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line and not line.startswith("#")
    )


def password_problem(password: str, email: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"use at least {MIN_PASSWORD_CHARS} characters"
    folded = password.casefold()
    if folded in _common_passwords() or folded.rstrip("0123456789!.") in _common_passwords():
        return "this password is on a list of common passwords; choose another"
    name = email.split("@")[0].casefold()
    if (len(name) >= 4 and name in folded) or len(set(password)) < 5:
        return "this password is too easy to guess; choose another"
    return None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def enrolment_uri(secret: str, email: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads (as text or QR code)."""
    return pyotp.TOTP(secret, interval=TOTP_STEP).provisioning_uri(name=email, issuer_name=issuer)


Refusal = Literal["unknown", "locked", "password", "code", "replayed"]


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of one attempt: a session (token, csrf) or the reason it was refused."""

    token: str = ""
    csrf: str = ""
    refused: Refusal | None = None


def _code_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code this is (the current one or one either side), or None."""
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP)
    current = int(now // TOTP_STEP)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            return step
    return None


def sign_in(
    store: InboxStore, email: str, password: str, code: str, *, client: str, now: float
) -> SignIn:
    """Check one attempt and record it (audit, failure count, lock, spent TOTP step)."""
    email = email.strip().casefold()
    staff = store.get_staff(email)
    if staff is None:
        try:  # same work as for a real account
            _HASHER.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        store.audit(email[:254] or "-", "sign-in-unknown", "", client)
        return SignIn(refused="unknown")
    if staff.locked_until > now:
        try:  # the same work as any other attempt: a lock is not told by timing
            _HASHER.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        store.audit(email, "sign-in-while-locked", "", client)
        return SignIn(refused="locked")
    try:
        _HASHER.verify(staff.password_hash, password)
        refused: Refusal | None = None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        refused = "password"
    step = _code_step(staff.totp_secret, code.strip(), now) if refused is None else None
    if refused is None and step is None:
        refused = "code"
    elif step is not None and step <= staff.last_step:
        refused = "replayed"  # a code is good once, even inside its 30 seconds
    if refused is not None or step is None:
        store.record_failure(email, client=client, limit=MAX_FAILURES, lock_seconds=LOCK_SECONDS)
        return SignIn(refused=refused or "code")
    opened = store.signed_in(email, step=step, client=client)
    if opened is None:  # another attempt spent this code, or locked the account, meanwhile
        store.record_failure(email, client=client, limit=MAX_FAILURES, lock_seconds=LOCK_SECONDS)
        return SignIn(refused="replayed")
    token, csrf = opened
    return SignIn(token=token, csrf=csrf)
