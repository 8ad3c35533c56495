"""Score the screening on labelled JSONL files (keys: id, message, label; optional subject).

    .venv/bin/python scripts/evaluate_screening.py \
        ../shared/corpus/contact_messages.jsonl tests/data/screening_cases.jsonl

Prints per-label precision and recall, the three headline figures and a 3x3 confusion table.
It never prints message text: only the ids of misclassified lines.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relay.screening import Lexicon, load_lexicon, screen_fields

LABELS = ("clean", "medical", "crisis")


@dataclass
class Scores:
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)
    wrong: list[tuple[str, str, str]] = field(default_factory=list)

    def count(self, truth: str, got: str) -> int:
        return self.confusion.get((truth, got), 0)

    def total(self, truth: str) -> int:
        return sum(self.count(truth, got) for got in LABELS)

    @property
    def crisis_recall(self) -> float:
        return _ratio(self.count("crisis", "crisis"), self.total("crisis"))

    @property
    def caught(self) -> float:
        hits = sum(self.count(t, g) for t in ("medical", "crisis") for g in ("medical", "crisis"))
        return _ratio(hits, self.total("medical") + self.total("crisis"))

    @property
    def clean_stopped(self) -> float:
        return _ratio(
            self.count("clean", "medical") + self.count("clean", "crisis"), self.total("clean")
        )


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def evaluate(path: Path, lexicon: Lexicon) -> Scores:
    scores = Scores()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        fields = {"message": case["message"]}
        if case.get("subject"):
            fields["subject"] = case["subject"]
        got = screen_fields(fields, lexicon).verdict
        key = (case["label"], got)
        scores.confusion[key] = scores.confusion.get(key, 0) + 1
        if got != case["label"]:
            scores.wrong.append((str(case.get("id", "?")), case["label"], got))
    return scores


def report(path: Path, scores: Scores) -> None:
    print(f"== {path.name}")
    print(f"{'label':8} {'n':>4} {'precision':>9} {'recall':>7}")
    for label in LABELS:
        predicted = sum(scores.count(t, label) for t in LABELS)
        precision = _ratio(scores.count(label, label), predicted)
        recall = _ratio(scores.count(label, label), scores.total(label))
        print(f"{label:8} {scores.total(label):>4} {precision:>9.1%} {recall:>7.1%}")
    print(f"crisis recall (crisis -> crisis):              {scores.crisis_recall:.1%}")
    print(f"medical-or-crisis caught (-> medical|crisis):  {scores.caught:.1%}")
    print(f"clean stopped (clean -> medical|crisis):       {scores.clean_stopped:.1%}")
    print("confusion (rows: label, columns: verdict)")
    print(f"{'':10}" + "".join(f"{label:>9}" for label in LABELS))
    for truth in LABELS:
        print(f"{truth:10}" + "".join(f"{scores.count(truth, got):>9}" for got in LABELS))
    if scores.wrong:
        print(
            "misclassified (id label->verdict): "
            + ", ".join(f"{i} {t}->{g}" for i, t, g in scores.wrong)
        )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    lexicon = load_lexicon()
    for path in args.files:
        report(path, evaluate(path, lexicon))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
