"""Negation scopes: the words a negation cue reaches ("not on any medications" -> "on",
"any", "medications"), which the features mark as negated ("!on", "!any"...).

The scope is one regular expression: a cue of negation.tsv, not inside a word, then up to
three words with only spaces and quotes between. Run over the whole text, the engine
tries its alternation of cues at every position (a third of the cost of the features).
But a match can only start where a cue's first word starts, and that word is then one of
the text's tokens: so the pattern is tried only there, in text order, resuming after
each match, which finds exactly the matches a scan of the whole text finds.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from relay.screening._lexicon import negation_cues


@dataclass(frozen=True)
class Negation:
    pattern: re.Pattern[str]  # a cue and the up to three words it reaches (groups 1-3)
    firsts: frozenset[str]  # the first word of every cue

    def negated(self, folded: str, words: AbstractSet[str]) -> set[str]:
        """Every word a negation reaches, marked "!word". ``words``: the tokens of
        ``folded``. The same as ``pattern.findall(folded)`` (the property tests hold it)."""
        starts: set[int] = set()
        for first in self.firsts & words:
            size = len(first)
            position = folded.find(first)
            while position >= 0:
                # Whole tokens only (a cheap test that spares most regex calls; the
                # pattern checks it again).
                before = folded[position - 1] if position else " "
                after = folded[position + size : position + size + 1] or " "
                if not before.isalnum() and not after.isalnum():
                    starts.add(position)
                position = folded.find(first, position + 1)
        found: set[str] = set()
        end = 0
        for start in sorted(starts):
            if start < end:
                continue  # inside the previous match, as in a scan of the whole text
            match = self.pattern.match(folded, start)
            if match is not None:
                found.update("!" + word for word in match.groups() if word)
                end = match.end()
        return found


def negation(cues: AbstractSet[str]) -> Negation:
    # Longest cues first, so "do not" wins over "do"; words of a cue apart by 1-3 non-word
    # characters ("don't" is "don t"), and the scope's words by spaces and quotes.
    alternation = "|".join(
        r"\W{1,3}".join(re.escape(w) for w in cue.split())
        for cue in sorted(cues, key=lambda c: (-len(c), c))
    )
    word = r"[\s'\u2019\"]{1,3}([^\W_]+)"
    pattern = re.compile(rf"(?<![^\W_])(?:{alternation})(?![^\W_]){word}(?:{word})?(?:{word})?")
    return Negation(pattern, frozenset(cue.split()[0] for cue in cues))


def load_negation(directory: Path) -> Negation:
    """The negation scopes of ``directory``/negation.tsv."""
    return negation(negation_cues(directory))
