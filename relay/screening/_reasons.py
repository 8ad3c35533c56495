"""Reasons: where in the original text the words that weighed most in a verdict are.

Only messages that get a verdict other than clean (or a possible crisis) come here, so
the per-token work of mapping folded offsets back to the original text is paid only then.
"""

from __future__ import annotations

from dataclasses import dataclass

from relay.screening._features import Features
from relay.screening._identifiers import Match
from relay.screening._lexicon import Bigram, PhraseIndex
from relay.screening._model import Model
from relay.screening._text import TOKEN, fold_map

MOST = 5  # features reported per verdict
MAX_SPANS = 24  # occurrences reported per verdict
MIN_WEIGHT = 0.05
HEALTH_KINDS = ("condition", "symptom", "medication", "procedure", "care")


@dataclass(frozen=True, slots=True)
class Span:
    category: str
    start: int
    end: int


@dataclass(slots=True)
class _Wanted:
    words: set[str]
    pairs: set[Bigram]
    prefixes: set[str]
    suffixes: set[str]

    def __bool__(self) -> bool:
        return bool(self.words or self.pairs or self.prefixes or self.suffixes)


def _choose(
    features: Features, model: Model, which: int, index: PhraseIndex, stopwords: frozenset[str]
) -> _Wanted:
    wanted = _Wanted(set(), set(), set(), set())
    chosen = 0
    words: set[str] | None = None
    weighed = model.weighed(features, which)
    for weight, family, key in weighed:
        if chosen >= MOST or weight < MIN_WEIGHT:
            break
        before = (len(wanted.words), len(wanted.pairs), len(wanted.prefixes), len(wanted.suffixes))
        if family == "w" and key not in stopwords:
            wanted.words.add(key)
        elif family == "b" and not (key[0] in stopwords and key[1] in stopwords):
            wanted.pairs.add(key)
        elif family == "p":
            wanted.prefixes.add(key[1])
        elif family == "s":
            wanted.suffixes.add(key[0])
        elif family == "o" and key.startswith("lex:"):
            # the one-word phrases of that kind ("sertraline" for lex:medication): the
            # longer ones are mostly found again among the weighed word pairs
            if words is None:
                words = features.words & index.single_keys
            wanted.words |= {w for w in words if key[4:] in index.single[w]} - stopwords
        after = (len(wanted.words), len(wanted.pairs), len(wanted.prefixes), len(wanted.suffixes))
        chosen += after != before
    return wanted


def _category(word: str, index: PhraseIndex, default: str) -> str:
    kinds = index.single.get(word, ())
    return next((k for k in HEALTH_KINDS if k in kinds), default)


def explain(
    text: str,
    features: Features,
    model: Model,
    which: int,
    category: str,
    index: PhraseIndex,
    stopwords: frozenset[str],
    identifiers: tuple[Match, ...] = (),
) -> list[Span]:
    """Spans, in ``text``, of the features that pushed score ``which`` up most, and of
    ``identifiers``. ``category`` names them ("health" words take their lexicon kind)."""
    folding = fold_map(text)
    back = folding.original
    spans = [Span(m.category, back(m.start), back(m.end - 1) + 1) for m in identifiers]
    wanted = (
        _choose(features, model, which, index, stopwords)
        if which >= 0
        else _Wanted(set(), set(), set(), set())
    )
    if not wanted:
        return spans
    tokens: list[tuple[str, int, int]] = [
        (m.group(), m.start(), m.end()) for m in TOKEN.finditer(folding.folded)
    ]
    found = 0
    for i, (token, start, end) in enumerate(tokens):
        if found >= MAX_SPANS:
            break
        hit_end = -1
        if token in wanted.words or (
            len(token) >= 5
            and (token[:4] in wanted.prefixes or token[-3:] in wanted.suffixes)
            and token.isalpha()
        ):
            hit_end = end
        if i + 1 < len(tokens) and (token, tokens[i + 1][0]) in wanted.pairs:
            hit_end = tokens[i + 1][2]
        if hit_end >= 0:
            name = _category(token, index, category) if category == "health" else category
            spans.append(Span(name, back(start), back(hit_end - 1) + 1))
            found += 1
    return spans
