"""The screening model, read from the file shipped in the package
(relay/screening/model.tsv.gz, written by scripts/train_screening.py).

A small neural network with one hidden layer of ReLU units and two outputs, the crisis
and the disclosure log-odds. Its input is the set of features of a message (every
feature present counts as 1), so the first layer is a sum of one row of weights per
feature the message shares with the model: one set intersection, one gather and a few
vector operations in numpy, whatever the size of the vocabulary. A hidden layer instead
of two linear models because cues only count together ("cancel my appointments" and "I
won't be needing them"): in cross-validation by writer it recognised 93% of crises
against 90% for logistic regression at the same share of clean messages sent as crisis
(1%), and caught 97% of medical or crisis messages against 95%.

The file is text (gzip-compressed, written without a timestamp so a retraining on the
same data gives the same bytes): ``@hidden``, ``@bias``, ``@out`` and ``@threshold``
lines, then one line per feature, ``family<TAB>key<TAB>w1 ... wN``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import numpy as np
import numpy.typing as npt

from relay.screening._features import (
    Features,
    bare_plea,
    family,
    said_outright,
    too_brief,
    unread_as_medical,
)
from relay.screening._lexicon import LexiconError

FAMILIES = ("w", "b", "p", "n", "o")
THRESHOLDS = ("crisis", "crisis_possible", "medical")
OUTPUTS = ("crisis", "disclosure")
CRISIS, MEDICAL = 0, 1
MIN_WEIGHT = 0.05  # a feature that added less to a score is never named as a reason
MODEL_FILE = Path(__file__).resolve().parent / "model.tsv.gz"

Array = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)  # numpy arrays have no single truth value to compare
class Model:
    thresholds: dict[str, float]
    keys: tuple[str, ...] = field(repr=False)  # the feature of each row of ``weights``
    weights: Array = field(repr=False)  # (features, hidden)
    hidden_bias: Array = field(repr=False)  # (hidden,)
    out: Array = field(repr=False)  # (hidden, 2): crisis, disclosure
    out_bias: Array = field(repr=False)  # (2,)
    stopwords: frozenset[str] = field(default=frozenset(), repr=False)  # never a reason
    row: dict[str, int] = field(init=False, repr=False)
    # Rows a reason may point at: words, pairs, prefixes and lexicon kinds, but no
    # stopword, number or pair of them (shared by too many messages to show).
    shown: npt.NDArray[np.bool_] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "row", {k: i for i, k in enumerate(self.keys)})
        stop = self.stopwords

        def dull(word: str) -> bool:
            return word in stop or word.isdigit()

        def shown(key: str) -> bool:
            kind = family(key)
            if kind == "o":
                return key.startswith("lex:")
            if kind in "wp":
                return not dull(key.rstrip("<"))
            return kind == "b" and not all(dull(w) for w in key.split())

        mask = np.fromiter((shown(k) for k in self.keys), dtype=np.bool_, count=len(self.keys))
        object.__setattr__(self, "shown", mask)

    def score(self, features: Features) -> Scored:
        """One pass through the network, kept whole so that reasons reuse it."""
        # One dict lookup per feature, in C (-1: not in the model), then numpy drops the
        # misses. Sorted: float sums depend on their order, and a set's order on the hash
        # seed of the process, so unsorted rows let a reason near a tie change between runs.
        keys = features.keys
        found = np.fromiter(map(self.row.get, keys, repeat(-1)), np.intp, len(keys))
        rows = np.sort(found[found >= 0])
        gathered = self.weights.take(rows, axis=0)
        before = self.hidden_bias + gathered.sum(axis=0)
        crisis, disclosure = np.maximum(before, 0) @ self.out + self.out_bias
        return Scored(float(crisis), float(disclosure), rows, gathered, before)

    def weighed(self, scored: Scored, which: int, most: int = 16) -> list[tuple[float, str, str]]:
        """(weight, family, key) of the ``most`` features that pushed score ``which`` up
        most in this message, strongest first. A feature's weight is what it adds to the
        score through the hidden units this message switches on (exact for a ReLU network
        as long as removing the feature switches no unit off). ``scored``: this message's
        pass through the network (score())."""
        rows = scored.rows
        if not len(rows):
            return []
        added = scored.gathered @ (self.out[:, which] * (scored.before > 0))
        # Filtered in numpy, then only the few survivors in Python. float64(MIN_WEIGHT):
        # the comparison in double precision, as float(w) >= MIN_WEIGHT in Python.
        chosen = np.flatnonzero((added >= np.float64(MIN_WEIGHT)) & self.shown[rows])
        keep = [
            (w, self.keys[r])
            for r, w in zip(rows[chosen].tolist(), added[chosen].tolist(), strict=True)
        ]
        keep.sort(key=lambda x: (-x[0], x[1]))
        return [(w, family(k), k) for w, k in keep[:most]]


def crisis_call(
    score: float, thresholds: dict[str, float], features: Features
) -> tuple[bool, bool]:
    """(resources shown, sure of a crisis) for a crisis score. In the soft zone and over
    it the resources are shown; sure over the line, and anywhere in the soft zone when
    the crisis is said outright. Text too brief for the score alone (``too_brief``) is
    never sure by it, and shows the resources only over the line: its score sits near
    the network's bias, in the soft zone for "no", "Other" or "Mañana", the values of a
    site's own select fields, which would flag every post that has them. Text with no
    word at all ("[]", "!!!") has nothing the network reads, so it is never a
    crisis signal. A bare plea ("help me", "socorro") always shows the resources; a crisis
    stated in the first person, now ("I'm actively suicidal"; ``Features.stated``), is always
    sure. Screening and the training script's figures both decide here."""
    if not features.words:
        return False, False
    if features.stated:
        return True, True
    brief = too_brief(features)
    shown = score >= thresholds["crisis" if brief else "crisis_possible"] or bare_plea(features)
    over = score >= thresholds["crisis"] and not brief
    return shown, shown and (over or said_outright(features))


