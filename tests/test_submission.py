"""Validation of posted fields: kind errors, no control characters in one-line fields."""

from __future__ import annotations

import pytest
from email_validator import validate_email
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from relay import submission
from relay.errors import InvalidSubmission
from relay.settings import FormSettings, LimitsSettings
from relay.submission import validate

FORM = FormSettings()
LIMITS = LimitsSettings()
GOOD = {
    "name": "Ana Díaz",
    "email": "ana@example.com",
    "phone": "(555) 123-4567",
    "message": "What are your hours on Saturday?",
}


def problems(posted: dict[str, object], repeated: set[str] | None = None) -> dict[str, str]:
    with pytest.raises(InvalidSubmission) as info:
        validate("contact", FORM, LIMITS, posted, repeated or set())
    return info.value.problems


def test_valid_submission_keeps_only_the_forms_fields() -> None:
    """Fields the form does not list (to, cc, bcc, anything) are not forwarded."""
    sub = validate("contact", FORM, LIMITS, {**GOOD, "to": "evil@x.example", "cc": "a@b.example"})
    assert sub.fields == GOOD
    assert sub.reply_to == "ana@example.com"


def test_missing_required_fields_are_each_named() -> None:
    """Every empty required field gets its own kind sentence."""
    found = problems({"message": "  "})
    assert set(found) == {"name", "email", "phone", "message"}
    assert found["email"] == "Please fill in your email address."


def test_optional_fields_may_be_empty() -> None:
    """A field that is not required may be left out."""
    form = FormSettings(required=["email", "message"])
    sub = validate("contact", form, LIMITS, {"email": "a@example.com", "message": "hi"})
    assert sub.fields == {"email": "a@example.com", "message": "hi"}


@pytest.mark.parametrize(
    "bad",
    [
        "Eve\r\nBcc: victim@example.com",
        "Eve\nBcc: victim@example.com",
        "Eve\r",
        "Eve\n",
        "Eve\r\n",
        "Eve\x00",
        "Eve\x85x",
        "Eve\u2028Bcc: v@x.example",
        "Eve\u2029",
        "Eve\x0bx",
        "Eve\x1bx",
        "Eve\x7f",
        "Eve\u202ex",
    ],
)
def test_line_breaks_and_controls_in_one_line_fields_are_refused(bad: str) -> None:
    """CR, LF (mid or trailing), NUL, NEL, U+2028/9, other C0/DEL and bidi overrides: 422."""
    assert "name" in problems({**GOOD, "name": bad})


def test_message_keeps_its_lines_but_not_control_characters() -> None:
    """The message may span lines (normalised to LF); NUL and other controls are refused."""
    sub = validate("contact", FORM, LIMITS, {**GOOD, "message": "a\r\nb\rc\u2028d\te"})
    assert sub.fields["message"] == "a\nb\nc\nd\te"
    assert "message" in problems({**GOOD, "message": "hi\x00there"})


@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "a@b.example, c@d.example",
        "a@b.example\r\nBcc: c@d.example",
        "<a@b.example>",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "jürgen@example.com",
    ],
)
def test_bad_or_multiple_email_addresses_are_refused(address: str) -> None:
    """One syntactically valid ASCII address only (non-ASCII local parts cannot be replied to)."""
    assert "email" in problems({**GOOD, "email": address})


def test_international_domain_is_accepted_as_punycode() -> None:
    """An IDN domain is accepted and stored in its ASCII form for the Reply-To header."""
    sub = validate("contact", FORM, LIMITS, {**GOOD, "email": "info@bücher.example"})
    assert sub.reply_to == "info@xn--bcher-kva.example"


@pytest.mark.parametrize("phone", ["12", "call me maybe", "555-0100; DROP", "1" * 20])
def test_phone_numbers_are_checked(phone: str) -> None:
    """A phone number needs 7 to 15 digits and phone punctuation only."""
    assert "phone" in problems({**GOOD, "phone": phone})


@pytest.mark.parametrize(
    "phone", ["+1 (555) 123-4567", "555.123.4567", "0612345678", "555-123-4567 ext 12"]
)
def test_ordinary_phone_numbers_pass(phone: str) -> None:
    """Common national and international formats are accepted."""
    assert validate("contact", FORM, LIMITS, {**GOOD, "phone": phone}).fields["phone"] == phone


def test_length_limits_are_enforced() -> None:
    """One-line fields and the message each have a character limit."""
    found = problems({**GOOD, "name": "n" * 301, "message": "m" * 10001})
    assert set(found) == {"name", "message"}
    assert "300" in found["name"]


def test_non_text_json_values_and_repeats_are_refused() -> None:
    """A JSON list or number, or a field posted twice, is refused rather than guessed at."""
    found = problems({**GOOD, "name": ["a", "b"], "phone": 5551234567}, repeated={"email"})
    assert set(found) == {"name", "phone", "email"}


def test_problems_never_repeat_the_visitors_text() -> None:
    """Error sentences and the exception text name fields, never the values typed."""
    canary = "CANARY-DX-7731"
    posted = {"name": canary + "\n", "email": canary, "phone": canary, "message": canary + "\x00"}
    with pytest.raises(InvalidSubmission) as info:
        validate("contact", FORM, LIMITS, posted)
    assert canary not in str(info.value) and canary not in repr(info.value)
    assert all(canary not in text for text in info.value.problems.values())


_LOCAL = st.lists(st.sampled_from(["a", "Z", "0", "visitor", ".", "..", "_", "+", "-", "--",
                                   "é", " ", '"', "!", "#", "@", "x" * 60]),
                  min_size=1, max_size=5).map("".join)  # fmt: skip
_LABEL = st.sampled_from(["a", "mail", "x-y", "-x", "x-", "b--c", "xn--bcher-kva", "Mail", "é",
                          "x" * 63, "x" * 64, "example", "localhost", "test", "", "1"])  # fmt: skip
_TLD = st.sampled_from(["com", "io", "c", "COM", "test", "local", "arpa", "onion", "invalid",
                        "1", "xn--p1ai", "x" * 63, "localhost"])  # fmt: skip
_DOMAIN = st.tuples(st.lists(_LABEL, min_size=0, max_size=3), _TLD).map(
    lambda parts: ".".join([*parts[0], parts[1]])
)


@hypothesis_settings(max_examples=1500, deadline=None)
@given(_LOCAL, _DOMAIN)
def test_plain_email_shape_agrees_with_email_validator(local: str, domain: str) -> None:
    """An address taken by the quick plain-shape check is one email-validator accepts,
    returned exactly as email-validator returns it."""
    value = f"{local}@{domain}"
    plain = submission._plain_email(value)
    if plain is not None:
        result = validate_email(value, check_deliverability=False)
        assert result.ascii_email == plain


def test_plain_email_shape_takes_common_addresses_only() -> None:
    """Ordinary addresses take the quick path; anything unusual is left to email-validator."""
    assert submission._plain_email("ana.diaz+clinic@mail.example.com") is not None
    for value in ("Ana@Example.COM", "a@x.test", "a@xn--bcher-kva.example", "é@x.com",
                  "a@x.c", '"a b"@x.com', "a@[127.0.0.1]", "a.@x.com"):  # fmt: skip
        assert submission._plain_email(value) is None
