"""The shortcuts of the fast screening code find what the slow ways find, on generated
adversarial text. (That the whole of screening said exactly what the code before the
speed work said was proven against a frozen copy of it, on this text and on the
24,000 texts of scripts/screening_digest.py, when the speed work was merged; the digest
guards it from here on.)"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.screening import Lexicon, load_lexicon
from relay.screening._literals import possible, requirements
from relay.screening._text import ASCII_TOKEN, TOKEN, _has_astral, fold

LEXICON: Lexicon = load_lexicon()

# Pieces that reach every stage: doses and numbers next to units, dates and ids next to
# their keywords, negation cues before health words, crisis phrases, and the characters
# folding and offsets must handle (marks, ligatures, fullwidth, zero-width, Greek final
# sigma, Cherokee, Turkish dotted I, emoji, other scripts, odd spaces).
PIECES = [
    "50mg", "50 mg", "0.5 ml", "2,5mg", "100 units", "12 iu", "mg", "250mcg", "5mg/kg",
    "DOB", "dob:", "01/02/1980", "born on", "March 3, 1990", "3 de mayo de 1985",
    "SSN", "123-45-6789", "ss#", "last 4 of my social is 4471", "member id", "WXK 884 210 339",
    "MRN", "#A12345", "1EG4-TE5-MK72", "F33.2", "E11.65", "a1c", "7.2", "bp 140/90",
    "120/80 bp", "vitamin d was", "18", "1234567890123456789012345", "0000000", "9",
    "not", "no", "never", "don't", "i'm not", "do not", "sin", "nunca", "not sure",
    "on any", "medications", "depression", "zoloft", "sertraline", "diabetes", "my son",
    "I", "want", "to", "die", "kill", "myself", "suicide", "overdose", "me corté",
    "quiero morir", "ya no aguanto", "tonight", "goodbye", "cancel everything",
    "hours", "appointment", "?", "¿", ".", ",", "'", "’", '"', "...", "-", "_", "#",
    "\u0301", "\u0327", "e\u0301", "ﬁ", "Ｄｏｓｅ", "５０ｍｇ", "\u200b", "\u200d", "\u202e",
    "\ufeff", "ς", "Σ", "ΣΑΣ", "\u13a0", "\uab70", "İ", "ß", "ǅ", "😢", "💊", "\U000e0041",
    "\U0001d165", "Привет", "عربى", "中文", "\n", "\n\n", "\t", "  ", "\xa0", "\u3000",
]  # fmt: skip
WORDS = st.sampled_from(PIECES)


def _joined(parts: list[tuple[str, str]]) -> str:
    return "".join(piece + gap for piece, gap in parts)


TEXTS = st.one_of(
    st.text(max_size=3000),
    st.lists(st.tuples(WORDS, st.sampled_from([" ", "", "  ", "\n", ", "])), max_size=600).map(
        _joined
    ),
    # one piece repeated up to 10,000 characters ("50mg 50mg ...", a long number)
    st.tuples(WORDS, st.sampled_from([" ", "", "\n"]), st.integers(1, 10_000)).map(
        lambda t: ((t[0] + t[1]) * (t[2] // max(1, len(t[0] + t[1])) + 1))[: t[2]]
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=[]), max_size=60))
def test_astral_test_equals_the_slow_one(text: str) -> None:
    """_has_astral (by UTF-16 length) says what max(text) > U+FFFF says, lone surrogates
    included."""
    assert _has_astral(text) == (max(text, default="\0") > "\uffff")


@given(st.text(st.characters(max_codepoint=0x7F), max_size=200))
def test_ascii_tokens_equal_unicode_tokens_on_ascii_text(text: str) -> None:
    """On ASCII text the ASCII token pattern finds exactly TOKEN's tokens."""
    assert ASCII_TOKEN.findall(text) == TOKEN.findall(text)


def test_patterns_tried_around_every_digit_have_requirements() -> None:
    """The dose, formatted SSN and ICD-10 patterns (no trigger words) are skipped where
    their text is missing: a Python whose parser reads differently is noticed here."""
    by_category = {
        category: requirements(pattern)
        for category, pattern, _, triggers in LEXICON.identifiers.patterns
        if not triggers
    }
    assert ("-",) in by_category["ssn"]
    assert (".",) in by_category["icd10"]
    assert any("mg" in need and "units" in need for need in by_category["dose"])
    assert requirements(re.compile(r"a(?:b|c)?d+e{0,2}(?=x)(?i:q)(?:xy|z)")) == (
        ("a",),
        ("d",),
        ("xy", "z"),
    )
    assert requirements(re.compile("(?i)abc")) == ()


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_every_identifier_match_holds_its_requirements(text: str) -> None:
    """Wherever an identifier pattern matches, the text it requires is inside the match,
    so skipping a window without that text loses no match."""
    folded = text.lower()
    for _, pattern, _, _ in LEXICON.identifiers.patterns:
        needs = requirements(pattern)
        for match in pattern.finditer(folded):
            assert possible(folded, match.start(), match.end(), needs)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_negation_scopes_equal_a_scan_of_the_whole_text(text: str) -> None:
    """Trying the negation pattern only where a cue's first word is a token finds the
    words a scan of the whole text finds."""
    folded = fold(text)
    words = set(TOKEN.findall(folded))
    scanned = LEXICON.negation.pattern.findall(folded)
    assert LEXICON.negation.negated(folded, words) == {"!" + w for s in scanned for w in s if w}
