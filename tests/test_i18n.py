"""Catalogs and language choice: every text has Spanish, and the choice order holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from relay import i18n, language
from relay.i18n import Text
from relay.submission import LABELS

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = ("en", "es")


def extracted() -> dict[str, int]:
    """Every message id pybabel extract finds with the project's babel.cfg."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)  # type: ignore[no-untyped-call]
    found: dict[str, int] = {}
    for _, lineno, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map):
        key = message[0] if isinstance(message, tuple) else message
        found[key] = lineno
    return found


def spanish() -> dict[str, list[str]]:
    with (i18n.LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="es")
    out: dict[str, list[str]] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        key = str(message.id[0] if isinstance(message.id, tuple | list) else message.id)
        raw = message.string
        strings = [str(s) for s in (raw if isinstance(raw, tuple | list) else (raw,)) if s]
        out[key] = strings
    return out


def test_extraction_finds_template_python_and_problem_texts() -> None:
    """pybabel finds texts in templates, Text(...) and the titles and details of problems."""
    ids = extracted()
    for expected in (
        "Send message",  # a template
        "Please fill in {label}.",  # Text() in the validator
        "No such form",  # a Problem title in intake
        "This address does not accept that kind of request.",  # a dict value in app
        "The body is not valid JSON.",  # BadBody in parsing
        "Please check one thing before sending",  # ngettext
    ):
        assert expected in ids, expected
    assert len(ids) > 100


def test_every_text_has_spanish() -> None:
    """A visitor-facing text without a Spanish translation fails here (run
    scripts/update_catalogs.py, then translate the new entries)."""
    es = spanish()
    missing = sorted(m for m in extracted() if not es.get(m))
    assert not missing, f"no Spanish for: {missing}"


def test_spanish_keeps_every_placeholder() -> None:
    """{label}, {limit}, %(num)d ... appear in the translation exactly as in the id."""
    pattern = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)[sd]")
    with (i18n.LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="es")
    for message in catalog:
        ids = [str(i) for i in (message.id if isinstance(message.id, tuple | list) else
                                (message.id,))]  # fmt: skip
        raw = message.string
        strings = [str(s) for s in (raw if isinstance(raw, tuple | list) else (raw,))]
        # A plural's forms may each use the placeholders of either id.
        allowed = {p for i in ids for p in pattern.findall(i)}
        needed = set(pattern.findall(ids[0]))
        for string in filter(None, strings):
            found = set(pattern.findall(string))
            assert needed <= found | {"%(num)d"} and found <= allowed, message.id


def test_text_is_english_and_translates_with_its_parameters() -> None:
    """A Text reads as English anywhere, and re-forms in Spanish with translated labels."""
    text = Text("{label} is too long: please keep it under {limit} characters.",
                label=LABELS["message"], limit=300)  # fmt: skip
    assert text == "Your message is too long: please keep it under 300 characters."
    assert i18n.translate("es", text) == (
        "Su mensaje es demasiado largo: use menos de 300 caracteres, por favor."
    )
    assert i18n.translate("en", text) == text
    assert i18n.translate("es", "Not a catalog text") == "Not a catalog text"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-MX,es;q=0.9,en;q=0.8", ["es", "es", "en"]),
        ("en;q=0.2, es-419;q=0.9", ["es", "en"]),
        ("fr, es;q=0.5", ["fr", "es"]),
        ("es;q=0, en", ["en"]),  # q=0: not this one
        ("*", []),
        ("", []),
        (None, []),
        ("en;q=2, es;q=abc, ;;, de-", []),  # nothing valid
        ("EN_us", ["en"]),
        ("es ; q = 0.7 , en ; q = 0.3", ["es", "en"]),
    ],
)
def test_accept_language_is_parsed_robustly(header: str | None, expected: list[str]) -> None:
    """q-values order the ranges, regions fold to the language, junk is skipped."""
    assert list(language.accepted(header)) == expected


def test_a_huge_header_is_cut_not_parsed_forever() -> None:
    """A megabyte of ranges is read only up to its first kilobyte."""
    assert list(language.accepted("es," * 500_000))[:1] == ["es"]
    assert len(list(language.accepted("es," * 500_000))) <= language.MAX_HEADER // 3 + 1


@pytest.mark.parametrize(
    ("query", "written", "accept", "expected"),
    [
        ("es", "en", "en", "es"),  # ?lang= first
        ("xx", "es", "en", "es"),  # an unknown ?lang= falls through quietly
        (None, "es", "en-US", "es"),  # then the language the message was written in
        (None, None, "es-MX,en;q=0.5", "es"),  # then Accept-Language
        (None, None, "fr, de", "en"),  # then the default
        ("ES-mx", None, None, "es"),
        ("<script>", None, "garbage;;", "en"),
    ],
)
def test_language_choice_order(
    query: str | None, written: str | None, accept: str | None, expected: str
) -> None:
    """?lang=, then the written language, then Accept-Language, then the default."""
    assert language.choose(SUPPORTED, "en", query=query, written=written, accept=accept) == (
        expected
    )


def test_staff_email_names_the_visitors_language_in_the_clinics() -> None:
    """The staff email stays in the clinic's language and says which one the visitor used."""
    from datetime import UTC, datetime

    from relay.compose import draft_submission, draft_urgent

    common: dict[str, object] = {
        "fields": {"name": "Ana", "message": "Hola"}, "form_id": "contact",
        "from_address": "Clinic <no-reply@clinic.example>", "recipients": ["a@clinic.example"],
        "submission_id": "abc", "reply_to": None, "now": datetime(2026, 11, 30, tzinfo=UTC),
    }  # fmt: skip
    english = draft_submission(
        **common, field_order=["name", "message"], multiline={"message"},  # type: ignore[arg-type]
        subject_template="Website contact from {name}", verdict="clean", medical_policy="reject",
        written_in="es", staff_language="en",
    )  # fmt: skip
    assert "The visitor wrote in Spanish." in english.body
    assert english.body.startswith("A visitor sent this")  # the rest stays English
    urgent = draft_urgent(**common, include_message=False, resources=[],  # type: ignore[arg-type]
                          written_in="en", staff_language="es")  # fmt: skip
    assert "La persona escribió en inglés." in urgent.body
    plain = draft_submission(
        **common, field_order=["name", "message"], multiline={"message"},  # type: ignore[arg-type]
        subject_template="x", verdict="clean", medical_policy="reject",
    )  # fmt: skip
    assert "wrote in" not in plain.body


def test_no_problem_text_is_built_where_extraction_cannot_see_it() -> None:
    """Titles and details of Problem(...)/BadBody(...) are literals, names bound to
    literals, or Text(...) with placeholders: never f-strings, which no catalog can hold."""
    import ast

    offenders = []
    for path in sorted((ROOT / "relay").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("Problem", "BadBody", "Text")
            ):
                args = node.args[:1] if node.func.id == "Text" else node.args[1:3]
                offenders += [
                    f"{path.name}:{node.lineno}" for a in args if isinstance(a, ast.JoinedStr)
                ]
    assert not offenders, offenders
