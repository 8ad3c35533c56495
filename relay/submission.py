"""Turn a posted body into the checked fields of one form, or say kindly what is wrong.

Pure: no I/O, no logging. Problems name the field and explain in plain words; they
never repeat what the visitor typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from relay.errors import InvalidSubmission
from relay.settings import FormSettings, LimitsSettings

HONEYPOT = "_gotcha"
NEXT = "_next"

LABELS = {
    "name": "your name",
    "email": "your email address",
    "phone": "your phone number",
    "message": "your message",
    "subject": "a subject",
}

# Line breaks the email package or a mail reader may honour, beyond CR and LF.
_LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# Bidirectional overrides: they can make a header read differently than it is.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_PHONE_RE = re.compile(r"^\+?[0-9 ().\-/]{7,30}((ext\.?|x|#) ?[0-9]{1,6})?$", re.IGNORECASE)


@dataclass(frozen=True)
class Submission:
    """The accepted fields of one post, in the form's order. Values are health data."""

    form_id: str
    fields: dict[str, str] = field(repr=False)
    reply_to: str | None = field(default=None, repr=False)


def label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def _bad_single_line(value: str) -> bool:
    return any(
        ch in _LINE_BREAKS or ch in _BIDI or unicodedata.category(ch) == "Cc" for ch in value
    )


def _clean_text(value: str) -> str | None:
    """Normalise a multi-line value; None when it holds control characters."""
    value = re.sub(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]", "\n", value)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
        return None
    return value


def _check_email(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError(
            "Please check your email address: it should look like name@example.com."
        ) from None
    if result.ascii_email is not None:
        local = result.ascii_email.rpartition("@")[0]
        if len(local) > 64 or len(result.ascii_email) > 254:
            raise ValueError("Please check your email address: it is longer than addresses can be.")
    if result.ascii_email is None:
        raise ValueError(
            "We cannot reply to an address with accents or non-Latin letters before the @. "
            "Please give another address, or leave your phone number."
        )
    return result.ascii_email


def _check_phone(value: str) -> str:
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE_RE.match(value) or not 7 <= digits <= 15:
        raise ValueError("Please enter a phone number we can call, such as (555) 123-4567.")
    return value


def single_values(pairs: Iterable[tuple[str, object]]) -> tuple[dict[str, object], set[str]]:
    """Collapse posted (name, value) pairs; also return the names given more than once."""
    values: dict[str, object] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in values:
            repeated.add(name)
        values[name] = value
    return values, repeated


def validate(
    form_id: str,
    form: FormSettings,
    limits: LimitsSettings,
    posted: Mapping[str, object],
    repeated: Iterable[str] = (),
) -> Submission:
    """Check the posted values against the form; raise InvalidSubmission listing problems.

    Only the form's own fields are kept: anything else posted is not forwarded.
    """
    problems: dict[str, str] = {}
    repeated = set(repeated)
    fields: dict[str, str] = {}
    for name in form.fields:
        raw = posted.get(name, "")
        if name in repeated:
            problems[name] = f"Please send {label(name)} only once."
            continue
        if not isinstance(raw, str):
            problems[name] = f"Please write {label(name)} as text."
            continue
        multiline = form.multiline(name)
        limit = limits.max_text_chars if multiline else limits.max_line_chars
        # Checked before stripping: a trailing CR or LF is what slipped into headers
        # on older Pythons (CVE-2024-6923), so it is refused, not quietly trimmed.
        if multiline:
            cleaned = _clean_text(raw)
            if cleaned is None:
                problems[name] = (
                    f"{label(name).capitalize()} contains invisible control characters."
                )
                continue
            value = unicodedata.normalize("NFC", cleaned).strip()
        elif _bad_single_line(raw):
            problems[name] = f"Please write {label(name)} on one line, without special characters."
            continue
        else:
            value = unicodedata.normalize("NFC", raw).strip()
        if len(value) > limit:
            problems[name] = (
                f"{label(name).capitalize()} is too long: please keep it under {limit} characters."
            )
            continue
        if not value:
            if name in form.required:
                problems[name] = f"Please fill in {label(name)}."
            continue
        try:
            if name == "email":
                value = _check_email(value)
            elif name == "phone":
                value = _check_phone(value)
        except ValueError as exc:
            problems[name] = str(exc)
            continue
        fields[name] = value
    if problems:
        raise InvalidSubmission(problems)
    return Submission(form_id=form_id, fields=fields, reply_to=fields.get("email"))
