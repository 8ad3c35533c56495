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
_DIGITS = re.compile(r"\d+")
# Every match lies within this many characters before its first digit and after its
# last ("social security number ending in 4471", "member id wxk 884 210 339"), so only
# windows around digits are scanned.
BEFORE, AFTER = 120, 40
MOST = 20  # matches per pattern: enough for reasons, and a bound on the work
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
    patterns: tuple[tuple[str, re.Pattern[str], bool], ...]  # category, pattern, word start

    def find(self, folded: str) -> list[Match]:
        if _DIGIT.search(folded) is None:
            return []
        text, anchors = collapse(folded)
        windows: list[list[int]] = []
        for run in _DIGITS.finditer(text):
            start, end = max(0, run.start() - BEFORE), run.end() + AFTER
            if windows and start <= windows[-1][1]:
                windows[-1][1] = end
            else:
                windows.append([start, end])
        found = []
        for category, pattern, word_start in self.patterns:
            count = 0
            for start, end in windows:
                for match in pattern.finditer(text, start, end):
                    a, b = match.span()
                    if b <= a or (
                        word_start and a and (text[a - 1].isalnum() or text[a - 1] == "_")
                    ):
                        continue
                    found.append(Match(category, _back(anchors, a), _back(anchors, b - 1) + 1))
                    count += 1
                    if count >= MOST:
                        break
                if count >= MOST:
                    break
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
        # A leading \b stops the engine from skipping ahead to the pattern's first word
        # (4x slower): checked on each match instead.
        word_start = source.startswith(r"\b")
        try:
            result.append((category, re.compile(source[2:] if word_start else source), word_start))
        except re.error as exc:
            raise LexiconError(f"{path.name}:{number}: not a valid pattern ({exc.msg})") from None
    return Identifiers(tuple(result))
