"""Loading the screening lexicons from config/screening: parsing, validation, precompilation.

Two small phrase languages are shared by the data files (see their headers):
* token phrases (conditions, cues...): ``(a|b)`` either, ``[a]`` optional; expanded to word tuples
  and looked up token by token, so thousands of entries cost one dict lookup per word;
* crisis/idiom phrases additionally allow ``word*`` and ``...`` (a bounded gap) and ``<year>``;
  they compile to one regex per file, built only from bounded pieces (ReDoS-safe).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

from relay.screening._text import fold_phrase, phrase_keys


class LexiconError(ValueError):
    """A lexicon file is missing or malformed. The message names the file and line, never text."""


# Term kinds (a health term) and cue kinds (words that decide whether a term counts).
CONDITION, SYMPTOM, MEDICATION, PROCEDURE, CARE, SELF = (
    "condition",
    "symptom",
    "medication",
    "procedure",
    "care",
    "self",
)
SUBJECT, POSSESSIVE, RELATION, VERB, STRONG, AFTER = (
    "subject",
    "possessive",
    "relation",
    "verb",
    "strong",
    "after",
)
NEG, PSEUDO, TERMINATE, FRAME, SERVICE, STOP, PITCH, TOPIC = (
    "neg",
    "pseudo",
    "terminate",
    "frame",
    "service",
    "stop",
    "pitch",
    "topic",
)
TERM_KINDS = frozenset({CONDITION, SYMPTOM, MEDICATION, PROCEDURE, CARE, SELF})

# When one phrase sits in two files, the more specific reading wins (lower number).
_PRIORITY = {
    SERVICE: 0,
    STOP: 1,
    SELF: 2,
    FRAME: 3,
    PSEUDO: 4,
    AFTER: 5,
    STRONG: 6,
    NEG: 7,
    CONDITION: 8,
    SYMPTOM: 9,
    PROCEDURE: 10,
    CARE: 11,
    MEDICATION: 12,
    RELATION: 13,
    POSSESSIVE: 14,
    SUBJECT: 15,
    VERB: 16,
    TERMINATE: 17,
    PITCH: 18,
    TOPIC: 19,
}

CRISIS_CATEGORIES = ("passive", "active", "plan", "self_harm", "danger", "history", "topic")
# Weak crisis cues (crisis_cues.tsv): a class and a weight, 1 (weak) or 2 (telling), e.g. "means2";
# "everyday" phrases only shadow a cue ("cut my hair"), "veto" marks fiction and teaching.
CUE_CLASSES = (
    "death",
    "means",
    "intent",
    "final",
    "burden",
    "danger",
    "refuge",
    "body",
    "urgent",
    "selfharm",
)
# Tried in this order at each word: everyday uses first, then telling cues, then weak ones.
CUE_GROUPS = (
    "everyday",
    "veto",
    *(f"{cls}{weight}" for weight in (2, 1) for cls in CUE_CLASSES),
)
_MAX_EXPANSIONS = 50_000
_ITEM = re.compile(r"\(([^()\[\]]*)\)|\[([^()\[\]]*)\]|([^\s()\[\]]+)")
_GAP = r"(?:[^.!?;\n]{0,40} )?"
_BUILTINS = {"<year>": r"(?:19|20)\d\d", "<number>": r"\d{1,4}"}
# A group followed by an unbounded repeat is how catastrophic backtracking starts.
_FIRST_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_UNSAFE = re.compile(r"\)(?:[*+]|\{\d*,\})")


class Node:
    """A word trie: one dict lookup per word, however many phrases share a first word."""

    __slots__ = ("children", "kind")

    def __init__(self) -> None:
        self.children: dict[str, Node] = {}
        self.kind = ""


@dataclass(frozen=True, slots=True)
class PhraseSet:
    """One regex per file, tried only where a word that can start one of its phrases begins.

    Trying a few hundred alternatives at every position cost ~400 us a message; starting
    only at plausible words costs a few.
    """

    pattern: re.Pattern[str] = field(repr=False)
    groups: dict[str, str]
    starts: frozenset[str] = field(repr=False)
    prefixes: tuple[str, ...] = field(repr=False)
    # Per start word, the same alternation cut down to the phrases that can begin with it:
    # with hundreds of phrases, trying them all at every "i" or "my" was the main cost.
    by_start: dict[str, re.Pattern[str]] = field(default_factory=dict, repr=False)

    def find(self, norm: str, words: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
        """(category, start, end) of non-overlapping matches; words are (apostrophe-free, start)."""
        found: list[tuple[str, int, int]] = []
        after = 0
        for key, start in words:
            if start < after or not (
                key in self.starts or (self.prefixes and key.startswith(self.prefixes))
            ):
                continue
            pattern = self.by_start.get(key)
            if pattern is None or (self.prefixes and key.startswith(self.prefixes)):
                pattern = self.pattern
            match = pattern.match(norm, start)
            if match and match.end() > start:
                found.append((self.groups[match.lastgroup or ""], start, match.end()))
                after = match.end()
        return found


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Precompiled lexicons; build once at start-up with load_lexicon() and share (immutable)."""

    entries: Node = field(repr=False)
    terminators: frozenset[str]
    crisis: PhraseSet = field(repr=False)
    idioms: PhraseSet = field(repr=False)
    context: PhraseSet = field(repr=False)
    cues: PhraseSet = field(repr=False)
    identifiers: tuple[tuple[str, re.Pattern[str]], ...] = field(repr=False)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, content) for each non-empty, non-comment line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LexiconError(f"{path.name}: cannot be read ({type(exc).__name__})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, line.rstrip("\n")


def _fields(path: Path, number: int, line: str, count: int) -> list[str]:
    parts = [part.strip() for part in line.split("\t") if part.strip()]
    if len(parts) != count:
        raise LexiconError(
            f"{path.name}:{number}: expected {count} tab-separated fields, got {len(parts)}"
        )
    return parts


def _items(path: Path, number: int, phrase: str) -> list[tuple[str, list[str]]]:
    """Split a phrase into items: ("word", [w]) | ("alt", [...]) | ("opt", [...])."""
    if phrase.count("(") != phrase.count(")") or phrase.count("[") != phrase.count("]"):
        raise LexiconError(f"{path.name}:{number}: unbalanced brackets")
    items: list[tuple[str, list[str]]] = []
    for match in _ITEM.finditer(phrase):
        alt, opt, word = match.groups()
        if word is not None:
            if "|" in word:
                raise LexiconError(
                    f"{path.name}:{number}: '|' outside brackets (brackets cannot nest)"
                )
            items.append(("word", [word]))
        else:
            choices = [choice.strip() for choice in (alt if alt is not None else opt).split("|")]
            if any(not choice for choice in choices) and alt is not None:
                raise LexiconError(f"{path.name}:{number}: empty alternative")
            items.append(("alt" if alt is not None else "opt", choices))
    if not items:
        raise LexiconError(f"{path.name}:{number}: empty phrase")
    return items


def expand(path: Path, number: int, phrase: str) -> list[tuple[str, ...]]:
    """Expand a token phrase into the word tuples it stands for."""
    options: list[list[str]] = []
    for kind, choices in _items(path, number, fold_phrase(phrase)):
        if any(mark in choice for choice in choices for mark in ("*", "...", "<")):
            raise LexiconError(f"{path.name}:{number}: '*', '...' and <...> are not allowed here")
        options.append(choices + [""] if kind == "opt" else choices)
    total = 1
    for choices in options:
        total *= len(choices)
    if total > _MAX_EXPANSIONS:
        raise LexiconError(
            f"{path.name}:{number}: phrase expands to more than {_MAX_EXPANSIONS} forms"
        )
    result = []
    for combo in product(*options):
        words = phrase_keys(" ".join(part for part in combo if part))
        if words:
            result.append(words)
    return result


def _word_regex(word: str) -> str:
    if word == "...":
        return _GAP
    if word in _BUILTINS:
        return _BUILTINS[word]
    stem, star = (word[:-1], True) if word.endswith("*") else (word, False)
    body = "'?".join(re.escape(part) for part in stem.split("'"))
    return body + (r"\w{0,8}" if star else "")


def _choice_regex(choice: str) -> str:
    words = choice.split()
    out = ""
    for word in words:
        piece = _word_regex(word)
        out += piece if (not out or word == "..." or out.endswith(_GAP)) else " " + piece
    return out


def phrase_regex(path: Path, number: int, phrase: str) -> str:
    """Compile one crisis/idiom phrase to a bounded regex with word boundaries at both ends."""
    out = ""
    for kind, choices in _items(path, number, fold_phrase(phrase)):
        body = "|".join(_choice_regex(choice) for choice in choices if choice)
        if kind == "word":
            piece, optional = body, False
        else:
            piece, optional = f"(?:{body})", kind == "opt"
        if body == _GAP:
            out += _GAP
        elif not out:
            if optional:
                raise LexiconError(f"{path.name}:{number}: a phrase cannot start with [optional]")
            out = piece
        elif optional:
            out += f"(?: {piece})?" if not out.endswith(_GAP) else f"(?:{piece} )?"
        else:
            out += piece if out.endswith(_GAP) else " " + piece
    return rf"{out}(?!\w)"


def _expand_defines(path: Path, number: int, phrase: str, defines: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in defines:
            raise LexiconError(f"{path.name}:{number}: unknown {{{name}}}")
        return defines[name]

    return re.sub(r"\{([a-z_][a-z0-9_]*)\}", substitute, phrase)


def _compile(path: Path, source: str, what: str) -> re.Pattern[str]:
    if _UNSAFE.search(source):
        raise LexiconError(f"{path.name}: {what} has an unbounded repeated group")
    try:
        return re.compile(source)
    except re.error as exc:
        raise LexiconError(f"{path.name}: {what} is not a valid pattern ({exc.msg})") from None


# File name -> the kind its phrases get (plain one-phrase-a-line files).
_PLAIN_FILES = {
    "conditions.txt": CONDITION,
    "symptoms.txt": SYMPTOM,
    "procedures_tests.txt": PROCEDURE,
    "care_settings.txt": CARE,
    "self_disclosures.txt": SELF,
    "relations.txt": RELATION,
    "service_terms.txt": SERVICE,
    "general_question_frames.txt": FRAME,
    "medication_stoplist.txt": STOP,
    "pitch_cues.txt": PITCH,
    "topic_frames.txt": TOPIC,
}
_KIND_FILES = {
    "linking.tsv": {SUBJECT, POSSESSIVE, VERB, STRONG, AFTER},
    "negation.tsv": {"pre", PSEUDO, TERMINATE},
}


def _token_entries(directory: Path) -> dict[tuple[str, ...], str]:
    found: dict[tuple[str, ...], str] = {}

    def add(words: tuple[str, ...], kind: str) -> None:
        if words not in found or _PRIORITY[kind] < _PRIORITY[found[words]]:
            found[words] = kind

    for name, kind in _PLAIN_FILES.items():
        path = directory / name
        for number, line in _lines(path):
            for words in expand(path, number, line.strip()):
                add(words, kind)
    for name, kinds in _KIND_FILES.items():
        path = directory / name
        for number, line in _lines(path):
            kind, phrase = _fields(path, number, line, 2)
            if kind not in kinds:
                raise LexiconError(
                    f"{path.name}:{number}: unknown kind (expected one of {sorted(kinds)})"
                )
            for words in expand(path, number, phrase):
                add(words, NEG if kind == "pre" else kind)
    path = directory / "medications.tsv"
    for number, line in _lines(path):
        name, generic, _ = _fields(path, number, line, 3)
        add(phrase_keys(name), MEDICATION)
        if generic != "-":
            add(phrase_keys(generic), MEDICATION)  # "lithium", listed only as a generic
    return found


def _start_key(word: str) -> str:
    """The first token of a word, apostrophes removed: how phrase starts are looked up."""
    found = _FIRST_TOKEN.search(word)
    return (found.group() if found else word).replace("'", "")


def _category_regex(
    path: Path, allowed: tuple[str, ...], *, defines_ok: bool, ranked: bool = False
) -> PhraseSet:
    """One regex for a category<TAB>phrase file; a named group per category.

    At one word, categories are tried in the order they first appear in the file, or, when
    ``ranked``, in the order of ``allowed`` (so a specific phrase wins over a general one).
    """
    defines: dict[str, str] = {}
    by_category: dict[str, list[str]] = {}
    starts: set[str] = set()
    prefixes: set[str] = set()
    buckets: dict[str, dict[str, list[str]]] = {}
    for number, line in _lines(path):
        parts = _fields(path, number, line, 3 if line.startswith("define\t") else 2)
        if parts[0] == "define" and defines_ok:
            defines[parts[1]] = "(" + parts[2] + ")"
            continue
        category, phrase = parts
        if category not in allowed:
            raise LexiconError(
                f"{path.name}:{number}: unknown category (expected one of {list(allowed)})"
            )
        phrase = _expand_defines(path, number, phrase, defines)
        regex = phrase_regex(path, number, phrase)
        by_category.setdefault(category, []).append(regex)
        for choice in _items(path, number, fold_phrase(phrase))[0][1]:
            first = choice.split()[0]
            key = _start_key(first.rstrip("*"))
            (prefixes if first.endswith("*") else starts).add(key)
            bucket = buckets.setdefault(key, {}).setdefault(category, [])
            if not bucket or bucket[-1] is not regex:
                bucket.append(regex)
    order = [c for c in allowed if c in by_category] if ranked else list(by_category)
    groups = {f"g{i}": category for i, category in enumerate(order)}

    def alternation(table: dict[str, list[str]]) -> str:
        return "|".join(
            f"(?P<g{i}>{'|'.join(table[category])})"
            for i, category in enumerate(order)
            if category in table
        )

    pattern = _compile(path, alternation(by_category) or r"(?!x)x", "a phrase")
    by_start = {
        key: _compile(path, alternation(table), "a phrase") for key, table in buckets.items()
    }
    return PhraseSet(pattern, groups, frozenset(starts), tuple(sorted(prefixes)), by_start)


def _identifiers(directory: Path) -> tuple[tuple[str, re.Pattern[str]], ...]:
    path = directory / "identifiers.tsv"
    defines: dict[str, str] = {}
    result = []
    for number, line in _lines(path):
        if line.startswith("define\t"):
            _, name, source = _fields(path, number, line, 3)
            defines[name] = _expand_defines(path, number, source, defines)
            continue
        category, source = _fields(path, number, line, 2)
        source = _expand_defines(path, number, source, defines)
        result.append((category, _compile(path, source, f"line {number}")))
    return tuple(result)


def load(directory: Path) -> Lexicon:
    if not directory.is_dir():
        raise LexiconError(f"{directory.name}: lexicon directory not found")
    root = Node()
    terminators: set[str] = set()
    for words, kind in _token_entries(directory).items():
        node = root
        for word in words:
            node = node.children.setdefault(word, Node())
        node.kind = kind
        if kind == TERMINATE and len(words) == 1:
            terminators.add(words[0])
    crisis = _category_regex(directory / "crisis.tsv", CRISIS_CATEGORIES, defines_ok=True)
    idioms = _category_regex(
        directory / "idioms.tsv", ("ignore", "resources", "keep"), defines_ok=False
    )
    context = _category_regex(
        directory / "crisis_context.tsv",
        ("history", "current", "quote", "exclusion"),
        defines_ok=False,
    )
    cues = _category_regex(directory / "crisis_cues.tsv", CUE_GROUPS, defines_ok=True, ranked=True)
    return Lexicon(
        entries=root,
        terminators=frozenset(terminators),
        crisis=crisis,
        idioms=idioms,
        context=context,
        cues=cues,
        identifiers=_identifiers(directory),
    )
