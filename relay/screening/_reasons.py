"""Reasons: where in the original text the words that weighed most in a verdict are.

Only messages that get a verdict other than clean (or a possible crisis) come here, so
the per-token work of mapping folded offsets back to the original text is paid only then.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from relay.screening._features import GROUPS, STATED_WORD, Features, bare_plea
from relay.screening._identifiers import Match
from relay.screening._lexicon import Bigram, PhraseIndex
from relay.screening._model import CRISIS, MEDICAL, Model, Scored
from relay.screening._text import TOKEN, fold_map

MOST = 5  # features reported per verdict
MAX_SPANS = 24  # occurrences reported per verdict
MIN_WEIGHT = 0.05
# Lexicon kinds ("condition"); _features.HEALTH_KINDS are the same as feature keys
# ("lex:condition").
_HEALTH_LEXICON = frozenset(GROUPS["health"])
_PLEA = frozenset({"plea"})
_STATED_WORD = frozenset({STATED_WORD})


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

    def __bool__(self) -> bool:
        return bool(self.words or self.pairs or self.prefixes)


def _terms(
    features: Features, index: PhraseIndex, stopwords: frozenset[str], kinds: frozenset[str]
) -> _Wanted:
    """Every term of these lexicon kinds in the text (its words and pairs)."""
    terms = _Wanted(set(), set(), set())
    for phrase in index.phrases(features.words, features.pairs, kinds):
        words, pairs = phrase.units(features.words, features.pairs)
        terms.words.update(words - stopwords)
        terms.pairs.update(pairs)
    return terms


def _choose(
    features: Features,
    model: Model,
    which: int,
    index: PhraseIndex,
    stopwords: frozenset[str],
    scored: Scored,
) -> _Wanted:
    """The words, pairs and prefixes of the MOST features that weighed most (the model
    leaves out stopwords and endings already)."""
    if which == MEDICAL:
        # Every health term of the lexicons is a detail to show and to mask ("Send
        # without these words"), whether or not it weighed most; when there are such
        # terms, they alone are shown: the words that only made the model sure ("I was",
        # "last year", "tengo") are no health detail, and masking them mangles the text.
        # (Looked for first: when there are some, the weights need not be computed.)
        terms = _terms(features, index, stopwords, _HEALTH_LEXICON)
        if terms:
            return terms
    # A crisis stated in the first person is sure, and a bare plea shows the resources,
    # whatever the score (_model.crisis_call), so the statement's crisis words ("suicidal",
    # "ideas suicidas"; the phrase's other words, "I am", are as often found elsewhere) or
    # the plea are reasons, even when the network weighed them low. Under the network's own
    # line the statement alone is: the words it weighed there may be the light tone beside
    # it ("kind of funny").
    wanted = _Wanted(set(), set(), set())
    if which == CRISIS and features.stated:
        wanted = _terms(features, index, stopwords, _STATED_WORD)
        if scored.crisis < model.thresholds["crisis"]:
            return wanted
    elif which == CRISIS and bare_plea(features):
        wanted = _terms(features, index, stopwords, _PLEA)
    chosen = size = 0
    for _, family, key in model.weighed(scored, which, 4 * MOST):
        if chosen >= MOST:
            break
        if family == "w":
            wanted.words.add(key)
        elif family == "b":
            wanted.pairs.add(key)
        elif family == "k":
            wanted.words.update(w for w in key.split("~") if w not in stopwords)
        elif family == "p":
            wanted.prefixes.add(key[:-1])
        else:
            # lex:kind: its one-word phrases ("sertraline" for lex:medication); the
            # longer ones are mostly found again among the weighed word pairs
            kind = key[4:]
            found = features.words & index.single_keys
            wanted.words.update(w for w in found if kind in index.single[w] and w not in stopwords)
        grown = len(wanted.words) + len(wanted.pairs) + len(wanted.prefixes)
        chosen, size = chosen + (grown > size), grown
    return wanted


_NEXT = re.compile(r"[^\w]*?([^\W_]+)")  # the next word


def _occurrences(folded: str, word: str) -> Iterator[int]:
    """Where ``word`` starts a word of ``folded``, at most MAX_SPANS times and after at
    most 4 x MAX_SPANS probes (str.find runs in C: no loop over every token)."""
    position, count, probes = folded.find(word), 0, 0
    while position >= 0 and count < MAX_SPANS and probes < 4 * MAX_SPANS:
        before = folded[position - 1] if position else " "
        if not (before.isalnum() or before == "_"):
            yield position
            count += 1
        probes += 1
        position = folded.find(word, position + 1)


def _category(word: str, index: PhraseIndex, default: str) -> str:
    kinds = index.single.get(word, ())
    return next((k for k in sorted(_HEALTH_LEXICON) if k in kinds), default)


def explain(
    text: str,
    features: Features,
    model: Model,
    which: int,
    category: str,
    index: PhraseIndex,
    stopwords: frozenset[str],
    scored: Scored,
    identifiers: tuple[Match, ...] = (),
) -> list[Span]:
    """Spans, in ``text``, of the features that pushed score ``which`` up most (``scored``
    is the window's pass through the network), and of ``identifiers``. ``category`` names
    them ("health" words take their lexicon kind)."""
    folding = fold_map(text)
    back = folding.original
    spans = [Span(m.category, back(m.start), back(m.end - 1) + 1) for m in identifiers]
    wanted = (
        _choose(features, model, which, index, stopwords, scored)
        if which >= 0
        else _Wanted(set(), set(), set())
    )
    if not wanted:
        return spans
    folded = folding.folded
    found: list[tuple[int, int, str]] = []  # folded start, end, first word
    for word in sorted(wanted.words | wanted.prefixes):
        whole = word in wanted.words
        for start in _occurrences(folded, word):
            token = TOKEN.match(folded, start)
            if token and (
                whole
                and token.end() == start + len(word)
                or (not whole and token.end() - start >= 5 and token.group().isalpha())
            ):
                found.append((start, token.end(), token.group()))
    for pair in sorted(wanted.pairs):
        first, _, second = pair.partition(" ")
        for start in _occurrences(folded, first):
            following = _NEXT.match(folded, start + len(first))
            if following and following.group(1) == second:
                found.append((start, following.end(), first))
    for start, end, word in sorted(found)[:MAX_SPANS]:
        name = _category(word, index, category) if category == "health" else category
        spans.append(Span(name, back(start), back(end - 1) + 1))
    return spans
