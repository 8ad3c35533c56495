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
from dataclasses import dataclass, field
from pathlib import Path

from relay.screening._lexicon import LexiconError, fields, lines
from relay.screening._literals import Requirement, possible, requirements

# A dose counts only as evidence for the disclosure model ("250 mL bags" in a supplier's
# pitch is nobody's); every other identifier makes a message medical on its own.
FEATURE_ONLY = frozenset({"dose"})
# ASCII classes throughout: folding leaves Latin text in ASCII, and the engine tests an
# ASCII class far faster than a Unicode one (10x for "\d+" on 1 KB).
_DIGIT = re.compile(r"[0-9]")
# Digits no further apart than a window reaches, as one run: one match, not one per number.
# (No digit can start the gap, so the repeat never backtracks.)
_CLUSTERS = re.compile(r"[0-9](?:[^0-9]{0,100}[0-9])*")
# Every match lies within this many characters before its first digit and after its
# last ("social security number ending in 4471", "member id wxk 884 210 339"), so only
# windows around digits are scanned.
BEFORE, AFTER = 80, 30
MOST = 20  # matches per pattern: enough for reasons, and a bound on the work
_ODD_SPACE = re.compile(
    r"[\t\n\x0b-\x0d\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
_RUNS = re.compile(r" {2,}")
_TO_SPACE = {ord(c): " " for c in "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001"
             "\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f"
             "\u205f\u3000"}  # fmt: skip
_UNSAFE = re.compile(r"\)(?:[*+]|\{\d*,\})")
_NAME = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Match:
    category: str
    start: int  # offsets in the folded text
    end: int


@dataclass(frozen=True)
class Identifiers:
    # category, pattern, whether it starts at a word, and its trigger words (empty: none)
    patterns: tuple[tuple[str, re.Pattern[str], bool, frozenset[str]], ...]
    # per pattern, the text any match contains (see _literals.py): a window without it
    # is not scanned
    needs: tuple[tuple[Requirement, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        needs = tuple(requirements(pattern) for _, pattern, _, _ in self.patterns)
        object.__setattr__(self, "needs", needs)

    def find(self, folded: str, words: set[str]) -> list[Match]:
        """Matches in ``folded``; ``words`` are its tokens, for the trigger words."""
        if _DIGIT.search(folded) is None:
            return []
        text, anchors = collapse(folded)
        windows: list[list[int]] = []
        for run in _CLUSTERS.finditer(text):
            start, end = max(0, run.start() - BEFORE), run.end() + AFTER
            if windows and start <= windows[-1][1]:
                windows[-1][1] = end
            else:
                windows.append([start, end])
        found = []
        for (category, pattern, word_start, triggers), needs in zip(
            self.patterns, self.needs, strict=True
        ):
            if triggers and words.isdisjoint(triggers):
                continue
            count = 0
            for start, end in windows:
                if needs and not possible(text, start, end, needs):
                    continue
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
    if "  " not in folded and _ODD_SPACE.search(folded) is None:
        return folded, []
    spaced = folded.translate(_TO_SPACE)  # tabs, newlines...: one for one, no anchor
    if "  " not in spaced:
        return spaced, []
    anchors: list[tuple[int, int]] = []
    removed = 0
    for run in _RUNS.finditer(spaced):
        removed += run.end() - run.start() - 1
        anchors.append((run.end() - removed, run.end()))
    return _RUNS.sub(" ", spaced), anchors


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
        parts = [part.strip() for part in line.split("\t") if part.strip()]
        if len(parts) not in (2, 3):
            raise LexiconError(f"{path.name}:{number}: expected 2 or 3 tab-separated fields")
        category, source = parts[0], expand(number, parts[1])
        triggers = frozenset(parts[2].split()) if len(parts) == 3 else frozenset()
        if _UNSAFE.search(source):
            raise LexiconError(f"{path.name}:{number}: a repeated group (unbounded)")
        # A leading \b stops the engine from skipping ahead to the pattern's first word
        # (4x slower): checked on each match instead.
        word_start = source.startswith(r"\b")
        try:
            pattern = re.compile(source[2:] if word_start else source, re.ASCII)
        except re.error as exc:
            raise LexiconError(f"{path.name}:{number}: not a valid pattern ({exc.msg})") from None
        result.append((category, pattern, word_start, triggers))
    return Identifiers(tuple(result))
