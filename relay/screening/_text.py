"""Folding and tokens: what every feature, lexicon and identifier pass reads.

Folding = compatibility forms (NFKD: fullwidth letters, ligatures), case (casefold),
accents, zero-width and other format characters removed. Capitals, accents, fullwidth
letters and invisible characters therefore never reach a feature, and tokens ignore
whitespace, so none of them can change a verdict.

Speed: features need only the folded string (C-level calls). Reasons need offsets in the
original text, so ``FoldMap`` builds the folded-to-original map lazily, run by run, and
only for messages that get a reason.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

# Tokens are runs of letters and digits, and each pictograph (emoji) alone: on a phone a
# crisis is sometimes only "🪢" or "🔪🩸", read as words are. Not skin tones, nor the
# signs ♀ and ♂ of a joined sequence (folding drops the joiners and variation selectors).
# Apostrophes split ("don't" -> "don", "t"): the bigram keeps the meaning, and "dont"
# typed without one is learned as its own word.
_PICTOGRAPHS = "\u2600-\u263f\u2641\u2643-\u27bf\U0001f300-\U0001f3fa\U0001f400-\U0001faff"
TOKEN = re.compile(rf"[^\W_]+|[{_PICTOGRAPHS}]")
ASCII_TOKEN = re.compile(r"[a-zA-Z0-9]+")  # TOKEN, for text known to be ASCII
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_ASCII_LOWER = {ord(c): c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})


def _dropped_class(first: int, last: int) -> re.Pattern[str]:
    """One character class of every combining mark and format (zero-width) character."""
    ranges: list[tuple[int, int]] = []
    for code in range(first, last + 1):
        if unicodedata.category(chr(code)) in _DROPPED_CATEGORIES:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    parts = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{parts}]+")


# Within the Basic Multilingual Plane every mark and format character is dropped (the
# engine tests such a class in constant time). Past it only the invisible ones that can
# hide inside English or Spanish words: tags, variation selectors and the few combining
# musical marks; a class of every astral mark is tested range by range (0.3 ms on 10 KB
# of emoji), and the marks of other scripts change no verdict here.
_DROPPED = _dropped_class(0x80, 0xFFFF)
_DROPPED_ASTRAL = re.compile(
    "[\U0001bca0-\U0001bca3\U0001d165-\U0001d169\U0001d16d-\U0001d182"
    "\U0001d185-\U0001d18b\U0001d1aa-\U0001d1ad\U000e0000-\U000e0fff]+"
)


def _has_astral(text: str) -> bool:
    """Whether a character lies past the Basic Multilingual Plane. In UTF-16 exactly those
    take four bytes, and encoding runs in C: 40x faster than max(text) on 1 KB, which
    makes a string of every character. (surrogatepass: a lone surrogate, which JSON
    can carry, takes two bytes like any character of the plane.)"""
    return len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


def fold(text: str) -> str:
    """The folded text: NFKD, casefolded, without marks and format characters."""
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = _DROPPED.sub("", unicodedata.normalize("NFKD", folded.casefold()))
    if _has_astral(folded):
        folded = _DROPPED_ASTRAL.sub("", folded)
    return folded


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    return fold(char)


@dataclass(frozen=True, slots=True)
class FoldMap:
    """Folded offsets back to original ones: anchors where lengths stop matching one to one."""

    folded: str
    anchors_folded: tuple[int, ...]
    anchors_original: tuple[int, ...]

    def original(self, position: int) -> int:
        index = bisect_right(self.anchors_folded, position) - 1
        if index < 0:
            return position
        if index % 2 == 0:
            # Anchors come in pairs (where one character's folding starts and ends): an
            # even one means the position is inside a character that folded to several
            # ("ﬁ" -> "fi"), which is that one character of the original.
            return self.anchors_original[index]
        return self.anchors_original[index] + position - self.anchors_folded[index]


def fold_map(text: str) -> FoldMap:
    """Fold ``text`` piece by piece, recording where folded and original offsets part."""
    if text.isascii():
        return FoldMap(text.lower(), (), ())
    table = {ord(char): _fold_char(char) for char in set("".join(_NON_ASCII.findall(text)))}
    if all(len(part) == 1 for part in table.values()):
        # Every character folds to one ("é" -> "e", an emoji to itself): offsets stay one
        # for one, and the text folds in one C call (10,000 characters of emoji once took
        # 2 ms character by character).
        return FoldMap(text.translate(table | _ASCII_LOWER), (), ())
    pieces: list[str] = []
    folded_at: list[int] = []
    original_at: list[int] = []
    length = last = 0
    for run in _NON_ASCII.finditer(text):
        gap = text[last : run.start()].lower()
        pieces.append(gap)
        length += len(gap)
        for offset, char in enumerate(run.group(), run.start()):
            part = _fold_char(char)
            if len(part) != 1:
                folded_at += [length, length + len(part)]
                original_at += [offset, offset + 1]
            pieces.append(part)
            length += len(part)
        last = run.end()
    pieces.append(text[last:].lower())
    return FoldMap("".join(pieces), tuple(folded_at), tuple(original_at))
