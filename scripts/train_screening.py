"""Train the screening models (relay/screening/model.tsv) from tests/data/training/*.jsonl.

    .venv/bin/python scripts/train_screening.py            # check the data, train, write
    .venv/bin/python scripts/train_screening.py --check    # retrain; fail if files differ

Needs scikit-learn (the dev extra); run time needs neither it nor numpy. Each file of
tests/data/training is one writer (keys id, message, label; optional lang, why). Two
L2-regularised logistic regressions over the features of relay/screening/_features.py:
crisis against the rest, and medical-or-crisis against clean (disclosure).

Thresholds are chosen on out-of-fold scores, leaving one writer (file) out at a time, so
every score comes from a model that never saw its writer. Budgets, in this order:
  1. crisis: the lowest threshold at which at most CRISIS_CLEAN_BUDGET of clean messages
     are sent as crisis (aim: crisis recall >= 99%);
  2. possible crisis (resources shown, flagged for staff): the lowest threshold at which
     at most POSSIBLE_CLEAN_BUDGET of clean messages see the resources;
  3. medical: with crisis and identifiers decided first, the lowest threshold at which at
     most CLEAN_STOPPED_BUDGET of clean messages are stopped (aim: caught >= 96%).
The leave-one-writer-out figures go to relay/screening/model_cv.json. Deterministic:
no randomness, sorted inputs, rounded weights; --check proves it. Prints no message text.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# One thread for the numeric libraries: the same arithmetic, so the same bytes, every run.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from relay.screening import default_lexicon_dir  # noqa: E402
from relay.screening._features import Features, extract, names  # noqa: E402
from relay.screening._identifiers import FEATURE_ONLY, load_identifiers  # noqa: E402
from relay.screening._lexicon import build_index, lines, negation_pattern  # noqa: E402
from relay.screening._text import TOKEN, fold  # noqa: E402

DATA = ROOT / "tests" / "data" / "training"
MODEL = ROOT / "relay" / "screening" / "model.tsv"
FIGURES = ROOT / "relay" / "screening" / "model_cv.json"
LABELS = ("clean", "medical", "crisis")
CRISIS_CLEAN_BUDGET = 0.01
POSSIBLE_CLEAN_BUDGET = 0.03
CLEAN_STOPPED_BUDGET = 0.025
C_CRISIS = 2.0
C_MEDICAL = 2.0
MIN_COUNT = 3  # a feature seen in fewer training messages gets no weight
# A feature's value in training, by family (w b p s o). A larger value costs its weight
# less regularisation: lexicon kinds and cue pairs ("o") carry knowledge beyond the
# training messages, so they may weigh more than any one word. The model file holds
# weight x value, so at run time every feature present counts as 1.
# Per model (crisis, disclosure); "x" is the pairs of cue groups, which helped the
# disclosure model and hurt the crisis one in leave-one-writer-out runs.
SCALES = (
    {"w": 1.0, "b": 1.0, "k": 1.0, "p": 1.0, "s": 1.0, "n": 1.0, "o": 1.0, "x": 0.0},
    {"w": 1.0, "b": 1.0, "k": 1.0, "p": 1.0, "s": 1.0, "n": 1.0, "o": 1.0, "x": 1.0},
)


def _scale(name: str, which: int) -> float:
    family = "x" if name.startswith("o\tx:") else name[0]
    return SCALES[which][family]


class Row:
    __slots__ = ("features", "group", "has_id", "id", "label", "lang", "names", "why")

    def __init__(self, record: dict[str, Any], group: str, features: Features) -> None:
        self.id = str(record["id"])
        self.label = record["label"]
        self.why = str(record.get("why", ""))
        self.group = group
        self.features = features
        self.names = sorted(set(names(features)))
        self.has_id = any(m.category not in FEATURE_ONLY for m in features.identifiers)
        self.lang = record.get("lang") or _language(record["message"])


_LANGUAGE: tuple[frozenset[str], frozenset[str]] | None = None


def _language(text: str) -> str:
    from relay.screening import detect_language

    return detect_language(text)


def load_rows(directory: Path) -> list[Row]:
    """Every labelled message, checked: valid JSON, a known label, ids unique."""
    lexicon_dir = default_lexicon_dir()
    stopwords = frozenset(
        w for _, line in lines(lexicon_dir / "stopwords.txt") for w in TOKEN.findall(fold(line))
    )
    index = build_index(lexicon_dir, stopwords)
    identifiers = load_identifiers(lexicon_dir / "identifiers.tsv")
    negation = negation_pattern(lexicon_dir)
    rows: list[Row] = []
    seen: dict[str, str] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                problems.append(f"{where}: not JSON")
                continue
            if not isinstance(record, dict) or not isinstance(record.get("message"), str):
                problems.append(f"{where}: needs an object with a string 'message'")
                continue
            if record.get("label") not in LABELS:
                problems.append(f"{where}: label must be one of {LABELS}")
                continue
            key = str(record.get("id", ""))
            if not key or key in seen:
                problems.append(f"{where}: id missing or already used in {seen.get(key)}")
                continue
            seen[key] = path.name
            features = extract(fold(record["message"]), index, identifiers, negation)
            rows.append(Row(record, path.stem, features))
    if problems:
        raise SystemExit("training data problems:\n  " + "\n  ".join(problems))
    return rows


def matrix(rows: list[Row], vocabulary: dict[str, int], which: int) -> Any:
    """Rows of feature values for model ``which`` (0 crisis, 1 disclosure)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    indptr, indices = [0], []
    for row in rows:
        indices += sorted(vocabulary[n] for n in row.names if n in vocabulary)
        indptr.append(len(indices))
    ordered = sorted(vocabulary, key=vocabulary.__getitem__)
    scale = np.array([_scale(n, which) for n in ordered], dtype=np.float64)
    data = scale[np.array(indices, dtype=np.int64)] if indices else np.ones(0)
    return csr_matrix((data, indices, indptr), shape=(len(rows), len(vocabulary)))


