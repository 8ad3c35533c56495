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
from typing import Any
from itertools import combinations, repeat

from relay.screening._identifiers import Identifiers, Match
from relay.screening._lexicon import Bigram, PhraseIndex
from relay.screening._text import TOKEN

_QUESTION = re.compile(r"[?¿]")
_GAP = repeat("~")
CHAR_GRAMS: re.Pattern[str] | None = None  # experiment hook

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
    keys: set[Any]  # every feature: words, pairs, affix tuples, "lex:..." and other strings
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
        other.add("mark:question")
        groups.add("question")
    other.update(f"x:{a}+{b}" for a, b in combinations(sorted(groups), 2))
    other.add(_length(len(tokens)))
    keys: set[Any] = words | pairs
    # Word pairs one word apart ("i am suicidal" -> ("i", "~", "suicidal")): 3-tuples.
    keys.update(zip(tokens, _GAP, tokens[2:]))
    # Affixes of words of five letters or more, as ("", prefix) and (suffix, "") tuples:
    # keys that share one set with words (strings) and pairs (tuples of two words).
    long_words = [w for w in words if len(w) > 4 and w.isalpha()]
    keys.update([("", w[:4]) for w in long_words])
    keys.update([(w[-3:], "") for w in long_words])
    keys.update(other)
    if CHAR_GRAMS is not None:
        keys.update(CHAR_GRAMS.findall(folded))
    return Features(words, pairs, keys, tuple(found))


def family(key: Any) -> str:
    """w (word), b (pair), k (pair one word apart), p (prefix), s (suffix) or o (other)."""
    if isinstance(key, str):
        return "o" if ":" in key else "w"
    if len(key) == 3:
        return "k"
    if not key[0]:
        return "p"
    if not key[1]:
        return "c" if len(key[0]) >= 4 else "s"
    return "b"


def key_text(key: Any) -> str:
    return key if isinstance(key, str) else " ".join(k for k in key if k)


def parse_key(family_name: str, text: str) -> Any:
    if family_name == "b":
        first, _, second = text.partition(" ")
        return (first, second)
    if family_name == "k":
        first, _, second = text.partition(" ~ ")
        return (first, "~", second)
    if family_name == "p":
        return ("", text)
    if family_name == "s":
        return (text, "")
    return text


def names(features: Features) -> list[str]:
    """Every feature as one string, "family<TAB>key" (for training and the model file)."""
    return [f"{family(k)}\t{key_text(k)}" for k in features.keys]
