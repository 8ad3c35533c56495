"""Screening of contact-form text: ``clean``, ``medical`` or ``crisis``.

Pure: no I/O except load_lexicon() reading its files, no logging, and no message text in any
exception. Pipeline (see docs/SCREENING.md): normalise with an offset map -> crisis pass (wins)
-> identifier pass -> disclosure pass (a health term counts only when tied to a person in its
clause). Lexicons are plain data files in config/screening, reviewed by clinic staff.

Long input: text is screened in windows of WINDOW characters (overlapping by OVERLAP, so a
phrase cut by a window edge is still seen whole) up to MAX_SCREENED characters. Anything past
MAX_SCREENED cannot be vouched for, so it is reported as a ``too_long`` reason: the message is
at least ``medical`` and a redacting policy removes the unscreened tail.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from relay.screening import _rules as rules
from relay.screening._lexicon import Lexicon as RuleLexicon
from relay.screening._lexicon import LexiconError, load
from relay.screening._model import CrisisModel, ModelFileError, load_model
from relay.screening._text import normalise

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
WINDOW = 10_000
OVERLAP = 400
MAX_SCREENED = 65_536
NOT_SCREENED_FIELDS = frozenset({"name", "email", "phone"})
_RANK: dict[str, int] = {"clean": 0, "medical": 1, "crisis": 2}


@dataclass(frozen=True, slots=True)
class Reason:
    category: str  # a stable id such as "condition", "dob", "crisis.passive"
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
    """Everything screening reads, built once at start-up by load_lexicon() and shared:
    the rule lexicons and the crisis word model."""

    rules: RuleLexicon
    model: CrisisModel


def load_lexicon(directory: Path | None = None) -> Lexicon:
    """Read and precompile the lexicons; raises LexiconError naming the file and line."""
    directory = default_lexicon_dir() if directory is None else directory
    rule_lexicon = load(directory)  # first: it names a missing directory as such
    try:
        model = load_model(directory / "crisis_model.tsv")
    except FileNotFoundError:
        raise LexiconError("crisis_model.tsv: missing from the lexicon directory") from None
    except ModelFileError as exc:
        raise LexiconError(str(exc)) from None
    return Lexicon(rules=rule_lexicon, model=model)


# The rules' own judgement that a crisis word was a topic question, hyperbole, past
# history or denied stands: the word model does not overrule it.
_RULES_DECIDED = frozenset({"crisis.topic", "crisis.hyperbole", "crisis.history", "crisis.denied"})
# Markers for the word model only; never reported as reasons.
_MARKERS = ("crisis.lone.", "crisis.denied")


def _second_opinion(text: str, found: list[rules.Found], model: CrisisModel) -> list[rules.Found]:
    """Crisis evidence from the word model, when the rules found no crisis themselves.
    A core crisis cue the rules saw survive negation, fiction and everyday uses
    ("crisis.lone.*") corroborates, and the model then stands in for the second cue."""
    categories = {f.category for f in found}
    if categories & _RULES_DECIDED or rules.verdict_of(found)[0] == "crisis":
        return []
    # Only a cue of a core class (death, means, danger, body, self-harm) corroborates:
    # "last night" or "tonight" alone says nothing about a crisis.
    lone = any(c.removeprefix("crisis.lone.") in rules.CUE_CORE for c in categories)
    evidence = model.says_crisis(text, corroborated=lone)
    return [rules.Found("crisis.model", f.start, f.end) for f in evidence]


def _screen_window(text: str, lexicon: Lexicon) -> list[rules.Found]:
    found = _screen_rules(text, lexicon.rules)
    evidence = _second_opinion(text, found, lexicon.model)
    if evidence:  # the lone cues are part of the crisis evidence
        return [f for f in found if f.category != "crisis.denied"] + evidence
    return [f for f in found if not f.category.startswith(_MARKERS)]


def _screen_rules(text: str, lexicon: RuleLexicon) -> list[rules.Found]:
    norm, index = normalise(text)
    prepared = rules.prepare(norm, lexicon)
    found = rules.crisis(prepared, lexicon)
    ids, doses = rules.identifiers(prepared, lexicon)
    found += ids + rules.disclosure(prepared, doses)
    if index is None:
        return found
    # Map normalised offsets back: a span ends just after the original character of its last one.
    return [
        rules.Found(f.category, index[f.start], index[f.end - 1] + 1)
        for f in found
        if f.end > f.start
    ]


def screen(text: str, lexicon: Lexicon, *, field: str = "message") -> Screening:
    found: list[rules.Found] = []
    limit = min(len(text), MAX_SCREENED)
    base = 0
    while True:
        window = text[base : min(base + WINDOW, limit)]
        found += [
            rules.Found(f.category, f.start + base, f.end + base)
            for f in _screen_window(window, lexicon)
        ]
        if base + WINDOW >= limit:
            break
        base += WINDOW - OVERLAP
    if len(text) > MAX_SCREENED:
        found.append(rules.Found("too_long", MAX_SCREENED, len(text)))
    verdict, resources = rules.verdict_of(found)
    unique = sorted({(f.start, f.end, f.category) for f in found})
    reasons = tuple(Reason(category, start, end, field) for start, end, category in unique)
    return Screening(verdict, reasons, resources, detect_language(text))  # type: ignore[arg-type]


def screen_fields(fields: Mapping[str, str], lexicon: Lexicon) -> Screening:
    """Screen every free-text field except name, email and phone; the worst verdict wins."""
    verdict: Verdict = "clean"
    reasons: list[Reason] = []
    resources = False
    language = detect_language(
        " ".join(v for k, v in fields.items() if k not in NOT_SCREENED_FIELDS and v)
    )
    for name, value in fields.items():
        if name in NOT_SCREENED_FIELDS or not value:
            continue
        result = screen(value, lexicon, field=name)
        if _RANK[result.verdict] > _RANK[verdict]:
            verdict = result.verdict
        reasons.extend(result.reasons)
        resources = resources or result.show_crisis_resources
    return Screening(verdict, tuple(reasons), resources, language)


# Short, frequent words that tell Spanish from English; counted, not parsed.
_SPANISH = frozenset(
    "el la los las un una y o de del que en es por para con no se mi me lo le su al muy "
    "pero como más mas estoy tengo quiero hola gracias favor usted ustedes mí yo está "
    "esta este son hay puedo puede ya ayuda cita".split()
)
_ENGLISH = frozenset(
    "the a an and or of to in is are for with not my me i you it this that be have do "
    "can at on your we our please thanks hello hi am was will would".split()
)
_WORDS = re.compile(r"[^\W\d_]+")


def detect_language(text: str) -> Language:
    """``"es"`` when Spanish function words outnumber English ones, else ``"en"``.
    Cheap and bounded (the first 2,000 characters); good enough to pick a page language."""
    words = _WORDS.findall(text[:2000].casefold())
    spanish = sum(w in _SPANISH for w in words)
    english = sum(w in _ENGLISH for w in words)
    return "es" if spanish > english else "en"


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