def fit(rows: list[Row]) -> tuple[dict[str, int], list[Any]]:
    # Imported here: the data check runs, and fails, without scikit-learn.
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    counts = Counter(n for row in rows for n in row.names)
    vocabulary = {
        n: i for i, n in enumerate(sorted(n for n, c in counts.items() if c >= MIN_COUNT))
    }
    models = []
    for which, c, positive in ((0, C_CRISIS, ("crisis",)), (1, C_MEDICAL, ("medical", "crisis"))):
        x = matrix(rows, vocabulary, which)
        y = np.array([row.label in positive for row in rows], dtype=np.int64)
        # liblinear: a deterministic coordinate descent (fixed seed), 20x faster than lbfgs
        # on these sparse rows at the same cross-validated figures
        model = LogisticRegression(C=c, solver="liblinear", random_state=0, tol=1e-4, max_iter=1000)
        models.append(model.fit(x, y))
    return vocabulary, models


def out_of_fold(rows: list[Row]) -> list[tuple[float, float]]:
    """(crisis, disclosure) log-odds of each row from a model that never saw its writer."""
    scores: list[tuple[float, float]] = [(0.0, 0.0)] * len(rows)
    for group in sorted({row.group for row in rows}):
        train = [row for row in rows if row.group != group]
        test = [i for i, row in enumerate(rows) if row.group == group]
        vocabulary, (crisis, medical) = fit(train)
        held = [rows[i] for i in test]
        c_scores = crisis.decision_function(matrix(held, vocabulary, 0))
        m_scores = medical.decision_function(matrix(held, vocabulary, 1))
        for i, c, m in zip(test, c_scores, m_scores, strict=True):
            scores[i] = (float(c), float(m))
    return scores


def _lowest(candidates: list[float], rate: Any, budget: float) -> float:
    """The lowest candidate threshold whose rate is within budget."""
    for threshold in sorted(set(candidates)):
        if rate(threshold) <= budget:
            return threshold
    return max(candidates) + 1.0


