"""Screening of contact-form text: ``clean``, ``medical`` or ``crisis``.

Design (docs in the README, "Screening"): the text is folded (compatibility forms, case,
accents, invisible characters), then described by cheap features (words, word pairs,
word beginnings, lexicon kinds, identifier patterns). A small network trained on
labelled messages (scripts/train_screening.py, relay/screening/_model.py) gives two
scores, crisis and disclosure:

1. crisis first: over the crisis threshold the verdict is ``crisis`` (for text of three
   different words or fewer only with a crisis word of the lexicon: the score alone is
   not enough); in the soft zone below it the resources are shown and a
   ``crisis.possible`` reason flags it for staff, unless the crisis is said outright in
   the lexicon's words (``crisis``); a crisis stated in the first person, now ("I'm
   actively suicidal", "tengo ideas suicidas"), is ``crisis`` whatever the score;
2. identifiers (date of birth, SSN, record and member numbers, MBI, ICD-10 codes, labs
   and vitals) make a message ``medical`` on their own;
3. the disclosure score decides ``medical`` otherwise.

Reasons are character spans in the original text: identifiers, and the words that
weighed most. Pure: no I/O except load_lexicon(), no logging, no message text in any
exception. Linear in the length of the text; text past MAX_SCREENED characters cannot be
vouched for and is reported as a ``too_long`` reason (at least ``medical``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from relay.screening._features import HISTORY, SAID_OUTRIGHT, Features, extract
from relay.screening._identifiers import FEATURE_ONLY, Identifiers, load_identifiers
from relay.screening._lexicon import (
    LexiconError,
    PhraseIndex,
    build_index,
    lines,
)
from relay.screening._model import (
    CRISIS,
    MEDICAL,
    MODEL_FILE,
    Model,
    crisis_call,
    load_model,
    medical_call,
)
from relay.screening._negation import Negation, load_negation
from relay.screening._reasons import explain
from relay.screening._text import TOKEN, fold

__all__ = [
    "Language",
    "Lexicon",
    "LexiconError",
    "Reason",
    "Screening",
    "Verdict",
    "default_lexicon_dir",
    "detect_language",
    "load_lexicon",
    "redact",
    "screen",
    "screen_fields",
]

Verdict = Literal["clean", "medical", "crisis"]
Language = Literal["en", "es"]
MAX_SCREENED = 65_536
WINDOW, OVERLAP = 2_000, 400  # characters; see _windows()
NOT_SCREENED_FIELDS = frozenset({"name", "email", "phone"})
_RANK: dict[str, int] = {"clean": 0, "medical": 1, "crisis": 2}


@dataclass(frozen=True, slots=True)
class Reason:
    category: str  # a stable id such as "crisis", "crisis.possible", "dob", "medication"
    start: int  # offsets into the original text of the field
    end: int
    field: str = "message"


@dataclass(frozen=True, slots=True)
class Screening:
    verdict: Verdict
    reasons: tuple[Reason, ...]
    show_crisis_resources: bool
    language: Language = "en"  # the language the text was written in (pages answer in it)


def default_lexicon_dir() -> Path:
    """The shipped lexicons: ``config/screening`` of a source checkout (or editable
    install), else the copy a wheel installs under ``<prefix>/share/contact-relay``."""
    checkout = Path(__file__).resolve().parents[2] / "config" / "screening"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "contact-relay" / "screening"


@dataclass(frozen=True)
class Lexicon:
    """Everything screening reads, built once at start-up by load_lexicon() and shared."""

    index: PhraseIndex
    identifiers: Identifiers
    negation: Negation
    model: Model
    stopwords: frozenset[str]
    spanish: frozenset[str]
    english: frozenset[str]


def _words(path: Path) -> frozenset[str]:
    return frozenset(w for _, line in lines(path) for w in TOKEN.findall(fold(line)))


def _language_words(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    found: dict[str, frozenset[str]] = {}
    for number, line in lines(path):
        language, _, words = line.partition("\t")
        if language not in ("en", "es") or not words.strip():
            raise LexiconError(f"{path.name}:{number}: expected 'en|es<TAB>words'")
        found[language] = frozenset(TOKEN.findall(fold(words)))
    if set(found) != {"en", "es"}:
        raise LexiconError(f"{path.name}: needs an 'en' and an 'es' line")
    return found["es"], found["en"]


def load_lexicon(directory: Path | None = None, *, model: Path | None = None) -> Lexicon:
    """Read the lexicons and the model; raises LexiconError naming the file and line."""
    directory = default_lexicon_dir() if directory is None else directory
    if not directory.is_dir():
        raise LexiconError(f"{directory.name}: lexicon directory not found")
    stopwords = _words(directory / "stopwords.txt")
    spanish, english = _language_words(directory / "language_words.tsv")
    return Lexicon(
        index=build_index(directory, stopwords),
        identifiers=load_identifiers(directory / "identifiers.tsv"),
        negation=load_negation(directory),
        model=load_model(MODEL_FILE if model is None else model, stopwords),
        stopwords=stopwords,
        spanish=spanish,
        english=english,
    )


def features_of(text: str, lexicon: Lexicon) -> Features:
    """The features of one text (the training script reads them through this)."""
    return extract(fold(text[:MAX_SCREENED]), lexicon.index, lexicon.identifiers, lexicon.negation)


def _language(words: set[str], lexicon: Lexicon) -> Language:
    return "es" if len(words & lexicon.spanish) > len(words & lexicon.english) else "en"


def _windows(length: int) -> list[tuple[int, int]]:
    """Long text is scored in overlapping windows the size of a long message, as the
    models were trained: a crisis at the end of a forwarded thread is not drowned out."""
    if length <= WINDOW + OVERLAP:
        return [(0, length)]
    starts = range(0, length - OVERLAP, WINDOW - OVERLAP)
    return [(start, min(length, start + WINDOW)) for start in starts]


def _merged(spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Overlapping spans of one category as one ("need", "need help", "help now" ->
    "need help now"), in text order."""
    merged: list[list[Any]] = []
    for category, start, end in sorted(set(spans)):
        if merged and merged[-1][0] == category and start <= merged[-1][2]:
            merged[-1][2] = max(merged[-1][2], end)
        else:
            merged.append([category, start, end])
    return sorted(((c, s, e) for c, s, e in merged), key=lambda x: (x[1], x[2], x[0]))


