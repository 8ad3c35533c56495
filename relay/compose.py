"""Build the email that staff receive. Pure: data in, data out.

Two steps. At intake, ``draft_submission``/``draft_urgent`` fix everything the email
will say (subject, body text, Message-ID, date) in a small ``Draft`` that the outbox
stores as JSON: cheap, so acknowledging a visitor stays fast. At delivery, ``render``
turns the draft into an ``EmailMessage``; the email package's header folding costs
about 2 ms a message, which is why it is kept off the request path. A draft renders
to the same headers on every retry.

Headers are only ever set through ``EmailMessage`` (never by concatenation), and the
values that come from visitors were already refused at intake if they held line
breaks or control characters; the email package's own checks are the second wall.
"""

from __future__ import annotations

import email.policy
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from relay.i18n import LANGUAGE_NAMES, N_, Text, sentence, translate
from relay.submission import label

SUBMISSION_HEADER = "X-Relay-Submission-Id"
SCREENING_HEADER = "X-Relay-Screening"
CRISIS_HEADER = "X-Relay-Crisis"  # "possible": the screening was unsure


@functools.lru_cache(maxsize=64)
def envelope_sender(from_address: str) -> str:
    """The bare address of the configured From, for MAIL FROM."""
    return parseaddr(from_address)[1]


def message_id(submission_id: str, from_address: str, kind: str = "submission") -> str:
    """One stable Message-ID per outbox item, so a retried message is recognisably the same."""
    domain = envelope_sender(from_address).rpartition("@")[2] or "localhost"
    suffix = "" if kind == "submission" else f".{kind}"
    return f"<{submission_id}{suffix}@{domain}>"


