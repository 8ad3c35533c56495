"""Health identifiers and measurements as patterns (identifiers.tsv): DOB, SSN, record,
member and policy numbers, the Medicare MBI, ICD-10 codes, labs and vitals, doses.

The patterns read the folded text with whitespace runs collapsed to one space ("one space
between words"), so spacing never changes a match; offsets go back through ``collapse``'s
anchors. Every pattern needs a digit, so a text without one is never scanned. The loader
refuses a repeated group (the start of catastrophic backtracking): every window is bounded,
so each pattern is linear in the text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from relay.screening._lexicon import LexiconError, fields, lines

# A dose counts only as evidence for the disclosure model ("250 mL bags" in a supplier's
# pitch is nobody's); every other identifier makes a message medical on its own.
FEATURE_ONLY = frozenset({"dose"})
_DIGIT = re.compile(r"\d")
_ODD_SPACE = re.compile(r"[^\S ]|  ")
_SPACES = re.compile(r"\s+")
_UNSAFE = re.compile(r"\)(?:[*+]|\{\d*,\})")
_NAME = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Match:
    category: str
    start: int  # offsets in the folded text
    end: int


@dataclass(frozen=True)
class Identifiers:
    patterns: tuple[tuple[str, re.Pattern[str]], ...]

    def find(self, folded: str) -> list[Match]:
        if _DIGIT.search(folded) is None:
            return []
        text, anchors = collapse(folded)
        found = []
        for category, pattern in self.patterns:
            for match in pattern.finditer(text):
                start, end = match.span()
                if end > start:
                    found.append(Match(category, _back(anchors, start), _back(anchors, end - 1) + 1))
        return found


def collapse(folded: str) -> tuple[str, list[tuple[int, int]]]:
    """Whitespace runs as one space, and (collapsed offset, folded offset) anchors."""
    if _ODD_SPACE.search(folded) is None:
        return folded, []
    anchors: list[tuple[int, int]] = []
    removed = 0
    for run in _SPACES.finditer(folded):
        if run.end() - run.start() > 1:
            removed += run.end() - run.start() - 1
            anchors.append((run.end() - removed, run.end()))
    return _SPACES.sub(" ", folded), anchors


def _back(anchors: list[tuple[int, int]], position: int) -> int:
    index = bisect_right(anchors, (position, 1 << 62)) - 1
    if index < 0:
        return position
    collapsed, folded = anchors[index]
    return folded + position - collapsed


def load_identifiers(path: Path) -> Identifiers:
    defines: dict[str, str] = {}
    result = []

    def expand(number: int, source: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            if match.group(1) not in defines:
                raise LexiconError(f"{path.name}:{number}: unknown {{{match.group(1)}}}")
            return defines[match.group(1)]

        return _NAME.sub(substitute, source)

    for number, line in lines(path):
        if line.startswith("define\t"):
            _, name, source = fields(path, number, line, 3)
            defines[name] = expand(number, source)
            continue
        category, source = fields(path, number, line, 2)
        source = expand(number, source)
        if _UNSAFE.search(source):
            raise LexiconError(f"{path.name}:{number}: a repeated group (unbounded)")
        try:
            result.append((category, re.compile(source)))
        except re.error as exc:
            raise LexiconError(f"{path.name}:{number}: not a valid pattern ({exc.msg})") from None
    return Identifiers(tuple(result))