def screen(text: str, lexicon: Lexicon, *, field: str = "message") -> Screening:
    return _screen(text, lexicon, field)[0]


def _screen(text: str, lexicon: Lexicon, field: str) -> tuple[Screening, set[str]]:
    """screen(), and the words of the text (screen_fields reuses them)."""
    body = text[:MAX_SCREENED]
    model = lexicon.model
    limits = model.thresholds
    index, stop = lexicon.index, lexicon.stopwords
    scored = []
    words: set[str] = set()
    for start, end in _windows(len(body)):
        features = features_of(body[start:end], lexicon)
        scored.append((model.score(features), start, end, features))
        words |= features.words
    c_scored, c_start, c_end, c_features = max(scored, key=lambda s: s[0].crisis)
    _, m_start, m_end, m_features = max(scored, key=lambda s: s[0].disclosure)
    crisis = c_scored.crisis
    spans: list[tuple[str, int, int]] = []
    verdict: Verdict = "clean"
    resources, sure = crisis_call(crisis, limits, c_features)
    if resources:
        category = "crisis" if sure else "crisis.possible"
        found = explain(
            body[c_start:c_end], c_features, model, CRISIS, category, index, stop, c_scored
        )
        spans += [(s.category, s.start + c_start, s.end + c_start) for s in found]
        if sure:
            verdict = "crisis"
    if verdict == "clean":
        for window, start, end, features in scored:
            score = window.disclosure
            alone = any(m.category not in FEATURE_ONLY for m in features.identifiers)
            told = medical_call(score, limits, features)
            if not alone and not told:
                continue
            verdict = "medical"
            # the disclosure words of the window that scored highest, every identifier
            which = MEDICAL if told and start == m_start else -1
            found = explain(
                body[start:end],
                features,
                model,
                which,
                "health",
                index,
                stop,
                window,
                features.identifiers,
            )
            spans += [(s.category, s.start + start, s.end + start) for s in found]
    if verdict == "medical" and not resources and m_features.keys & SAID_OUTRIGHT:
        if m_features.keys & HISTORY:
            # A past attempt or self-harm told as history: medical, and the resources
            # shown gently (staff see the message flagged).
            resources = True
    reasons = [Reason(c, s, e, field) for c, s, e in _merged(spans)]
    if len(text) > MAX_SCREENED:
        reasons.append(Reason("too_long", MAX_SCREENED, len(text), field))
        verdict = "medical" if verdict == "clean" else verdict
    return Screening(verdict, tuple(reasons), resources, _language(words, lexicon)), words


def screen_fields(fields: Mapping[str, str], lexicon: Lexicon) -> Screening:
    """Screen every free-text field except name, email and phone; the worst verdict wins."""
    verdict: Verdict = "clean"
    reasons: list[Reason] = []
    resources = False
    words: set[str] = set()
    for name, value in fields.items():
        if name in NOT_SCREENED_FIELDS or not value:
            continue
        result, found = _screen(value, lexicon, name)
        if _RANK[result.verdict] > _RANK[verdict]:
            verdict = result.verdict
        reasons.extend(result.reasons)
        resources = resources or result.show_crisis_resources
        # The language reads the first 2,000 characters: up to there, one window, so the
        # words screening found (the same folding and tokens).
        words.update(found if len(value) <= 2000 else TOKEN.findall(fold(value[:2000])))
    return Screening(verdict, tuple(reasons), resources, _language(words, lexicon))


@cache
def _default_language_words() -> tuple[frozenset[str], frozenset[str]]:
    return _language_words(default_lexicon_dir() / "language_words.tsv")


def detect_language(text: str) -> Language:
    """``"es"`` when more Spanish function words than English ones appear, else ``"en"``.
    Cheap and bounded (the first 2,000 characters); good enough to pick a page language."""
    spanish, english = _default_language_words()
    words = set(TOKEN.findall(fold(text[:2000])))
    return "es" if len(words & spanish) > len(words & english) else "en"


def redact(
    text: str, reasons: Iterable[Reason], *, field: str = "message", mask: str = "[removed]"
) -> str:
    """Replace each reason span of ``field`` (merged when they overlap or touch) with ``mask``."""
    spans = sorted((max(0, r.start), min(len(text), r.end)) for r in reasons if r.field == field)
    merged: list[list[int]] = []
    for start, end in spans:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, last = [], 0
    for start, end in merged:
        out += [text[last:start], mask]
        last = end
    out.append(text[last:])
    return "".join(out)
