"""The two linear models, crisis and disclosure, read from the model file shipped in the
package (relay/screening/model.tsv, written by scripts/train_screening.py).

Pure Python at run time: one set intersection finds the features a message shares with
the model, and two C-level sums add their weights, so a message costs about two dict
lookups per feature it has. Each line of the file is ``family<TAB>key<TAB>crisis
weight<TAB>disclosure weight``; ``@bias`` and ``@threshold`` lines carry the rest.
Scores are log-odds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from relay.screening._features import Features, family
from relay.screening._lexicon import LexiconError

FAMILIES = ("w", "b", "k", "p", "s", "n", "o")
THRESHOLDS = ("crisis", "crisis_possible", "medical")
CRISIS, MEDICAL = 0, 1
MIN_WEIGHT = 0.05  # a feature weighing less is never named as a reason
MODEL_FILE = Path(__file__).resolve().parent / "model.tsv"


@dataclass(frozen=True)
class Model:
    bias: tuple[float, float]
    thresholds: dict[str, float]
    crisis: dict[str, float] = field(repr=False)
    medical: dict[str, float] = field(repr=False)
    stopwords: frozenset[str] = field(default=frozenset(), repr=False)  # never a reason
    keys: frozenset[str] = field(init=False, repr=False)
    # Per score, the features a reason can point at (words, pairs, affixes, lexicon kinds)
    # that push it up, with their weight: reasons look only at these.
    pushing: tuple[dict[str, float], dict[str, float]] = field(init=False, repr=False)
    families: dict[str, str] = field(init=False, repr=False)  # of the keys in pushing

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset(self.crisis))
        # Word endings ("-ing"), stopwords and pairs of stopwords are shared by too many
        # messages to be shown as a reason.
        # Numbers alone are left to the identifier patterns.
        stop = self.stopwords

        def dull(word: str) -> bool:
            return word in stop or word.isdigit()

        shown = [
            k
            for k in self.crisis
            if k.startswith("lex:")
            or (family(k) in "wp" and not dull(k.rstrip("<")))
            or (family(k) in "bk" and not all(dull(w) for w in k.replace("~", " ").split()))
        ]
        crisis = {k: self.crisis[k] for k in shown if self.crisis[k] >= MIN_WEIGHT}
        medical = {k: self.medical[k] for k in shown if self.medical[k] >= MIN_WEIGHT}
        object.__setattr__(self, "pushing", (crisis, medical))
        object.__setattr__(self, "families", {k: family(k) for k in shown})

    def scores(self, features: Features) -> tuple[float, float]:
        """(crisis, disclosure) log-odds."""
        hits = features.keys & self.keys
        return (
            self.bias[0] + sum(map(self.crisis.__getitem__, hits)),
            self.bias[1] + sum(map(self.medical.__getitem__, hits)),
        )

    def weighed(
        self, features: Features, which: int, most: int = 16
    ) -> list[tuple[float, str, str]]:
        """(weight, family, key) of the ``most`` features that pushed a score up most,
        strongest first."""
        table = self.pushing[which]
        top = sorted(features.keys & table.keys(), key=table.__getitem__, reverse=True)
        families = self.families
        return [(table[k], families[k], k) for k in top[:most]]


def load_model(path: Path = MODEL_FILE, stopwords: frozenset[str] = frozenset()) -> Model:
    bias: tuple[float, float] | None = None
    thresholds: dict[str, float] = {}
    crisis: dict[str, float] = {}
    medical: dict[str, float] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LexiconError(f"{path.name}: cannot be read ({type(exc).__name__})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            if parts[0] == "@bias":
                bias = (float(parts[1]), float(parts[2]))
            elif parts[0] == "@threshold" and parts[1] in THRESHOLDS:
                thresholds[parts[1]] = float(parts[2])
            elif len(parts) == 4 and parts[0] in FAMILIES:
                crisis[parts[1]], medical[parts[1]] = float(parts[2]), float(parts[3])
            else:
                raise ValueError
        except (ValueError, IndexError):
            raise LexiconError(
                f"{path.name}:{number}: expected 'family<TAB>key<TAB>weight<TAB>weight'"
            ) from None
    if bias is None or set(thresholds) != set(THRESHOLDS):
        raise LexiconError(f"{path.name}: needs @bias and the thresholds {', '.join(THRESHOLDS)}")
    return Model(bias, thresholds, crisis, medical, stopwords)