def choose(rows: list[Row], scores: list[tuple[float, float]]) -> dict[str, float]:
    clean = [i for i, row in enumerate(rows) if row.label == "clean"]
    grid = [round(s[0], 3) + 1e-3 for s in scores] + [round(s[1], 3) + 1e-3 for s in scores]

    def share(indices: list[int], test: Any) -> float:
        return sum(1 for i in indices if test(i)) / max(1, len(indices))

    crisis = _lowest(grid, lambda t: share(clean, lambda i: scores[i][0] >= t), CRISIS_CLEAN_BUDGET)
    possible = _lowest(
        [g for g in grid if g <= crisis] or [crisis],
        lambda t: share(clean, lambda i: scores[i][0] >= t),
        POSSIBLE_CLEAN_BUDGET,
    )

    def stopped(t: float) -> float:
        return share(clean, lambda i: scores[i][0] >= crisis or rows[i].has_id or scores[i][1] >= t)

    medical = _lowest(grid, stopped, CLEAN_STOPPED_BUDGET)
    return {
        "crisis": round(crisis, 4),
        "crisis_possible": round(min(possible, crisis), 4),
        "medical": round(medical, 4),
    }


def verdicts(
    rows: list[Row], scores: list[tuple[float, float]], limits: dict[str, float]
) -> list[tuple[str, bool]]:
    out = []
    for row, (c, m) in zip(rows, scores, strict=True):
        if c >= limits["crisis"]:
            out.append(("crisis", True))
        else:
            verdict = "medical" if row.has_id or m >= limits["medical"] else "clean"
            out.append((verdict, c >= limits["crisis_possible"]))
    return out


def figures(rows: list[Row], got: list[tuple[str, bool]]) -> dict[str, Any]:
    """Headline figures and a confusion matrix (rows: label, columns: verdict)."""
    confusion = {t: {g: 0 for g in LABELS} for t in LABELS}
    resources = Counter()
    for row, (verdict, shown) in zip(rows, got, strict=True):
        confusion[row.label][verdict] += 1
        resources[row.label] += shown
    n = {t: sum(confusion[t].values()) for t in LABELS}

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    caught = sum(confusion[t][g] for t in ("medical", "crisis") for g in ("medical", "crisis"))
    return {
        "messages": sum(n.values()),
        "by_label": n,
        "crisis_recognised": ratio(confusion["crisis"]["crisis"], n["crisis"]),
        "crisis_shown_resources": ratio(resources["crisis"], n["crisis"]),
        "medical_or_crisis_caught": ratio(caught, n["medical"] + n["crisis"]),
        "clean_stopped": ratio(
            confusion["clean"]["medical"] + confusion["clean"]["crisis"], n["clean"]
        ),
        "clean_sent_as_crisis": ratio(confusion["clean"]["crisis"], n["clean"]),
        "clean_shown_resources": ratio(resources["clean"], n["clean"]),
        "confusion": confusion,
    }


def report(rows: list[Row], got: list[tuple[str, bool]]) -> dict[str, Any]:
    out: dict[str, Any] = {"overall": figures(rows, got)}
    for lang in ("en", "es"):
        pick = [i for i, row in enumerate(rows) if row.lang == lang]
        out[lang] = figures([rows[i] for i in pick], [got[i] for i in pick])
    out["by_writer"] = {}
    for group in sorted({row.group for row in rows}):
        pick = [i for i, row in enumerate(rows) if row.group == group]
        f = figures([rows[i] for i in pick], [got[i] for i in pick])
        out["by_writer"][group] = {
            k: f[k]
            for k in (
                "messages",
                "crisis_recognised",
                "medical_or_crisis_caught",
                "clean_stopped",
                "clean_sent_as_crisis",
            )
        }
    return out


