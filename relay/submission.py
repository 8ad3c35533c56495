"""Turn a posted body into the checked fields of one form, or say kindly what is wrong.

Pure: no I/O, no logging. Problems name the field and explain in plain words; they
never repeat what the visitor typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from email_validator import SPECIAL_USE_DOMAIN_NAMES as SPECIAL_USE
from email_validator import EmailNotValidError, validate_email

from relay.errors import InvalidSubmission
from relay.i18n import Text
from relay.settings import FormSettings, LimitsSettings

HONEYPOT = "_gotcha"
NEXT = "_next"
SEND_REDACTED = "_send_redacted"  # "1": deliver with the detected medical words masked
TOO_MANY = "_fields"  # the problem key when a post has more fields than limits.max_fields

# Text: English here, translated where a page or problem knows the visitor's language.
LABELS = {
    "name": Text("your name"),
    "email": Text("your email address"),
    "phone": Text("your phone number"),
    "message": Text("your message"),
    "subject": Text("a subject"),
}


# Every Unicode format character (category Cf, Unicode 14: bidi marks such as U+200E,
# U+200F and U+061C, zero-width spaces, tag characters, the BOM) except the joiners
# U+200C/U+200D, which names in Persian and Indic scripts (and emoji) need inside a word.
# tests/test_intake_hardening.py checks this list against unicodedata.
FORMAT_CHARACTERS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b\u200e-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
)
# Refused in one-line fields (they reach the Subject header): every C0/C1 control
# (Unicode category Cc: CR, LF, NUL, NEL U+0085 among them), the line and paragraph
# separators U+2028/U+2029, every format character (bidi overrides and marks can make
# a header read differently than it is; zero-width and tag characters hide text),
# a joiner at the edge of a word, and lone surrogates (valid in JSON, not UTF-8).
_NOT_ONE_LINE = re.compile(
    f"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff{FORMAT_CHARACTERS}]"
    "|(?:^|(?<=\\s))[\u200c\u200d]|[\u200c\u200d](?=\\s|$)|[\u200c\u200d]{2}"
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


_BREAKS = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")


def cleaned(value: str, *, multiline: bool) -> str:
    """The value as validation keeps it (line breaks folded to LF in multi-line fields,
    NFC, stripped), without judging it: the screening reads this text before
    validation, so that its offsets fit the delivered text and a crisis is seen even
    in a post whose other fields are wrong."""
    if multiline:
        value = _BREAKS.sub("\n", value)
    return unicodedata.normalize("NFC", value).strip()


# The plain shape of most addresses (letters and digits, single . _ + - between them,
# a lower-case LDH domain with a letter TLD, no "--" that would make a label IDNA),
# which email-validator returns unchanged: checked here in 2 us instead of its 22 us
# (it walks the domain character by character for IDNA). Anything else, and special-use
# domains, go to email-validator; tests/test_submission.py checks that both agree.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9]+(?:[._+-][A-Za-z0-9]+)*@(?!.*--)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"[a-z]{2,63}",
    re.ASCII,
)


def _plain_email(value: str) -> str | None:
    """``value`` when it has the plain shape above (and fits the lengths), else None."""
    if len(value) > 254 or not _PLAIN_EMAIL.fullmatch(value):
        return None
    local, _, domain = value.rpartition("@")
    if len(local) > 64 or any(domain == d or domain.endswith("." + d) for d in SPECIAL_USE):
        return None
    return value


def _check_email(value: str) -> str:
    if (plain := _plain_email(value)) is not None:
        return plain
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
    """Collapse posted (name, value) pairs; also return the names given more than once.
    A name posted twice is refused by validation, but its texts are joined here, so the
    screening reads every one of them (a crisis in either copy still comes first)."""
    values: dict[str, object] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in values:
            repeated.add(name)
            before = values[name]
            if isinstance(before, str) and isinstance(value, str):
                value = f"{before}\n{value}"
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
    sub, problems = check(form_id, form, limits, posted, repeated)
    if problems:
        raise InvalidSubmission(problems)
    return sub


def check(
    form_id: str,
    form: FormSettings,
    limits: LimitsSettings,
    posted: Mapping[str, object],
    repeated: Iterable[str] = (),
    texts: Mapping[str, str] | None = None,
) -> tuple[Submission, dict[str, str]]:
    """The fields that passed and the problems of those that did not (field -> kind
    sentence). A crisis notice goes out with whatever contact details were valid.
    ``texts``: the posted text values already ``cleaned`` (as the pipeline screened
    them), so that they are not cleaned twice."""
    texts = texts or {}
    problems: dict[str, str] = {}
    if len(posted) > limits.max_fields:
        problems[TOO_MANY] = Text("Please send at most {n} fields.", n=limits.max_fields)
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
            value = texts.get(name) or cleaned(raw, multiline=True)
            if _CONTROL.search(value):
                problems[name] = Text(
                    "{label} contains invisible control characters.", label=label(name)
                )
                continue
        elif _NOT_ONE_LINE.search(raw) or _ENCODED_WORD.search(raw):
            problems[name] = Text(
                "Please write {label} on one line, without special characters.", label=label(name)
            )
            continue
        else:
            value = texts.get(name) or cleaned(raw, multiline=False)
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
    return Submission(form_id=form_id, fields=fields, reply_to=fields.get("email")), problems
