"""The lexicons of config/screening as features: which kinds of phrase a text contains.

Each phrase expands to the words and word pairs it needs (a ``...`` gap starts a new
segment; ``<year>`` and ``<number>`` stand for the numbers they name, as words). A text
contains the phrase when it contains all of them, in any order: a bag match, enough for
a feature, and it costs set operations, never a scan per phrase. Each phrase is filed
under one of its units (a word pair without stopwords when there is one), so a text only
ever checks the phrases whose rarest unit it contains. Linear in the length of the text.
Pure: only load() reads files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

from relay.screening._text import TOKEN, fold

Bigram = str  # two adjacent words joined by one space: "kill myself"


class LexiconError(ValueError):
    """A lexicon file is missing or malformed. The message names the file and line, never text."""


# Plain files: one phrase a line, all of one kind.
PLAIN_FILES = {
    "conditions.txt": "condition",
    "symptoms.txt": "symptom",
    "procedures_tests.txt": "procedure",
    "care_settings.txt": "care",
    "self_disclosures.txt": "self",
    "relations.txt": "relation",
    "service_terms.txt": "service",
    "general_question_frames.txt": "frame",
    "medication_stoplist.txt": "stop",
    "pitch_cues.txt": "pitch",
    "topic_frames.txt": "topic",
    "pleas.txt": "plea",
}
# kind<TAB>phrase files: the kind is prefixed ("crisis.passive", "neg.pre").
KIND_FILES = {
    "crisis.tsv": "crisis",
    "crisis_cues.tsv": "cue",
    "crisis_context.tsv": "ctx",
    "idioms.tsv": "idiom",
    "linking.tsv": "link",
    "negation.tsv": "neg",
}
# "overdos*" stands for these endings (English and Spanish), not for any letters.
_STAR_ENDINGS = (
    "",
    "s",
    "e",
    "es",
    "ed",
    "ing",
    "ion",
    "al",
    "er",
    "a",
    "o",
    "os",
    "as",
    "ar",
    "ado",
    "ando",
    "ida",
    "ido",
)
_MAX_EXPANSIONS = 20_000
_ITEM = re.compile(r"\(([^()\[\]]*)\)|\[([^()\[\]]*)\]|([^\s()\[\]]+)")
_DEFINE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_GAP = "..."
# What <year> and <number> stand for: tokens, so "in <year>" is the pairs "in 1990"...
_NUMBERS = {
    "<year>": [str(year) for year in range(1940, 2040)],
    "<number>": [str(n) for n in range(301)],  # an age, a count, a pulse
}


@dataclass(frozen=True, slots=True)
class Need:
    """One thing a phrase needs: any of these words, or any of these word pairs."""

    words: frozenset[str]
    pairs: frozenset[Bigram]

    def met(self, words: set[str], pairs: set[Bigram]) -> bool:
        return not words.isdisjoint(self.words) or not pairs.isdisjoint(self.pairs)


@dataclass(frozen=True, slots=True)
class Phrase:
    kind: str
    needs: tuple[Need, ...]

    def units(self, words: set[str], pairs: set[Bigram]) -> tuple[set[str], set[Bigram]]:
        """The words and pairs of a text that met this phrase (for reasons)."""
        found_words: set[str] = set()
        found_pairs: set[Bigram] = set()
        for need in self.needs:
            found_words |= words & need.words
            found_pairs |= pairs & need.pairs
        return found_words, found_pairs


@dataclass(frozen=True)
class PhraseIndex:
    single: dict[str, tuple[str, ...]] = field(repr=False)  # one-word phrases: word -> kinds
    by_word: dict[str, tuple[Phrase, ...]] = field(repr=False)
    by_pair: dict[Bigram, tuple[Phrase, ...]] = field(repr=False)
    # The keys again as frozensets: set & frozenset walks the smaller side, set & dict
    # walks the whole dict.
    single_keys: frozenset[str] = field(init=False, repr=False)
    word_keys: frozenset[str] = field(init=False, repr=False)
    pair_keys: frozenset[Bigram] = field(init=False, repr=False)
    # The one-word phrases of each kind: word lists a rule reads (crisis.stated_key)
    words_of: dict[str, frozenset[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "single_keys", frozenset(self.single))
        object.__setattr__(self, "word_keys", frozenset(self.by_word))
        object.__setattr__(self, "pair_keys", frozenset(self.by_pair))
        words_of: dict[str, set[str]] = {}
        for word, kinds in self.single.items():
            for kind in kinds:
                words_of.setdefault(kind, set()).add(word)
        object.__setattr__(self, "words_of", {k: frozenset(w) for k, w in words_of.items()})

    def kinds(self, words: set[str], pairs: set[Bigram]) -> set[str]:
        """Every kind of phrase the text holds. A phrase of a kind already found is not
        checked: the kinds are features, present or not."""
        found: set[str] = set()
        for word in words & self.single_keys:
            found.update(self.single[word])
        for phrase in self._candidates(words, pairs):
            if phrase.kind not in found and _holds(phrase, words, pairs):
                found.add(phrase.kind)
        return found

    def phrases(self, words: set[str], pairs: set[Bigram], kinds: AbstractSet[str]) -> list[Phrase]:
        """Every phrase of these kinds the text holds (slower than kinds(); for reasons)."""
        found = [
            Phrase(kind, (Need(frozenset((word,)), frozenset()),))
            for word in sorted(words & self.single_keys)
            for kind in self.single[word]
            if kind in kinds
        ]
        found += [
            p
            for p in dict.fromkeys(self._candidates(words, pairs))
            if p.kind in kinds and _holds(p, words, pairs)
        ]
        return found

    def _candidates(self, words: set[str], pairs: set[Bigram]) -> list[Phrase]:
        found = [p for w in words & self.word_keys for p in self.by_word[w]]
        found += [p for b in pairs & self.pair_keys for p in self.by_pair[b]]
        return found


def _holds(phrase: Phrase, words: set[str], pairs: set[Bigram]) -> bool:
    for need in phrase.needs:
        if words.isdisjoint(need.words) and pairs.isdisjoint(need.pairs):
            return False
    return True


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, content) of each non-empty, non-comment line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LexiconError(f"{path.name}: cannot be read ({type(exc).__name__})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, line.rstrip("\n")


def fields(path: Path, number: int, line: str, count: int) -> list[str]:
    parts = [part.strip() for part in line.split("\t") if part.strip()]
    if len(parts) != count:
        raise LexiconError(
            f"{path.name}:{number}: expected {count} tab-separated fields, got {len(parts)}"
        )
    return parts


def _options(path: Path, number: int, phrase: str) -> list[tuple[list[str], bool]]:
    """Per item, its choices and whether it is optional: "(a|b)", "[a|b]" or a bare word."""
    if phrase.count("(") != phrase.count(")") or phrase.count("[") != phrase.count("]"):
        raise LexiconError(f"{path.name}:{number}: unbalanced brackets")
    options: list[tuple[list[str], bool]] = []
    for match in _ITEM.finditer(phrase):
        alt, opt, word = match.groups()
        if word is not None:
            if "|" in word:
                raise LexiconError(f"{path.name}:{number}: '|' outside brackets")
            options.append(([word], False))
            continue
        choices = [c.strip() for c in (alt if alt is not None else opt).split("|")]
        if alt is not None and not all(choices):
            raise LexiconError(f"{path.name}:{number}: empty alternative")
        options.append(([c for c in choices if c], opt is not None))
    if not options:
        raise LexiconError(f"{path.name}:{number}: empty phrase")
    return options


def _forms(word: str) -> list[str]:
    """What one word of a phrase stands for: ``<year>`` and ``<number>`` the numbers,
    "overdos*" its endings, any other word itself."""
    if word in _NUMBERS:
        return _NUMBERS[word]
    if word.endswith("*"):
        return [word[:-1] + end for end in _STAR_ENDINGS]
    return [word]


def _variants(choice: str) -> list[tuple[str, ...]]:
    """The token sequences one choice stands for ("overdos*" has several endings)."""
    result = []
    for words in product(*map(_forms, choice.split())):
        tokens = tuple(t for w in words for t in TOKEN.findall(fold(w)))
        if tokens:
            result.append(tokens)
    return result


def _telling_pair(words: tuple[str, ...]) -> Bigram:
    """The pair that stands for a choice of several words: the longest, the last of
    equals ("i'm not" -> ("m", "not"); ("i", "m") would also match "I'm suicidal")."""
    pairs = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    return max(reversed(pairs), key=len)


def _needs(slots: list[list[tuple[str, ...]]]) -> list[Need]:
    """What one segment of adjacent slots needs: each slot's own words or pairs, and at
    each boundary a pair across it."""
    needs: list[Need] = []
    for slot in slots:
        if len(slots) == 1 or any(len(v) > 1 for v in slot):
            needs.append(
                Need(
                    frozenset(v[0] for v in slot if len(v) == 1),
                    frozenset(_telling_pair(v) for v in slot if len(v) > 1),
                )
            )
    for left, right in zip(slots, slots[1:], strict=False):
        needs.append(Need(frozenset(), frozenset(f"{a[-1]} {b[0]}" for a in left for b in right)))
    return [n for n in needs if n.words or n.pairs]


def expand(path: Path, number: int, phrase: str, kind: str) -> list[Phrase]:
    """The phrases one lexicon line stands for (one per way of leaving out its [options])."""
    options = _options(path, number, phrase)
    optional = [i for i, (_, opt) in enumerate(options) if opt]
    if len(optional) > 6:
        raise LexiconError(f"{path.name}:{number}: more than six [optional] items")
    result: list[Phrase] = []
    for keep in product((True, False), repeat=len(optional)):
        dropped = {i for i, k in zip(optional, keep, strict=True) if not k}
        needs: list[Need] = []
        slots: list[list[tuple[str, ...]]] = []
        for i, (choices, _) in enumerate(options):
            if i in dropped:
                continue
            if choices == [_GAP]:
                needs += _needs(slots)
                slots = []
                continue
            variants = []
            for choice in choices:
                if _GAP in choice.split():
                    raise LexiconError(f"{path.name}:{number}: a gap inside a choice")
                found = _variants(choice)
                if not found:
                    # a sign ("&", an arrow) folds to no token: a choice that can
                    # never match, written as if it could
                    raise LexiconError(f"{path.name}:{number}: a choice with no word")
                variants += found
            if len(variants) > _MAX_EXPANSIONS:
                raise LexiconError(f"{path.name}:{number}: too many forms")
            if variants:
                slots.append(variants)
        needs += _needs(slots)
        if needs:
            result.append(Phrase(kind, tuple(sorted(set(needs), key=repr))))
    return result


def _defines(path: Path, number: int, phrase: str, defines: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group(1) not in defines:
            raise LexiconError(f"{path.name}:{number}: unknown {{{match.group(1)}}}")
        return defines[match.group(1)]

    return _DEFINE.sub(substitute, phrase)


def _phrases(directory: Path) -> Iterator[Phrase]:
    for name, kind in PLAIN_FILES.items():
        path = directory / name
        for number, line in lines(path):
            yield from expand(path, number, line.strip(), kind)
    for name, prefix in KIND_FILES.items():
        path = directory / name
        defines: dict[str, str] = {}
        for number, line in lines(path):
            if line.startswith("define\t"):
                _, key, value = fields(path, number, line, 3)
                defines[key] = f"({value})"
                continue
            kind, phrase = fields(path, number, line, 2)
            if not re.fullmatch(r"[a-z_0-9]+", kind):
                raise LexiconError(f"{path.name}:{number}: a kind is lower-case letters")
            yield from expand(
                path, number, _defines(path, number, phrase, defines), f"{prefix}.{kind}"
            )
    path = directory / "medications.tsv"
    for number, line in lines(path):
        name, generic, _ = fields(path, number, line, 3)
        for term in (name, generic):
            if term != "-":
                yield from expand(path, number, re.sub(r"[()\[\]|]", " ", term), "medication")


def _selectivity(need: Need, stopwords: frozenset[str]) -> tuple[int, int]:
    common = sum(w in stopwords for w in need.words) + sum(
        all(w in stopwords for w in pair.split(" ")) for pair in need.pairs
    )
    return (common, len(need.words) + len(need.pairs))


def build_index(directory: Path, stopwords: frozenset[str]) -> PhraseIndex:
    phrases = list(dict.fromkeys(_phrases(directory)))
    stopped = {
        next(iter(p.needs[0].words))
        for p in phrases
        if p.kind == "stop" and len(p.needs) == 1 and len(p.needs[0].words) == 1
    }
    single: dict[str, set[str]] = {}
    by_word: dict[str, list[Phrase]] = {}
    by_pair: dict[Bigram, list[Phrase]] = {}
    for phrase in phrases:
        need = phrase.needs[0]
        if len(phrase.needs) == 1 and not need.pairs:
            for word in need.words:
                if phrase.kind == "medication" and word in stopped:
                    continue  # "caps", "Allegra": a collision, not a medicine
                single.setdefault(word, set()).add(phrase.kind)
            continue
        gate = min(phrase.needs, key=lambda n: _selectivity(n, stopwords))
        for word in gate.words:
            by_word.setdefault(word, []).append(phrase)
        for pair in gate.pairs:
            by_pair.setdefault(pair, []).append(phrase)
    return PhraseIndex(
        {w: tuple(sorted(k)) for w, k in single.items()},
        {w: tuple(p) for w, p in by_word.items()},
        {w: tuple(p) for w, p in by_pair.items()},
    )


def negation_cues(directory: Path) -> frozenset[str]:
    """The negation cues of negation.tsv ("pre" lines), folded, words joined by one space
    ("i m not"); relay/screening/_negation.py turns them into the scopes they reach."""
    path = directory / "negation.tsv"
    cues: set[str] = set()
    for number, line in lines(path):
        kind, phrase = fields(path, number, line, 2)
        if kind != "pre":
            continue
        for combo in product(
            *(
                choices + ([""] if optional else [])
                for choices, optional in _options(path, number, phrase)
            )
        ):
            words = " ".join(TOKEN.findall(fold(" ".join(c for c in combo if c).replace("'", " "))))
            if words:
                cues.add(words)
    return frozenset(cues)
