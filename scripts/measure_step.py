"""Does a round of new labelled files help? Measured as the training data's rule asks: by
cross-validation by writer on the messages of the writers already in training, with and
without the new files, at the shipped budgets.

    .venv/bin/python scripts/measure_step.py NEW.jsonl [NEW.jsonl ...] [--deals 3]

Dealing the writers into other folds moves the figures by about as much as a round of
new data does (seventh session: up to 0.3 point of crises recognised on the same data), so
each side is measured over several deals (0 is the training script's own, the others a
seeded shuffle) and compared by their means. Thresholds are chosen on all the rows of
each side, as train_screening.py does; the figures are those of the earlier writers'
messages, all of them and the independent writers' alone. Runs the 2 x DEALS
cross-validations on every core (about three minutes each on one). Needs scikit-learn
(the dev extra). Prints no message text.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_screening as training

FIGURES = {
    "crisis_recognised": "crisis",
    "medical_or_crisis_caught": "caught",
    "clean_stopped": "stopped",
    "clean_sent_as_crisis": "as crisis",
}


def _scores(data: Path, new: tuple[Path, ...], deal: int) -> list[tuple[float, float]]:
    return training.out_of_fold(training.load_rows(data, *new), deal)


def _earlier(rows: list[Any], scores: list[tuple[float, float]], groups: set[str]) -> Any:
    """Figures of the earlier writers' messages, thresholds chosen on all the rows."""
    got = training.verdicts(rows, scores, training.choose(rows, scores))
    pick = [i for i, row in enumerate(rows) if row.group in groups]
    independent = [i for i in pick if training.is_independent(rows[i])]
    return (
        training.figures([rows[i] for i in pick], [got[i] for i in pick]),
        training.figures([rows[i] for i in independent], [got[i] for i in independent]),
    )


def _line(name: str, f: dict[str, Any]) -> str:
    return f"  {name:28}" + "".join(f"{100 * (f[k] or 0):>10.2f}" for k in FIGURES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("new", type=Path, nargs="+", help="the new labelled files")
    parser.add_argument("--deals", type=int, default=3)
    parser.add_argument("--data", type=Path, default=training.DATA)
    args = parser.parse_args(argv)
    new = tuple(args.new)
    before = training.load_rows(args.data)
    after = training.load_rows(args.data, *new)  # checks the new files: ids unique...
    groups = {row.group for row in before}
    sides = {"before": (before, ()), "with the new files": (after, new)}
    jobs = [(name, deal) for deal in range(args.deals) for name in sides]
    with ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        futures = {job: pool.submit(_scores, args.data, sides[job[0]][1], job[1]) for job in jobs}
        results = {
            job: _earlier(sides[job[0]][0], f.result(), groups) for job, f in futures.items()
        }
    added = len(after) - len(before)
    print(f"the earlier {len(groups)} writers' {len(before)} messages; new: {added}")
    print(f"  {'':28}" + "".join(f"{head:>10}" for head in FIGURES.values()))
    for part, label in ((0, "all"), (1, "independent")):
        for name in sides:
            runs = [results[(name, deal)][part] for deal in range(args.deals)]
            for deal, f in enumerate(runs):
                print(_line(f"{label}, {name}, deal {deal}", f))
            mean = {k: statistics.fmean(f[k] or 0 for f in runs) for k in FIGURES}
            print(_line(f"{label}, {name}, mean", mean))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
