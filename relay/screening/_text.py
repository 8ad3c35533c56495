"""Text preparation for screening: normalisation with an offset map, tokens and clauses.

Every later rule works on the normalised text; reasons are reported on the original text,
so normalise() returns, beside the new string, the original index of each of its characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_QUOTES = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u02bc": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u00ab": '"',
    "\u00bb": '"',
}
_ODD_ASCII_SPACE = re.compile(r"[^\S ]| {2}")
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# A period ends a clause only before a space or the end, so "0.75", "F33.2" and "NAD+." survive.
_CLAUSE_END = re.compile(r"[!?;\n]+|\.+(?=\s|$)|[\"()]")


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    """Fold one character: compatibility forms, case, accents, quotes; drop invisible ones."""
    if char in _QUOTES:
        return _QUOTES[char]
    folded = unicodedata.normalize("NFKD", char).casefold()
    folded = unicodedata.normalize("NFKD", folded)
    kept = []
    for part in folded:
        category = unicodedata.category(part)
        if category in ("Mn", "Me", "Cf", "Cc") and part not in "\n\t":
            continue  # accents, zero-width and control characters
        kept.append(_QUOTES.get(part, part))
    return "".join(kept)


def normalise(text: str) -> tuple[str, list[int] | None]:
    """Return the normalised text and, per character, its index in ``text`` (None = same index).

    Whitespace runs become one space, or one newline when they hold a blank line (paragraphs and
    signatures are separate clauses, but a wrapped line is not).
    """
    if text.isascii() and _ODD_ASCII_SPACE.search(text) is None:
        return deobfuscate(text.lower()), None
    out: list[str] = []
    index: list[int] = []
    pending_space = -1
    newlines = 0
    for position, char in enumerate(text):
        if char.isspace():
            if pending_space < 0:
                pending_space = position
            newlines += char == "\n"
            continue
        folded = char.lower() if char.isascii() else _fold_char(char)
        if not folded:
            continue
        if pending_space >= 0:
            if out:
                out.append("\n" if newlines >= 2 else " ")
                index.append(pending_space)
            pending_space, newlines = -1, 0
        for part in folded:
            out.append(" " if part.isspace() else part)
            index.append(position)
    return deobfuscate("".join(out)), index


# Obfuscated crisis words ("s*icidal", "k!lling", "su1cide"): a word with a star, "!", "@", "$" or
# a digit inside, compared letter by letter (star = any letter) with a short list of targets.
# The replacement has the same length, so the offset map stays valid.
_OBFUSCATED = re.compile(r"(?<![\w*@$])[a-z][a-z0-9*!@$]{1,14}[a-z](?![\w*@$])")
_OBFUSCATION_MARKS = frozenset("*!@$0123456789")
_LEET = str.maketrans("1!3@$0", "iieaso")
_TARGETS: dict[int, tuple[str, ...]] = {}
for _word in (
    "suicide suicidal suicidio kill killing killed myself die dying dead death overdose "
    "overdosing cut cutting self harm hurt hurting unalive hang hanging"
).split():
    _TARGETS[len(_word)] = (*_TARGETS.get(len(_word), ()), _word)


def _deobfuscate_word(match: re.Match[str]) -> str:
    word = match.group()
    if not _OBFUSCATION_MARKS.intersection(word):
        return word
    letters = word.translate(_LEET)
    for target in _TARGETS.get(len(word), ()):
        if all(c == t or (c == "*" and t.isalpha()) for c, t in zip(letters, target, strict=True)):
            return target
    return word


def deobfuscate(norm: str) -> str:
    """Undo common masking of crisis words; same length, so offsets are unchanged."""
    if not _OBFUSCATION_MARKS.intersection(norm):
        return norm
    return _OBFUSCATED.sub(_deobfuscate_word, norm)


def fold_phrase(phrase: str) -> str:
    """Normalise a lexicon phrase exactly as message text is normalised."""
    return normalise(phrase.strip())[0]


def token_key(token: str) -> str:
    """The lookup key of a token: "mom's" -> "mom", "she's" -> "she"; other apostrophes stay."""
    return token[:-2] if token.endswith("'s") and len(token) > 2 else token


@dataclass(frozen=True, slots=True)
class Token:
    key: str
    start: int
    end: int


def tokenise(norm: str) -> list[Token]:
    return [Token(token_key(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(norm)]


def phrase_keys(phrase: str) -> tuple[str, ...]:
    return tuple(token_key(m.group()) for m in _TOKEN.finditer(fold_phrase(phrase)))


@dataclass(frozen=True, slots=True)
class Clause:
    start: int
    end: int
    soft_start: bool  # began at a word like "but" or "just", so it may lean on the clause before


def clauses(norm: str, terminators: frozenset[str], tokens: list[Token]) -> list[Clause]:
    """Split on . ! ? ; newlines, quotes, brackets, and on terminator words ("but", "just")."""
    cuts: list[tuple[int, int, bool]] = [
        (m.start(), m.end(), False) for m in _CLAUSE_END.finditer(norm)
    ]
    cuts += [(tok.start, tok.start, True) for tok in tokens if tok.key in terminators]
    cuts.sort()
    result: list[Clause] = []
    start, soft = 0, False
    for cut_start, cut_end, is_word in cuts:
        if cut_start > start:
            result.append(Clause(start, cut_start, soft))
        start, soft = max(start, cut_end), is_word
    if start < len(norm):
        result.append(Clause(start, len(norm), soft))
    return result
