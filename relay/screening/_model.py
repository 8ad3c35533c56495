"""The two linear models, crisis and disclosure, read from the model file shipped in the
package (relay/screening/model.tsv, written by scripts/train_screening.py).

Pure Python at run time: a weight table per feature family, looked up by set
intersection, so only the features a message has cost anything. Each line of the file is
``family<TAB>key<TAB>crisis weight<TAB>disclosure weight``; ``@bias`` and ``@threshold``
lines carry the rest. Scores are log-odds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.screening._features import Features
from relay.screening._lexicon import LexiconError

FAMILIES = ("w", "b", "p", "s", "o")
THRESHOLDS = ("crisis", "crisis_possible", "medical")
CRISIS, MEDICAL = 0, 1
MODEL_FILE = Path(__file__).resolve().parent / "model.tsv"


@dataclass(frozen=True)
class Model:
    bias: tuple[float, float]
    thresholds: dict[str, float]
    tables: dict[str, dict[Any, tuple[float, float]]] = field(repr=False)
    keys: dict[str, frozenset[Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", {f: frozenset(t) for f, t in self.tables.items()})

    def _hits(self, features: Features) -> list[tuple[str, Any]]:
        keys = self.keys
        hits: list[tuple[str, Any]] = [("w", k) for k in features.words & keys["w"]]
        hits += [("b", k) for k in features.pairs & keys["b"]]
        hits += [("p", k) for k in features.prefixes & keys["p"]]
        hits += [("s", k) for k in features.suffixes & keys["s"]]
        hits += [("o", k) for k in features.other & keys["o"]]
        return hits

    def scores(self, features: Features) -> tuple[float, float]:
        """(crisis, disclosure) log-odds."""
        crisis, medical = self.bias
        tables, keys = self.tables, self.keys
        for family, found in (
            ("w", features.words & keys["w"]),
            ("b", features.pairs & keys["b"]),
            ("p", features.prefixes & keys["p"]),
            ("s", features.suffixes & keys["s"]),
            ("o", features.other & keys["o"]),
        ):
            table = tables[family]
            for key in found:
                c, m = table[key]
                crisis += c
                medical += m
        return crisis, medical

    def weighed(self, features: Features, which: int) -> list[tuple[float, str, Any]]:
        """(weight, family, key) of the features that pushed a score up, strongest first."""
        out = [(self.tables[f][k][which], f, k) for f, k in self._hits(features)]
        return sorted((w for w in out if w[0] > 0), key=lambda w: (-w[0], w[1], str(w[2])))


def _key(family: str, key: str) -> Any:
    if family == "b":
        first, _, second = key.partition(" ")
        return (first, second)
    return key


def load_model(path: Path = MODEL_FILE) -> Model:
    bias: tuple[float, float] | None = None
    thresholds: dict[str, float] = {}
    tables: dict[str, dict[Any, tuple[float, float]]] = {f: {} for f in FAMILIES}
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
            elif len(parts) == 4 and parts[0] in tables:
                tables[parts[0]][_key(parts[0], parts[1])] = (float(parts[2]), float(parts[3]))
            else:
                raise ValueError
        except (ValueError, IndexError):
            raise LexiconError(
                f"{path.name}:{number}: expected 'family<TAB>key<TAB>weight<TAB>weight'"
            ) from None
    if bias is None or set(thresholds) != set(THRESHOLDS):
        raise LexiconError(f"{path.name}: needs @bias and the thresholds {', '.join(THRESHOLDS)}")
    return Model(bias, thresholds, tables)
