"""Every benchmark, one after another, each in its own process:

    .venv/bin/python bench/run_all.py [--quick]

Intake and delivery are reported as ratios against a bare baseline measured in the
same run (the machine cancels out); memory as the growth between 1,000 and 20,000
submissions; screening as messages per second on one core. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    args = parser.parse_args()
    runs = [
        ("bench_intake.py", ["--seconds", "2", "--long", "3000"] if args.quick
         else ["--seconds", "10", "--long", "100000"]),
        ("bench_delivery.py", ["--messages", "100" if args.quick else "1000"]),
        ("bench_flood.py", ["--seconds", "3" if args.quick else "10"]),
        ("bench_screening.py", ["--rounds", "2" if args.quick else "20"]),
        ("crash_soak.py", ["--submissions", "200", "--kills", "2"] if args.quick
         else ["--submissions", "2000", "--kills", "6"]),
    ]  # fmt: skip
    failed = 0
    for script, extra in runs:
        print(f"\n== {script} {' '.join(extra)}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / script), *extra], cwd=HERE.parent)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