def medical_call(score: float, thresholds: dict[str, float], features: Features) -> bool:
    """Whether a disclosure score reads as medical details: over the line, unless the
    text is too brief for the score alone, with no health word of the lexicon and no
    identifier ("ok bye", "never mind": refused as medical, they would name "ok" as the
    detail). Screening and the training script's figures both decide here."""
    return score >= thresholds["medical"] and not unread_as_medical(features)


@dataclass(frozen=True, slots=True, eq=False)
class Scored:
    """A window's pass through the network: its two scores, and what reasons reuse (the
    rows of its features, their weights and the hidden units before the ReLU)."""

    crisis: float
    disclosure: float
    rows: npt.NDArray[np.intp]
    gathered: Array
    before: Array


def _floats(parts: list[str], count: int) -> list[float]:
    if len(parts) != count:
        raise ValueError
    return [float(p) for p in parts]


def load_model(path: Path = MODEL_FILE, stopwords: frozenset[str] = frozenset()) -> Model:
    """Read a model file; raises LexiconError naming the file (and line), never a key."""
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise LexiconError(f"{path.name}: cannot be read ({type(exc).__name__})") from None
    hidden = 0
    hidden_bias: list[float] | None = None
    out: dict[str, list[float]] = {}
    thresholds: dict[str, float] = {}
    keys: list[str] = []
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            if parts[0] == "@hidden":
                hidden = int(parts[1])
                if hidden < 1:
                    raise ValueError
            elif parts[0] == "@bias":
                hidden_bias = _floats(parts[1:], hidden)
            elif parts[0] == "@out" and parts[1] in OUTPUTS:
                out[parts[1]] = _floats(parts[2:], hidden + 1)
            elif parts[0] == "@threshold" and parts[1] in THRESHOLDS:
                thresholds[parts[1]] = float(parts[2])
            elif parts[0] in FAMILIES and len(parts) > 2:
                rows.append(_floats(parts[2:], hidden))
                keys.append(parts[1])
            else:
                raise ValueError
        except (ValueError, IndexError):
            raise LexiconError(
                f"{path.name}:{number}: expected '@hidden', '@bias', '@out', '@threshold' "
                "or 'family<TAB>key<TAB>weights' with one weight per hidden unit"
            ) from None
    if hidden_bias is None or set(out) != set(OUTPUTS) or set(thresholds) != set(THRESHOLDS):
        raise LexiconError(
            f"{path.name}: needs @hidden, @bias, @out crisis and disclosure, and the "
            f"thresholds {', '.join(THRESHOLDS)}"
        )
    weights = np.array(rows, dtype=np.float32).reshape(len(rows), hidden)
    output = np.array([out[o][1:] for o in OUTPUTS], dtype=np.float32).T
    return Model(
        thresholds=thresholds,
        keys=tuple(keys),
        weights=weights,
        hidden_bias=np.array(hidden_bias, dtype=np.float32),
        out=np.ascontiguousarray(output),
        out_bias=np.array([out[o][0] for o in OUTPUTS], dtype=np.float32),
        stopwords=stopwords,
    )
