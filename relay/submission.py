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
from relay.i18n import Text
from relay.settings import FormSettings, LimitsSettings

HONEYPOT = "_gotcha"
NEXT = "_next"

# Text: English here, translated where a page or problem knows the visitor's language.
LABELS = {
    "name": Text("your name"),
    "email": Text("your email address"),
    "phone": Text("your phone number"),
    "message": Text("your message"),
    "subject": Text("a subject"),
}

# Refused in one-line fields: every C0/C1 control (Unicode category Cc: CR, LF, NUL,
# NEL U+0085 among them), the line and paragraph separators U+2028/U+2029, the
# bidirectional overrides (they can make a header read differently than it is), and
# lone surrogates (valid in JSON, not encodable as UTF-8).
_NOT_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# RFC 2047 encoded words: the email package decodes them when a header is set, and
# on Python 3.11/3.12 wrote a decoded CR/LF out raw (header injection).
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bBqQ]\?")
# Refused in multi-line fields: controls other than TAB and LF (after CR/LF folding),
# and lone surrogates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_PHONE_RE = re.compile(r"^\+?[0-9 ().\-/]{7,30}((ext\.?|x|#) ?[0-9]{1,6})?$", re.IGNORECASE)


@dataclass(frozen=True)
class Submission:
    """The accepted fields of one post, in the form's order. Values are health data."""

    form_id: str
    fields: dict[str, str] = field(repr=False)
    reply_to: str | None = field(default=None, repr=False)


def label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def displayable(value: str) -> str:
    """A posted value safe to show back in a page (lone surrogates replaced)."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _clean_text(value: str) -> str | None:
    """Normalise a multi-line value's line breaks; None when it holds control characters."""
    value = re.sub("\r\n?|[\x0b\x0c\x85\u2028\u2029]", "\n", value)
    return None if _CONTROL.search(value) else value


def _check_email(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError(
            Text("Please check your email address: it should look like name@example.com.")
        ) from None
    if result.ascii_email is not None:
        local = result.ascii_email.rpartition("@")[0]
        if len(local) > 64 or len(result.ascii_email) > 254:
            raise ValueError(
                Text("Please check your email address: it is longer than addresses can be.")
            )
    if result.ascii_email is None:
        raise ValueError(
            Text(
                "We cannot reply to an address with accents or non-Latin letters before the @. "
                "Please give another address, or leave your phone number."
            )
        )
    return result.ascii_email


def _check_phone(value: str) -> str:
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE_RE.match(value) or not 7 <= digits <= 15:
        raise ValueError(Text("Please enter a phone number we can call, such as (555) 123-4567."))
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
            problems[name] = Text("Please send {label} only once.", label=label(name))
            continue
        if not isinstance(raw, str):
            problems[name] = Text("Please write {label} as text.", label=label(name))
            continue
        multiline = form.multiline(name)
        limit = limits.max_text_chars if multiline else limits.max_line_chars
        # Checked before stripping: a trailing CR or LF is what slipped into headers
        # on older Pythons (CVE-2024-6923), so it is refused, not quietly trimmed.
        if multiline:
            cleaned = _clean_text(raw)
            if cleaned is None:
                problems[name] = Text(
                    "{label} contains invisible control characters.", label=label(name)
                )
                continue
            value = unicodedata.normalize("NFC", cleaned).strip()
        elif _NOT_ONE_LINE.search(raw) or _ENCODED_WORD.search(raw):
            problems[name] = Text(
                "Please write {label} on one line, without special characters.", label=label(name)
            )
            continue
        else:
            value = unicodedata.normalize("NFC", raw).strip()
        if len(value) > limit:
            problems[name] = Text(
                "{label} is too long: please keep it under {limit} characters.",
                label=label(name), limit=limit,
            )  # fmt: skip
            continue
        if not value:
            if name in form.required:
                problems[name] = Text("Please fill in {label}.", label=label(name))
            continue
        try:
            if name == "email":
                value = _check_email(value)
            elif name == "phone":
                value = _check_phone(value)
        except ValueError as exc:
            problems[name] = exc.args[0]  # the Text itself, so it can be translated
            continue
        fields[name] = value
    if problems:
        raise InvalidSubmission(problems)
    return Submission(form_id=form_id, fields=fields, reply_to=fields.get("email"))
