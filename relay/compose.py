"""Build the email that staff receive. Pure: data in, ``EmailMessage`` out.

Headers are only ever set through ``EmailMessage`` (never by concatenation), and the
values that come from visitors were already refused at intake if they held line
breaks or control characters; the email package's own checks are the second wall.
"""

from __future__ import annotations

import email.policy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from relay.submission import label

SUBMISSION_HEADER = "X-Relay-Submission-Id"
SCREENING_HEADER = "X-Relay-Screening"


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


def _base(
    *,
    from_address: str,
    recipients: Sequence[str],
    subject: str,
    submission_id: str,
    verdict: str,
    kind: str,
    form_id: str,
    reply_to: str | None,
    now: datetime,
) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = from_address
    msg["To"] = ", ".join(recipients)
    if reply_to:
        local, _, domain = reply_to.rpartition("@")
        msg["Reply-To"] = Address(username=local, domain=domain)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = message_id(submission_id, from_address, kind)
    msg["Auto-Submitted"] = "auto-generated"
    msg[SUBMISSION_HEADER] = submission_id
    msg[SCREENING_HEADER] = verdict
    msg["X-Relay-Form"] = form_id
    return msg


def _field_lines(fields: Mapping[str, str], order: Sequence[str], multiline: set[str]) -> str:
    lines: list[str] = []
    for name in order:
        value = fields.get(name, "")
        title = label(name).removeprefix("your ").capitalize()
        if name in multiline:
            lines += ["", f"{title}:", value or "(empty)", ""]
        else:
            lines.append(f"{title}: {value}")
    return "\n".join(lines).strip("\n")


def compose_submission(
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
) -> EmailMessage:
    """The message for an accepted submission, text/plain, listing the form's fields.
    ``spam`` names heuristic signals: the message is marked, never dropped."""
    subject = _subject(subject_template, fields)
    if spam:
        subject = f"[Possible spam] {subject}"
    note = ""
    if verdict == "medical" and medical_policy == "flag":
        subject = f"[Medical details] {subject}"
        note = "This message contains medical details. Handle it under your privacy rules.\n\n"
    elif verdict == "medical" and medical_policy == "redact":
        note = "Medical details in this message were removed before sending.\n\n"
    msg = _base(
        from_address=from_address,
        recipients=recipients,
        subject=subject,
        submission_id=submission_id,
        verdict=verdict,
        kind="submission",
        form_id=form_id,
        reply_to=reply_to,
        now=now,
    )
    if verdict == "medical":
        msg["X-Relay-Medical-Policy"] = medical_policy
    if spam:
        msg["X-Relay-Spam"] = ",".join(spam)
    sent = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f'A visitor sent this through the "{form_id}" form on {sent}.\n\n{note}'
        f"{_field_lines(fields, field_order, multiline)}\n\n"
        f"-- \nSubmission {submission_id}, screening: {verdict}\n"
    )
    msg.set_content(body, subtype="plain", charset="utf-8")
    return msg


def compose_urgent(
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
) -> EmailMessage:
    """The urgent call-back notice for a visitor whose message reads as a crisis."""
    name = fields.get("name") or "a website visitor"
    msg = _base(
        from_address=from_address,
        recipients=recipients,
        subject=f"URGENT: please call back {name} (crisis)",
        submission_id=submission_id,
        verdict="crisis",
        kind="urgent",
        form_id=form_id,
        reply_to=reply_to,
        now=now,
    )
    msg["Importance"] = "high"
    msg["X-Priority"] = "1"
    sent = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    contact = "\n".join(
        f"{label(k).removeprefix('your ').capitalize()}: {fields[k]}"
        for k in ("name", "phone", "email")
        if fields.get(k)
    )
    shown = "\n".join(f"  - {r}" for r in resources)
    if include_message and fields.get("message"):
        text = f"Their message:\n\n{fields['message']}\n"
    else:
        text = (
            "Their message is not included in this email (crisis_include_message is off); "
            "it is not stored by the relay.\n"
        )
    body = (
        f'A message sent through the "{form_id}" form on {sent} reads as a possible crisis: '
        "thoughts of suicide or self-harm, or someone in danger.\n\n"
        "Please call them back as soon as you can.\n\n"
        f"{contact or '(no contact details were given)'}\n\n"
        f"They were shown these resources straight away:\n{shown}\n\n"
        f"{text}\n-- \nSubmission {submission_id}, screening: crisis\n"
    )
    msg.set_content(body, subtype="plain", charset="utf-8")
    return msg
