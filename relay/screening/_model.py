"""A second opinion on crisis: a logistic word model, as reviewable data.

Why a model beside the rules: written blind, crisis messages say it in more ways than
phrase lists can enumerate ("I already took 20 of my Tylenol", "sorry for the mess
I'm leaving behind"). On a corpus the rules had never seen they recognised 58% of
crisis messages; words weighed together generalise further. The model only ever
*adds* a crisis verdict. Where the rules saw a crisis cue that survived their
filters (negation, fiction, everyday uses) without finding a second one, the model
stands in for that second cue at a looser threshold; on words alone it needs a
strict one. The rules' own judgements of topic questions, hyperbole and history are
left to stand.

The weights (logistic regression, crisis against everything else, over words and
word pairs) are trained by ``scripts/train_crisis_model.py`` from the labelled
corpora in the repository and checked in as ``config/screening/crisis_model.tsv``.
Pure: no I/O beyond reading that file once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Letters (any script) and apostrophes; offsets come straight from the original text.
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
# Words too common to carry meaning on their own (they still form word pairs).
STOPWORDS = frozenset(
    "the a an and or to of in on at for is are was were be been i you it this that my me "
    "we our your with as but so if do does can could would will have has had not no just "
    "el la los las y o de en que un una es por con para lo le se".split()
)
MAX_CHARS = 10_000


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    start: int
    end: int


def features(text: str) -> Iterator[Feature]:
    """Unigrams (3+ letters, not stopwords) and adjacent word pairs, lower-cased.
    The training script uses this same function, so both sides always agree."""
    words = [(m.group().lower().replace("\u2019", "'"), m.start(), m.end())
             for m in WORD.finditer(text[:MAX_CHARS])]  # fmt: skip
    for word, start, end in words:
        if len(word) >= 3 and word not in STOPWORDS:
            yield Feature(word, start, end)
    for (a, start, _), (b, _, end) in zip(words, words[1:], strict=False):
        yield Feature(f"{a}_{b}", start, end)


@dataclass(frozen=True)
class CrisisModel:
    prior: float
    threshold: float  # when the rules saw a crisis cue that survived their filters
    threshold_alone: float  # on words alone
    weights: dict[str, float] = field(repr=False)

    def score(self, text: str) -> tuple[float, list[Feature]]:
        """The log-odds score and the features that pushed it up most (for reasons)."""
        total = self.prior
        seen: dict[str, Feature] = {}
        for f in features(text):
            if f.name in self.weights and f.name not in seen:  # presence, not counts
                seen[f.name] = f
                total += self.weights[f.name]
        top = sorted(seen.values(), key=lambda f: -self.weights[f.name])[:3]
        return total, [f for f in top if self.weights[f.name] > 0]

    def says_crisis(self, text: str, *, corroborated: bool) -> list[Feature]:
        """The strongest evidence when the score passes the threshold (the looser one
        when a rule cue corroborates), else []."""
        total, top = self.score(text)
        return top if total > (self.threshold if corroborated else self.threshold_alone) else []


class ModelFileError(ValueError):
    """The model file is malformed; the message names the file and line, never text."""


def load_model(path: Path) -> CrisisModel:
    prior = threshold = alone = None
    weights: dict[str, float] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            if parts[0] == "@prior":
                prior = float(parts[1])
            elif parts[0] == "@threshold":
                threshold = float(parts[1])
            elif parts[0] == "@threshold_alone":
                alone = float(parts[1])
            elif len(parts) == 2:
                weights[parts[0]] = float(parts[1])
            else:
                raise ValueError
        except (ValueError, IndexError):
            raise ModelFileError(f"{path.name}:{number}: expected 'feature<TAB>weight'") from None
    if prior is None or threshold is None or alone is None:
        raise ModelFileError(f"{path.name}: needs @prior, @threshold and @threshold_alone lines")
    return CrisisModel(prior=prior, threshold=threshold, threshold_alone=alone, weights=weights)