def _subject(template: str, fields: Mapping[str, str]) -> str:
    # Settings checked that the template only names plain fields of the form.
    return " ".join(template.format_map(_Blank(fields)).split())


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Draft:
    """Everything one email will say. ``headers`` are the extra ones, in order."""

    from_address: str
    to: tuple[str, ...]
    reply_to: str | None
    subject: str
    date: str
    message_id: str
    headers: tuple[tuple[str, str], ...]
    body: str

    def to_json(self) -> bytes:
        # vars(), not dataclasses.asdict(): asdict deep-copies, which showed in profiles.
        return json.dumps(vars(self), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Draft:
        raw = json.loads(data)
        raw["to"] = tuple(raw["to"])
        raw["headers"] = tuple(tuple(h) for h in raw["headers"])
        return cls(**raw)


def render(draft: Draft) -> EmailMessage:
    """The EmailMessage for a draft. Raises ValueError if a header could not be built,
    or if the serialised message does not carry exactly the headers the draft names."""
    msg = _build(draft)
    _check_headers(msg.as_bytes(), draft)
    return msg


def render_bytes(draft: Draft) -> bytes:
    """``render(draft).as_bytes()``, serialised once: the bytes checked are the bytes
    sent (the delivery worker's path; serialising costs about as much as the check)."""
    data = _build(draft).as_bytes()
    _check_headers(data, draft)
    return data


def _build(draft: Draft) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = draft.from_address
    msg["To"] = ", ".join(draft.to)
    if draft.reply_to:
        local, _, domain = draft.reply_to.rpartition("@")
        msg["Reply-To"] = Address(username=local, domain=domain)
    msg["Subject"] = draft.subject
    msg["Date"] = draft.date
    msg["Message-ID"] = draft.message_id
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in draft.headers:
        msg[name] = value
    msg.set_content(draft.body, subtype="plain", charset="utf-8")
    return msg


_FIXED = ("From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version",
          "Content-Type", "Content-Transfer-Encoding")  # fmt: skip


def _check_headers(data: bytes, draft: Draft) -> None:
    """The second wall against header injection. The intake already refuses line
    breaks and encoded words in one-line fields; this re-reads what will be sent and
    insists on exactly the expected header names. (On Python 3.11/3.12 the email
    package decoded an encoded word holding CR/LF and wrote it out raw, which added
    headers: a check of the input alone could not see that.)"""
    expected = [*_FIXED, *(name for name, _ in draft.headers)]
    if draft.reply_to:
        expected.append("Reply-To")
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    if parsed.defects or sorted(k.lower() for k in parsed.keys()) != sorted(
        k.lower() for k in expected
    ):
        raise ValueError("the rendered message has unexpected headers")
    # Nor may a value decode to a line break (an encoded CR/LF a reader would show).
    if any("\r" in str(v) or "\n" in str(v) for v in parsed.values()):
        raise ValueError("a rendered header decodes to a line break")


@functools.lru_cache(maxsize=64)
def _written_in(written_in: str, staff_language: str) -> str:
    """A line for staff, in the clinic's language, naming the visitor's language."""
    if not written_in:
        return ""
    name = Text(LANGUAGE_NAMES.get(written_in, written_in))
    return (
        translate(staff_language, Text("The visitor wrote in {language}.", language=name)) + "\n\n"
    )


def _t(lang: str, msgid: str, **params: object) -> str:
    """One sentence of a staff email in the clinic's language (``[forms.X] language``)."""
    return sentence(lang, msgid, params)


# Field names as staff read them (the visitor's pages say "your name" instead).
STAFF_LABELS = {"name": N_("Name"), "email": N_("Email"), "phone": N_("Phone"),
                "message": N_("Message"), "subject": N_("Subject")}  # fmt: skip


@functools.lru_cache(maxsize=256)
def _title(name: str, lang: str) -> str:
    if name in STAFF_LABELS:
        return translate(lang, STAFF_LABELS[name])
    return str(label(name)).removeprefix("your ").capitalize()


def _headers(submission_id: str, verdict: str, form_id: str) -> list[tuple[str, str]]:
    return [
        (SUBMISSION_HEADER, submission_id),
        (SCREENING_HEADER, verdict),
        ("X-Relay-Form", form_id),
    ]


def _field_lines(
    fields: Mapping[str, str], order: Sequence[str], multiline: set[str], lang: str
) -> str:
    lines: list[str] = []
    for name in order:
        value = fields.get(name, "")
        title = _title(name, lang)
        if name in multiline:
            lines += ["", f"{title}:", value or _t(lang, "(empty)"), ""]
        else:
            lines.append(f"{title}: {value}")
    return "\n".join(lines).strip("\n")


def draft_submission(
    *,
    fields: Mapping[str, str],
    field_order: Sequence[str],
    multiline: set[str],
    form_id: str,
    subject_template: str,
    from_address: str,
    recipients: Sequence[str],
    submission_id: str,
    verdict: str,
    medical_policy: str,
    reply_to: str | None,
    now: datetime,
    spam: Sequence[str] = (),
    written_in: str = "",
    staff_language: str = "en",
    possible_crisis: bool = False,
) -> Draft:
    """The message for an accepted submission, text/plain, listing the form's fields.
    ``spam`` names heuristic signals: the message is marked, never dropped.
    ``written_in`` (a language code) adds a line, in ``staff_language``, saying which
    language the visitor wrote in.
    ``possible_crisis``: the screening was unsure whether the message is a crisis (the
    visitor was shown the resources); it is marked ``[Possible crisis]`` in the subject
    and ``X-Relay-Crisis: possible`` so that staff read it first."""
    lang = staff_language
    subject = _subject(subject_template, fields)
    headers = _headers(submission_id, verdict, form_id)
    note = ""
    if spam:
        subject = f"{_t(lang, '[Possible spam]')} {subject}"
        headers.append(("X-Relay-Spam", ",".join(spam)))
    if verdict == "medical":
        headers.append(("X-Relay-Medical-Policy", medical_policy))
        if medical_policy == "flag":
            subject = f"{_t(lang, '[Medical details]')} {subject}"
            note += _t(lang, "This message contains medical details. Handle it under your "
                       "privacy rules.") + "\n\n"  # fmt: skip
        elif medical_policy == "redact":
            note += _t(lang, "Medical details in this message were removed before sending.")
            note += "\n\n"
    if possible_crisis:  # outermost, so it leads the subject
        subject = f"{_t(lang, '[Possible crisis]')} {subject}"
        headers.append((CRISIS_HEADER, "possible"))
        note = _t(lang, "The screening was unsure whether this message speaks of a crisis. "
                  "The visitor was shown the crisis resources. Please read it first.") + (
            "\n\n" + note
        )  # fmt: skip
    sent = _t(lang, 'A visitor sent this through the "{form}" form on {when}.', form=form_id,
              when=_when(now))  # fmt: skip
    footer = _t(lang, "Submission {id}, screening: {verdict}", id=submission_id, verdict=verdict)
    body = (
        f"{sent}\n\n{note}"
        f"{_written_in(written_in, staff_language)}"
        f"{_field_lines(fields, field_order, multiline, lang)}\n\n"
        f"-- \n{footer}\n"
    )
    return Draft(
        from_address=from_address, to=tuple(recipients), reply_to=reply_to, subject=subject,
        date=_date(now),
        message_id=message_id(submission_id, from_address), headers=tuple(headers), body=body,
    )  # fmt: skip


def _when(now: datetime) -> str:
    return _minute(now.astimezone(UTC).replace(second=0, microsecond=0))


def _date(now: datetime) -> str:
    """The Date header (RFC 5322 keeps whole seconds)."""
    return _second(now.astimezone(UTC).replace(microsecond=0))


# Under a flood many drafts share a second: formatting a date is a tenth of a draft.
@functools.lru_cache(maxsize=4)
def _minute(now: datetime) -> str:
    return now.strftime("%Y-%m-%d %H:%M UTC")


@functools.lru_cache(maxsize=4)
def _second(now: datetime) -> str:
    return format_datetime(now)


def draft_urgent(
    *,
    fields: Mapping[str, str],
    form_id: str,
    from_address: str,
    recipients: Sequence[str],
    submission_id: str,
    include_message: bool,
    resources: Sequence[str],
    reply_to: str | None,
    now: datetime,
    written_in: str = "",
    staff_language: str = "en",
    held_link: str = "",
) -> Draft:
    """The urgent call-back notice for a visitor whose message reads as a crisis
    (``written_in``: as in draft_submission). ``held_link``: the form holds medical
    messages, so the text waits in the inbox there and is never in this email."""
    lang = staff_language
    name = fields.get("name") or _t(lang, "a website visitor")
    contact = "\n".join(
        f"{_title(k, lang)}: {fields[k]}" for k in ("name", "phone", "email") if fields.get(k)
    )
    shown = "\n".join(f"  - {r}" for r in resources)
    if held_link:
        text = _t(lang, "Their message is kept privately; read it after signing in:")
        text += f"\n{held_link}\n"
    elif include_message and fields.get("message"):
        text = f"{_t(lang, 'Their message:')}\n\n{fields['message']}\n"
    else:
        text = _t(lang, "Their message is not included in this email (crisis_include_message "
                  "is off); it is not stored by the relay.") + "\n"  # fmt: skip
    reads = _t(lang, 'A message sent through the "{form}" form on {when} reads as a possible '
               "crisis: thoughts of suicide or self-harm, or someone in danger.", form=form_id,
               when=_when(now))  # fmt: skip
    body = (
        f"{reads}\n\n{_t(lang, 'Please call them back as soon as you can.')}\n\n"
        f"{_written_in(written_in, staff_language)}"
        f"{contact or _t(lang, '(no contact details were given)')}\n\n"
        f"{_t(lang, 'They were shown these resources straight away:')}\n{shown}\n\n"
        f"{text}\n-- \n"
        f"{_t(lang, 'Submission {id}, screening: {verdict}', id=submission_id, verdict='crisis')}\n"
    )
    headers = [*_headers(submission_id, "crisis", form_id), ("Importance", "high"),
               ("X-Priority", "1")]  # fmt: skip
    return Draft(
        from_address=from_address, to=tuple(recipients), reply_to=reply_to,
        subject=_t(lang, "URGENT: please call back {name} (crisis)", name=name),
        date=_date(now),
        message_id=message_id(submission_id, from_address, "urgent"), headers=tuple(headers),
        body=body,
    )  # fmt: skip


def draft_notice(
    *,
    form_id: str,
    form_title: str,
    from_address: str,
    recipients: Sequence[str],
    submission_id: str,
    link: str,
    now: datetime,
    possible_crisis: bool = False,
    staff_language: str = "en",
) -> Draft:
    """The notice of a held message (the ``hold`` policy): which form, when, and where to
    read it. No message text, no health detail, no visitor name, no Reply-To."""
    lang = staff_language
    first = (
        _t(lang, "The screening was not sure whether it speaks of a crisis: please read it "
           "first.") + "\n\n" if possible_crisis else ""
    )  # fmt: skip
    kept = _t(lang, 'A message sent through the "{form}" form on {when} includes health '
              "details, so it was not sent by email: it is kept encrypted in the relay.",
              form=form_title, when=_when(now))  # fmt: skip
    footer = _t(lang, "Submission {id}, screening: medical, kept private (hold)",
                id=submission_id)  # fmt: skip
    body = f"{kept}\n\n{first}{_t(lang, 'Read it after signing in:')}\n{link}\n\n-- \n{footer}\n"
    headers = _headers(submission_id, "medical", form_id)
    if possible_crisis:
        headers.append((CRISIS_HEADER, "possible"))
    marker = _t(lang, "[Possible crisis]") + " " if possible_crisis else ""
    received = _t(lang, "Private message received: {form}", form=form_title)
    return Draft(
        from_address=from_address, to=tuple(recipients), reply_to=None,
        subject=f"{marker}{received}",
        date=_date(now),
        message_id=message_id(submission_id, from_address, "notice"), headers=tuple(headers),
        body=body,
    )  # fmt: skip
