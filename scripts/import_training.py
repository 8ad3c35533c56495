"""Copy finished labelled files into tests/data/training (then run train_screening.py).

    .venv/bin/python scripts/import_training.py DIRECTORY

A file NAME.jsonl of DIRECTORY is finished when NAME.done (or NAME.jsonl.done) sits
beside it. Each is checked
before it is copied: every line JSON with a string message, a known label, a lang of en
or es when given, and ids unique within it and across the training set. Prints counts,
never message text. Files already copied (same name) are skipped.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINING = ROOT / "tests" / "data" / "training"
LABELS = ("clean", "medical", "crisis")


def known_ids() -> set[str]:
    ids: set[str] = set()
    for path in TRAINING.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                ids.add(str(json.loads(line).get("id")))
    return ids


def check(path: Path, taken: set[str]) -> tuple[list[str], Counter[str]]:
    problems: list[str] = []
    counts: Counter[str] = Counter()
    seen: set[str] = set()
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
            problems.append(f"{where}: no string message")
            continue
        if record.get("label") not in LABELS:
            problems.append(f"{where}: unknown label")
        if record.get("lang", "en") not in ("en", "es"):
            problems.append(f"{where}: unknown lang")
        key = str(record.get("id", ""))
        if not key or key in seen or key in taken:
            problems.append(f"{where}: id missing or not unique")
        seen.add(key)
        counts[f"{record.get('label')}/{record.get('lang', '?')}"] += 1
    return problems, counts


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    source = Path(argv[0])
    taken = known_ids()
    status = 0
    for done in sorted(source.glob("*.done")):
        # NAME.done or NAME.jsonl.done
        path = done.with_suffix("") if done.stem.endswith(".jsonl") else done.with_suffix(".jsonl")
        target = TRAINING / path.name
        if not path.exists() or target.exists():
            continue
        problems, counts = check(path, taken)
        if problems:
            print(
                f"{path.name}: NOT copied, {len(problems)} problems:\n  "
                + "\n  ".join(problems[:20])
            )
            status = 1
            continue
        shutil.copyfile(path, target)
        taken |= {
            str(json.loads(line)["id"])
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        }
        print(
            f"{path.name}: copied, {sum(counts.values())} messages "
            + "("
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + ")"
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
