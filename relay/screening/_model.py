"""The two linear models, crisis and disclosure, read from the model file shipped in the
package (relay/screening/model.tsv, written by scripts/train_screening.py).

Pure Python at run time: one set intersection finds the features a message shares with
the model, and two C-level sums add their weights, so a message costs about one dict
lookup per feature it has. Each line of the file is ``family<TAB>key<TAB>crisis
weight<TAB>disclosure weight``; ``@bias`` and ``@threshold`` lines carry the rest.
Scores are log-odds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.screening._features import Features, family, parse_key
from relay.screening._lexicon import LexiconError

FAMILIES = ("w", "b", "k", "p", "s", "o")
THRESHOLDS = ("crisis", "crisis_possible", "medical")
CRISIS, MEDICAL = 0, 1
MIN_WEIGHT = 0.05  # a feature weighing less is never named as a reason
MODEL_FILE = Path(__file__).resolve().parent / "model.tsv"


@dataclass(frozen=True)
class Model:
    bias: complex
    thresholds: dict[str, float]
    # Both weights of a feature in one complex number (crisis + disclosure * 1j): one
    # lookup per feature, and sum() adds both scores at C speed.
    weights: dict[Any, complex] = field(repr=False)
    keys: frozenset[Any] = field(init=False, repr=False)
    # Per score, the features a reason can point at (words, pairs, affixes, lexicon kinds)
    # that push it up, with their weight: reasons look only at these.
    pushing: tuple[dict[Any, float], dict[Any, float]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset(self.weights))
        # word endings ("-ing") are shared by too many words to be shown as a reason
        shown = [k for k in self.weights if family(k) in "wbp" or str(k).startswith("lex:")]
        crisis = {k: self.weights[k].real for k in shown if self.weights[k].real >= MIN_WEIGHT}
        medical = {k: self.weights[k].imag for k in shown if self.weights[k].imag >= MIN_WEIGHT}
        object.__setattr__(self, "pushing", (crisis, medical))

    def scores(self, features: Features) -> tuple[float, float]:
        """(crisis, disclosure) log-odds."""
        total = sum(map(self.weights.__getitem__, features.keys & self.keys), self.bias)
        return total.real, total.imag

    def weighed(
        self, features: Features, which: int, most: int = 16
    ) -> list[tuple[float, str, Any]]:
        """(weight, family, key) of the ``most`` features that pushed a score up most,
        strongest first."""
        table = self.pushing[which]
        top = sorted(features.keys & table.keys(), key=table.__getitem__, reverse=True)
        return [(table[k], family(k), k) for k in top[:most]]


def load_model(path: Path = MODEL_FILE) -> Model:
    bias: tuple[float, float] | None = None
    thresholds: dict[str, float] = {}
    weights: dict[Any, complex] = {}
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
                key = parse_key(parts[0], parts[1])
                weights[key] = complex(float(parts[2]), float(parts[3]))
            else:
                raise ValueError
        except (ValueError, IndexError):
            raise LexiconError(
                f"{path.name}:{number}: expected 'family<TAB>key<TAB>weight<TAB>weight'"
            ) from None
    if bias is None or set(thresholds) != set(THRESHOLDS):
        raise LexiconError(f"{path.name}: needs @bias and the thresholds {', '.join(THRESHOLDS)}")
    return Model(complex(*bias), thresholds, weights)
