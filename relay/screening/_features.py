"""The features both models read, from the folded text. Training (scripts/
train_screening.py) calls the same extract(), so both sides always agree.

Families: words ("w"), adjacent word pairs ("b"), the first four and last three letters
of longer words ("p", "s": Spanish tenses, plurals, typos), and the rest ("o"): lexicon
kinds ("lex:condition"), identifiers ("id:dob"), pairs of cue groups present together
("x:health+person"), length and question marks. Every family is a set, so a repeated
word counts once and the cost is a few C-level set operations per message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations

from relay.screening._identifiers import Identifiers, Match
from relay.screening._lexicon import Bigram, PhraseIndex
from relay.screening._text import TOKEN

_PREFIX = re.compile(r"(?<![^\W_])([^\W\d_]{4})[^\W\d_]")
_SUFFIX = re.compile(r"[^\W\d_]{2}([^\W\d_]{3})(?![^\W_])")
_QUESTION = re.compile(r"[?¿]")

# Lexicon kinds grouped into the cues a disclosure or a crisis is made of; a pair of groups
# present together is a feature, since a linear model cannot see "a person AND a condition".
GROUPS = {
    "person": ("link.subject", "link.possessive", "relation", "self"),
    "health": ("condition", "symptom", "medication", "procedure", "care"),
    "crisis": ("crisis.passive", "crisis.active", "crisis.plan", "crisis.self_harm",
               "crisis.danger"),
    "history": ("crisis.history", "ctx.history"),
    "general": ("frame", "topic", "crisis.topic", "ctx.exclusion"),
    "negation": ("neg.pre",),
    "fiction": ("cue.veto", "ctx.quote"),
    "idiom": ("idiom.ignore", "idiom.resources"),
    "sales": ("pitch", "service"),
}  # fmt: skip
_GROUP_OF = {kind: group for group, kinds in GROUPS.items() for kind in kinds}


@dataclass(slots=True)
class Features:
    words: set[str]
    pairs: set[Bigram]
    prefixes: set[str]
    suffixes: set[str]
    other: set[str]
    identifiers: tuple[Match, ...]


def _length(count: int) -> str:
    if count <= 3:
        return "len:1-3"
    if count <= 8:
        return "len:4-8"
    if count <= 25:
        return "len:9-25"
    return "len:26-80" if count <= 80 else "len:81+"


def extract(folded: str, index: PhraseIndex, identifiers: Identifiers) -> Features:
    tokens = TOKEN.findall(folded)
    words = set(tokens)
    pairs = set(zip(tokens, tokens[1:], strict=False))
    kinds = index.kinds(words, pairs)
    found = identifiers.find(folded)
    other = {"lex:" + kind for kind in kinds}
    groups = {_GROUP_OF[k] for k in kinds if k in _GROUP_OF}
    if any(k.startswith("cue.") and k not in ("cue.everyday", "cue.veto") for k in kinds):
        groups.add("cue")
    for match in found:
        other.add("id:" + match.category)
        groups.add("dose" if match.category == "dose" else "identifier")
    if _QUESTION.search(folded):
        other.add("q")
        groups.add("question")
    other.update(f"x:{a}+{b}" for a, b in combinations(sorted(groups), 2))
    other.add(_length(len(tokens)))
    return Features(
        words, pairs, set(_PREFIX.findall(folded)), set(_SUFFIX.findall(folded)), other, tuple(found)
    )


def names(features: Features) -> list[str]:
    """Every feature as one string, "family<TAB>key" (for training and the model file)."""
    out = [f"w\t{w}" for w in features.words]
    out += [f"b\t{a} {b}" for a, b in features.pairs]
    out += [f"p\t{p}" for p in features.prefixes]
    out += [f"s\t{s}" for s in features.suffixes]
    out += [f"o\t{o}" for o in features.other]
    return out