def model_text(
    vocabulary: dict[str, int], models: list[Any], limits: dict[str, float], summary: str
) -> str:
    crisis, medical = models
    out = [
        "# Screening models: logistic-regression weights per feature, written by",
        "# scripts/train_screening.py from tests/data/training; do not edit by hand.",
        "# family<TAB>key<TAB>crisis weight<TAB>disclosure weight (log-odds)",
        f"# {summary}",
        f"@bias\t{crisis.intercept_[0]:.4f}\t{medical.intercept_[0]:.4f}",
    ]
    out += [f"@threshold\t{name}\t{value:.4f}" for name, value in sorted(limits.items())]
    for name, i in sorted(vocabulary.items()):
        wc = round(float(crisis.coef_[0][i]) * _scale(name, 0), 4)
        wm = round(float(medical.coef_[0][i]) * _scale(name, 1), 4)
        if wc or wm:
            out.append(f"{name}\t{wc:.4f}\t{wm:.4f}".replace("-0.0000", "0.0000"))
    return "\n".join(out) + "\n"


def train(directory: Path) -> tuple[str, str, dict[str, Any]]:
    rows = load_rows(directory)
    scores = out_of_fold(rows)
    limits = choose(rows, scores)
    cv = report(rows, verdicts(rows, scores, limits))
    cv["thresholds"] = limits
    cv["budgets"] = {
        "crisis_clean": CRISIS_CLEAN_BUDGET,
        "possible_clean": POSSIBLE_CLEAN_BUDGET,
        "clean_stopped": CLEAN_STOPPED_BUDGET,
    }
    cv["writers"] = sorted({row.group for row in rows})
    vocabulary, models = fit(rows)
    counts = ", ".join(f"{k} {v}" for k, v in cv["overall"]["by_label"].items())
    summary = f"{len(rows)} messages from {len(cv['writers'])} writers ({counts})"
    return (
        model_text(vocabulary, models, limits, summary),
        json.dumps(cv, indent=1, sort_keys=True) + "\n",
        cv,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=MODEL.parent, help="where to write")
    parser.add_argument("--check", action="store_true", help="fail if the files would change")
    args = parser.parse_args(argv)
    started = time.monotonic()
    model, cv_text, cv = train(args.data)
    targets = (args.out / MODEL.name, args.out / FIGURES.name)
    if args.check:
        same = all(
            path.exists() and path.read_text(encoding="utf-8") == text
            for path, text in zip(targets, (model, cv_text), strict=True)
        )
        print("model files are up to date" if same else "model files differ from a retraining")
        return 0 if same else 1
    for path, text in zip(targets, (model, cv_text), strict=True):
        path.write_text(text, encoding="utf-8")
    print(f"wrote {targets[0].name} and {targets[1].name} in {time.monotonic() - started:.0f} s")
    print_figures(cv)
    return 0


def _line(name: str, f: dict[str, Any]) -> str:
    cells = [
        _pct(f[k])
        for k in (
            "crisis_recognised",
            "medical_or_crisis_caught",
            "clean_stopped",
            "clean_sent_as_crisis",
        )
    ]
    return f"{name:22} {f['messages']:>5} {cells[0]:>7} {cells[1]:>7} {cells[2]:>10} {cells[3]:>13}"


def print_figures(cv: dict[str, Any]) -> None:
    """The leave-one-writer-out figures (no message text)."""
    print(f"thresholds: {cv['thresholds']}")
    head = ("n", "crisis", "caught", "clean stop", "clean->crisis")
    widths = (5, 7, 7, 10, 13)
    print(
        f"{'leave-one-writer-out':22} "
        + " ".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True))
    )
    for name in ("overall", "en", "es"):
        print(_line(name, cv[name]))
    for name, f in cv["by_writer"].items():
        print(_line("  " + name, f))
    print("confusion, overall (rows: label, columns: verdict)")
    for truth in LABELS:
        row = cv["overall"]["confusion"][truth]
        print(f"  {truth:8}" + "".join(f"{row[g]:>8}" for g in LABELS))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


if __name__ == "__main__":
    raise SystemExit(main())
