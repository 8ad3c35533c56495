"""The staff email: headers from configuration, visitor only in Reply-To, stable ids."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from relay.compose import (
    Draft,
    draft_submission,
    draft_urgent,
    envelope_sender,
    message_id,
    render,
    render_bytes,
)

NOW = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
FIELDS = {
    "name": "Ana Díaz",
    "email": "ana@example.com",
    "phone": "555-0100",
    "message": "Hello\n<script>alert(1)</script>\n.\n..\n.MAIL FROM",
}


def submission(**overrides: object) -> Draft:
    args: dict[str, object] = dict(
        fields=FIELDS,
        field_order=["name", "email", "phone", "message"],
        multiline={"message"},
        form_id="contact",
        subject_template="Website contact from {name}",
        from_address="Clinic form <no-reply@clinic.example>",
        recipients=["desk@clinic.example", "nurse@clinic.example"],
        submission_id="abc123",
        verdict="clean",
        medical_policy="reject",
        reply_to="ana@example.com",
        now=NOW,
    )
    args.update(overrides)
    return draft_submission(**args)  # type: ignore[arg-type]


def parsed(draft: Draft) -> email.message.EmailMessage:
    """Through JSON (as the outbox stores it), rendered, sent as bytes, parsed back."""
    again = Draft.from_json(draft.to_json())
    assert again == draft
    out = email.message_from_bytes(render(again).as_bytes(), policy=email.policy.default)
    assert isinstance(out, email.message.EmailMessage)
    return out


def test_headers_come_from_configuration() -> None:
    """From is the clinic's, To the configured recipients, Reply-To the visitor's address."""
    msg = parsed(submission())
    assert msg["From"] == "Clinic form <no-reply@clinic.example>"
    assert msg["To"] == "desk@clinic.example, nurse@clinic.example"
    assert msg["Reply-To"] == "ana@example.com"
    assert msg["Subject"] == "Website contact from Ana Díaz"
    assert msg["Message-ID"] == "<abc123@clinic.example>"
    assert msg["X-Relay-Submission-Id"] == "abc123"
    assert msg["X-Relay-Screening"] == "clean"


def test_body_is_plain_text_with_every_field() -> None:
    """One text/plain part lists the fields; HTML in the message stays inert text."""
    msg = parsed(submission())
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    body = msg.get_content()
    for value in ("Ana Díaz", "ana@example.com", "555-0100", "<script>alert(1)</script>"):
        assert value in body


def test_message_id_is_stable_per_submission_and_kind() -> None:
    """The same submission always gets the same Message-ID; the urgent notice its own."""
    assert message_id("abc", "x <a@clinic.example>") == message_id("abc", "a@clinic.example")
    assert message_id("abc", "a@clinic.example", "urgent") == "<abc.urgent@clinic.example>"
    assert envelope_sender("Clinic <a@clinic.example>") == "a@clinic.example"


def test_flag_policy_marks_subject_and_header() -> None:
    """medical=flag delivers unchanged but marked in the subject and a header."""
    msg = parsed(submission(verdict="medical", medical_policy="flag"))
    assert msg["Subject"].startswith("[Medical details] ")
    assert msg["X-Relay-Medical-Policy"] == "flag"
    assert msg["X-Relay-Screening"] == "medical"


def test_subject_placeholders_for_missing_fields_are_blank() -> None:
    """A subject naming an optional field that was left empty reads cleanly."""
    msg = parsed(submission(fields={"email": "a@example.com"}, subject_template="From {name} now"))
    assert msg["Subject"] == "From now"


@pytest.mark.parametrize("include", [False, True])
def test_urgent_notice_has_contact_details_and_message_only_when_asked(include: bool) -> None:
    """The crisis notice is urgent, carries the visitor's contact details, and the text only
    when crisis_include_message is on."""
    msg = parsed(
        draft_urgent(
            fields=FIELDS,
            form_id="contact",
            from_address="no-reply@clinic.example",
            recipients=["oncall@clinic.example"],
            submission_id="abc",
            include_message=include,
            resources=["988 Suicide & Crisis Lifeline: Call or text 988"],
            reply_to="ana@example.com",
            now=NOW,
        )  # fmt: skip
    )
    body = msg.get_content()
    assert msg["Subject"].startswith("URGENT")
    assert msg["X-Relay-Screening"] == "crisis" and msg["Importance"] == "high"
    assert "555-0100" in body and "Ana Díaz" in body and "988" in body
    assert ("<script>" in body) is include


def test_render_bytes_sends_exactly_what_it_checked() -> None:
    """render_bytes() (the worker's path) gives render().as_bytes(), and refuses what
    render() refuses (a header value that would add a header)."""
    draft = submission()
    assert render_bytes(draft) == render(draft).as_bytes()
    forged = Draft(**{**vars(draft), "subject": "Hi =?utf-8?q?x=0D=0ABcc=3A_a=40b.example?="})
    with pytest.raises(ValueError):
        render(forged)
    with pytest.raises(ValueError):
        render_bytes(forged)


def test_staff_email_follows_the_clinic_language() -> None:
    """With the clinic's language set to Spanish, the staff email is written in Spanish
    and names the language the visitor wrote in; the visitor's own words stay as sent."""
    from datetime import UTC, datetime

    from relay.compose import draft_submission, draft_urgent

    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    fields = {"name": "Ana", "email": "ana@example.com", "phone": "555", "message": "Hello"}
    draft = draft_submission(
        fields=fields, field_order=["name", "email", "phone", "message"], multiline={"message"},
        form_id="contact", subject_template="Web {name}", from_address="a@clinic.example",
        recipients=["b@clinic.example"], submission_id="s1", verdict="clean",
        medical_policy="reject", reply_to=None, now=now, written_in="en", staff_language="es",
        possible_crisis=True,
    )  # fmt: skip
    assert draft.subject == "[Posible crisis] Web Ana"
    assert "Un visitante envió esto" in draft.body and "Nombre: Ana" in draft.body
    assert "Mensaje:\nHello" in draft.body and "Envío s1" in draft.body
    urgent = draft_urgent(
        fields=fields, form_id="contact", from_address="a@clinic.example",
        recipients=["b@clinic.example"], submission_id="s1", include_message=False,
        resources=["988"], reply_to=None, now=now, written_in="en", staff_language="es",
    )  # fmt: skip
    assert urgent.subject == "URGENTE: devuelva la llamada a Ana (crisis)"
    assert "devuelva la llamada lo antes posible" in urgent.body


def test_staff_sentences_read_as_the_catalog_says() -> None:
    """``_t`` (cached lookups) gives exactly ``translate(lang, Text(msgid, **params))``
    for every staff sentence of this module, in every language, also with values that
    open the sentence in lower case."""
    import ast
    from pathlib import Path

    from relay import compose
    from relay.i18n import AVAILABLE, Text, translate

    tree = ast.parse(Path(compose.__file__).read_text())
    calls = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_t"
    ]  # fmt: skip
    assert len(calls) > 20
    for call in calls:
        msgid = ast.literal_eval(call.args[1])
        params = {kw.arg: f"ana {kw.arg}" for kw in call.keywords if kw.arg}
        for lang in AVAILABLE:
            assert compose._t(lang, msgid, **params) == translate(lang, Text(msgid, **params))
            assert compose._t(lang, "{x} wrote", x="ana") == translate(
                lang, Text("{x} wrote", x="ana")
            )


def test_cached_dates_read_as_formatted_afresh() -> None:
    """The Date header and the 'on {when}' time (cached per second and per minute) are
    what formatting each datetime afresh gives, whatever its zone and microseconds."""
    from datetime import timedelta, timezone
    from email.utils import format_datetime

    from relay import compose

    start = datetime(2026, 12, 1, 3, 59, 58, 999_999, tzinfo=UTC)
    for step in range(0, 4000, 7):
        for zone in (UTC, timezone(timedelta(hours=-5))):
            now = (start + timedelta(milliseconds=step * 13)).astimezone(zone)
            assert compose._date(now) == format_datetime(now.astimezone(UTC))
            assert compose._when(now) == now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
