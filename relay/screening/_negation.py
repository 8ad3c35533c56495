"""Negation scopes: the words a negation cue reaches ("not on any medications" -> "on",
"any", "medications"), which the features mark as negated ("!on", "!any"...).

The scope is one regular expression: a cue of negation.tsv, not inside a word, then up to
three words with only spaces and quotes between. Run over the whole text, the engine
tries its alternation of cues at every position (about a tenth of the features' time).
But a match can only start where a cue's first word stands as a whole token, and that
word is then one of the text's words: so those places are found by a fast search for
each such word, and the pattern is tried only there, in text order, resuming after each
match, which finds exactly the matches a scan of the whole text finds (38 to 24 us per
KB of varied text, measured side by side).
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from relay.screening._lexicon import negation_cues

# More than one place to try per DENSE characters: scan the whole text instead (a try
# costs about what the scan costs over 25 characters).
DENSE = 32


@dataclass(frozen=True)
class Negation:
    pattern: re.Pattern[str]  # a cue and the up to three words it reaches (groups 1-3)
    firsts: dict[str, re.Pattern[str]]  # the first word of every cue: where it is a token

    def negated(self, folded: str, words: AbstractSet[str]) -> set[str]:
        """Every word a negation reaches, marked "!word". ``words``: the tokens of
        ``folded``. The same as ``pattern.findall(folded)`` (the property tests hold it)."""
        # Cues everywhere ("don't can't won't" over and over): past one place per DENSE
        # characters, one scan of the whole text in C is cheaper than a Python step per
        # place (and finds the same).
        most = len(folded) // DENSE
        starts: list[int] = []
        for first in words & self.firsts.keys():
            for place in self.firsts[first].finditer(folded):
                starts.append(place.start())
                if len(starts) > most:
                    return {"!" + w for scope in self.pattern.findall(folded) for w in scope if w}
        starts.sort()
        found: set[str] = set()
        end = 0
        for start in starts:
            if start < end:
                continue  # inside the previous match, as in a scan of the whole text
            match = self.pattern.match(folded, start)
            if match is not None:
                found.update("!" + word for word in match.groups() if word)
                end = match.end()
        return found


def _token(word: str) -> re.Pattern[str]:
    """Where ``word`` is a whole token. The word comes first, and the test of the
    character before it last (a lookbehind after the word: "no" not after a letter or
    digit), so the engine searches for the word itself instead of trying every position."""
    escaped = re.escape(word)
    return re.compile(rf"{escaped}(?![^\W_])(?<![^\W_]{escaped})")


def negation(cues: AbstractSet[str]) -> Negation:
    # Longest cues first, so "do not" wins over "do"; words of a cue apart by 1-3 non-word
    # characters ("don't" is "don t"), and the scope's words by spaces and quotes.
    alternation = "|".join(
        r"\W{1,3}".join(re.escape(w) for w in cue.split())
        for cue in sorted(cues, key=lambda c: (-len(c), c))
    )
    word = r"[\s'\u2019\"]{1,3}([^\W_]+)"
    pattern = re.compile(rf"(?<![^\W_])(?:{alternation})(?![^\W_]){word}(?:{word})?(?:{word})?")
    return Negation(pattern, {first: _token(first) for first in {cue.split()[0] for cue in cues}})


def load_negation(directory: Path) -> Negation:
    """The negation scopes of ``directory``/negation.tsv."""
    return negation(negation_cues(directory))
