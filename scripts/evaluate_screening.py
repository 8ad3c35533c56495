"""Score the screening on labelled JSONL files (keys: id, message, label; optional lang,
why, subject). Never prints message text: figures, a confusion matrix, and misses
counted by the kind of case (the `why` prefix before ":", e.g. "indirect", "tricky").

    .venv/bin/python scripts/evaluate_screening.py PATH.jsonl [PATH.jsonl ...]
    .venv/bin/python scripts/evaluate_screening.py --ids PATH.jsonl   # also list missed ids

Per file, per language (en/es: the `lang` key, else detect_language) and overall:
crisis recognised (crisis -> crisis), crisis shown resources (crisis -> resources),
medical or crisis caught (-> medical|crisis), clean stopped (clean -> medical|crisis),
clean sent as crisis. Then the leave-one-writer-out figures the training script recorded.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.screening import Lexicon, detect_language, load_lexicon, screen_fields  # noqa: E402

LABELS = ("clean", "medical", "crisis")
CV_FIGURES = ROOT / "relay" / "screening" / "model_cv.json"


@dataclass
class Scores:
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    resources: Counter[str] = field(default_factory=Counter)
    missed_kinds: Counter[str] = field(default_factory=Counter)
    wrong: list[tuple[str, str, str]] = field(default_factory=list)

    def total(self, truth: str) -> int:
        return sum(self.confusion[(truth, got)] for got in LABELS)

    def add(self, other: Scores) -> None:
        self.confusion.update(other.confusion)
        self.resources.update(other.resources)
        self.missed_kinds.update(other.missed_kinds)
        self.wrong += other.wrong


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "     -"


def _kind(why: str) -> str:
    head, sep, _ = why.partition(":")
    return head.strip().lower() if sep and len(head) <= 20 else "plain"


def evaluate(path: Path, lexicon: Lexicon) -> dict[str, Scores]:
    by_language: dict[str, Scores] = {"en": Scores(), "es": Scores()}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        case = json.loads(line)
        fields = {"message": case["message"]}
        if case.get("subject"):
            fields["subject"] = case["subject"]
        result = screen_fields(fields, lexicon)
        language = case.get("lang") or detect_language(case["message"])
        scores = by_language.setdefault(language, Scores())
        truth, got = case["label"], result.verdict
        scores.confusion[(truth, got)] += 1
        scores.resources[truth] += result.show_crisis_resources
        missed = (
            (truth == "crisis" and got != "crisis")
            or (truth == "medical" and got == "clean")
            or (truth == "clean" and got != "clean")
        )
        if missed:
            scores.missed_kinds[f"{truth}->{got} {_kind(str(case.get('why', '')))}"] += 1
            scores.wrong.append((str(case.get("id", f"line {number}")), truth, got))
    return by_language


def report(title: str, s: Scores, show_ids: bool) -> None:
    crisis, medical, clean = s.total("crisis"), s.total("medical"), s.total("clean")
    caught = sum(s.confusion[(t, g)] for t in ("medical", "crisis") for g in ("medical", "crisis"))
    stopped = s.confusion[("clean", "medical")] + s.confusion[("clean", "crisis")]
    print(
        f"== {title}: {crisis + medical + clean} messages "
        f"({clean} clean, {medical} medical, {crisis} crisis)"
    )
    print(f"  crisis recognised        {_ratio(s.confusion[('crisis', 'crisis')], crisis)}")
    print(f"  crisis shown resources   {_ratio(s.resources['crisis'], crisis)}")
    print(f"  medical or crisis caught {_ratio(caught, medical + crisis)}")
    print(f"  clean stopped            {_ratio(stopped, clean)}")
    print(f"  clean sent as crisis     {_ratio(s.confusion[('clean', 'crisis')], clean)}")
    print(f"  clean shown resources    {_ratio(s.resources['clean'], clean)}")
    print("  confusion (rows: label, columns: verdict)")
    print("  " + " " * 9 + "".join(f"{label:>9}" for label in LABELS))
    for truth in LABELS:
        print(f"  {truth:9}" + "".join(f"{s.confusion[(truth, got)]:>9}" for got in LABELS))
    if s.missed_kinds:
        print(
            "  misses by kind: "
            + ", ".join(
                f"{kind} {n}"
                for kind, n in sorted(s.missed_kinds.items(), key=lambda kv: (-kv[1], kv[0]))
            )
        )
    if show_ids and s.wrong:
        print("  missed ids: " + ", ".join(f"{i} {t}->{g}" for i, t, g in s.wrong))


def print_cross_validation() -> None:
    if not CV_FIGURES.exists():
        return
    cv = json.loads(CV_FIGURES.read_text(encoding="utf-8"))
    print("== leave-one-writer-out (scripts/train_screening.py, on the training data)")
    print(f"  thresholds {cv['thresholds']}; writers: {len(cv['writers'])}")
    print(
        f"  {'':20} {'n':>5} {'crisis':>7} {'caught':>7} {'clean stop':>10} {'clean->crisis':>13}"
    )
    rows = [("overall", cv["overall"]), ("en", cv["en"]), ("es", cv["es"])]
    rows += [(f"independent {k}", f) for k, f in cv.get("independent", {}).items()]
    rows += [(f"  {name}", f) for name, f in cv["by_writer"].items()]
    for name, f in rows:
        cells = [
            f.get(k)
            for k in (
                "crisis_recognised",
                "medical_or_crisis_caught",
                "clean_stopped",
                "clean_sent_as_crisis",
            )
        ]
        text = ["-" if c is None else f"{c:.1%}" for c in cells]
        print(
            f"  {name:20} {f['messages']:>5} {text[0]:>7} {text[1]:>7} {text[2]:>10} {text[3]:>13}"
        )
    print("  confusion, overall (rows: label, columns: verdict)")
    for truth in LABELS:
        row = cv["overall"]["confusion"][truth]
        print(f"    {truth:9}" + "".join(f"{row[g]:>9}" for g in LABELS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--ids", action="store_true", help="list the ids of misclassified lines")
    args = parser.parse_args(argv)
    lexicon = load_lexicon()
    overall: dict[str, Scores] = {}
    for path in args.files:
        by_language = evaluate(path, lexicon)
        whole = Scores()
        for language, scores in sorted(by_language.items()):
            if sum(scores.confusion.values()):
                report(f"{path.name}, {language}", scores, args.ids)
            whole.add(scores)
            overall.setdefault(language, Scores()).add(scores)
        report(f"{path.name}, all", whole, False)
        print()
    if len(args.files) > 1:
        everything = Scores()
        for language, scores in sorted(overall.items()):
            report(f"all files, {language}", scores, False)
            everything.add(scores)
        report("all files", everything, False)
        print()
    print_cross_validation()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
