"""The features both models read, from the folded text. Training (scripts/
train_screening.py) calls the same extract(), so both sides always agree.

Families: words ("w"), adjacent word pairs ("b"), the first four letters of longer
words ("p": Spanish tenses, plurals, typos), and the rest ("o"): lexicon
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
from relay.screening._negation import Negation
from relay.screening._text import ASCII_TOKEN, TOKEN

_QUESTION = re.compile(r"[?¿]")

# Lexicon kinds grouped into the cues a disclosure or a crisis is made of; a pair of groups
# present together is a feature, since a linear model cannot see "a person AND a condition".
GROUPS = {
    "person": ("link.subject", "link.possessive", "relation", "self"),
    "health": ("condition", "symptom", "medication", "procedure", "care"),
    "crisis": (
        "crisis.passive",
        "crisis.active",
        "crisis.plan",
        "crisis.self_harm",
        "crisis.danger",
    ),
    "history": ("crisis.history", "ctx.history"),
    "general": ("frame", "topic", "crisis.topic", "ctx.exclusion"),
    "negation": ("neg.pre",),
    "fiction": ("cue.veto", "ctx.quote"),
    "idiom": ("idiom.ignore", "idiom.resources"),
    "sales": ("pitch", "service"),
}
_GROUP_OF = {kind: group for group, kinds in GROUPS.items() for kind in kinds}


@dataclass(slots=True)
class Features:
    words: set[str]
    pairs: set[Bigram]
    keys: set[str]  # every feature (see extract())
    identifiers: tuple[Match, ...]
    # A crisis stated in the first person, now ("I'm actively suicidal", "tengo ideas
    # suicidas"), not negated and not in a condition: a crisis whatever the network scores
    # (a light tone beside it once scored one far below the soft zone).
    stated: bool = False


# Lexicon kinds of a crisis said outright, and of one told as past history.
SAID_OUTRIGHT = frozenset(
    {"lex:crisis.active", "lex:crisis.self_harm", "lex:crisis.passive", "lex:crisis.plan"}
)
HISTORY = frozenset({"lex:crisis.history", "lex:ctx.history"})
CRISIS_KINDS = frozenset("lex:" + kind for kind in GROUPS["crisis"])
# Enough for brief text to reach the crisis score's soft zone: a crisis word, or a bare
# plea ("help me", "socorro"; config/screening/pleas.txt).
CRISIS_EVIDENCE = CRISIS_KINDS | {"lex:plea"}
HEALTH_KINDS = frozenset("lex:" + kind for kind in GROUPS["health"])
BRIEF = 3  # different words


# A crisis stated in the first person, now (crisis.tsv, "stated"), and what cancels the rule:
# the writer in a condition ("if I'm", "whether I'm"), or a word of the statement negated
# (crisis.tsv, "stated_key": "no tengo ideas suicidas", "I don't think I'm suicidal" reach
# "!tengo", "!m"). Not other words a negation reaches: "I'm suicidal and I don't have anyone"
# ("!have") and "I don't think I can go on" ("!i") stay crises. "stated_word": the crisis
# words of such a statement, its reason spans (relay/screening/_reasons.py).
STATED, STATED_WORD, STATED_KEY = "crisis.stated", "crisis.stated_word", "crisis.stated_key"
_CONDITIONAL = "ctx.conditional"
# Read by the rule alone, never by the network (names()): a rule on top of it, measured as
# such, which a retraining does not turn into one more feature among thousands.
RULE_ONLY = frozenset("lex:" + k for k in (STATED, STATED_WORD, STATED_KEY, _CONDITIONAL))


def said_outright(features: Features) -> bool:
    """A crisis said in the lexicon's words ("I am suicidal", "me corté"), not as history."""
    return bool(features.keys & SAID_OUTRIGHT) and not features.keys & HISTORY


def too_brief(features: Features, evidence: frozenset[str] = CRISIS_EVIDENCE) -> bool:
    """Three different words or fewer ("not", "hello hello hello..."), none of them a word
    of the lexicon's ``evidence`` kinds (crisis or a plea, or health: ``HEALTH_KINDS``): too little
    for the network's score alone (few training messages are like this, and one ordinary
    word alone scores near the network's bias for its length)."""
    return len(features.words) <= BRIEF and not features.keys & evidence


def bare_plea(features: Features) -> bool:
    """Brief text that is a plea for help ("help me", "socorro", "ayúdenme"): whatever the
    score, the visitor sees the resources and staff see the message flagged."""
    return len(features.words) <= BRIEF and "lex:plea" in features.keys


def unread_as_medical(features: Features) -> bool:
    """Too brief for the disclosure score alone: no health word of the lexicon and no
    identifier ("ok bye", "never mind")."""
    return too_brief(features, HEALTH_KINDS) and not features.identifiers


def _length(count: int) -> str:
    if count <= 3:
        return "len:1-3"
    if count <= 8:
        return "len:4-8"
    if count <= 25:
        return "len:9-25"
    return "len:26-80" if count <= 80 else "len:81+"


def extract(
    folded: str, index: PhraseIndex, identifiers: Identifiers, negation: Negation
) -> Features:
    # Folded Latin text is mostly ASCII, where an ASCII class finds the same tokens 25%
    # faster than the Unicode one.
    tokens = (ASCII_TOKEN if folded.isascii() else TOKEN).findall(folded)
    words = set(tokens)
    # Keys are strings (a string caches its hash; a tuple hashes again at every lookup):
    # "a b" a pair, "abcd<" a prefix, "!word" a negated word, "kind:..." the rest.
    # Tokens never hold " <!:".
    following = tokens[1:]
    pairs = set(map(" ".join, zip(tokens, following, strict=False)))
    kinds = index.kinds(words, pairs)
    found = identifiers.find(folded, words)
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
    keys = words | pairs
    # Beginnings of words of five letters or more: Spanish tenses, plurals, typos.
    # (Word endings and pairs one word apart were dropped: no figure moved without them
    # in cross-validation, and they were a third of the keys to build.)
    keys.update([w[:4] + "<" for w in words if len(w) > 4 and w.isalpha()])
    keys.update(other)
    # Words a negation reaches ("not on any medications" -> "!on", "!any", "!medications")
    negated = negation.negated(folded, words)
    keys.update(negated)
    stated = (
        STATED in kinds
        and _CONDITIONAL not in kinds
        and not any(w[1:] in index.words_of.get(STATED_KEY, ()) for w in negated)
    )
    return Features(words, pairs, keys, tuple(found), stated)


def family(key: str) -> str:
    """w (word), b (pair), p (prefix), n (negated word) or o (other)."""
    if ":" in key:
        return "o"
    if key.startswith("!"):
        return "n"
    if " " in key:
        return "b"
    return "p" if key.endswith("<") else "w"


def names(features: Features) -> list[str]:
    """Every feature as one string, "family<TAB>key" (for training and the model file),
    but the rule's own kinds: the network never reads them (scoring skips keys it lacks)."""
    return [f"{family(k)}\t{k}" for k in features.keys if k not in RULE_ONLY]
