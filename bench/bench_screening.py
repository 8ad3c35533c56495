"""Throughput of screen() on one core over the shared corpus (a script, not a test).

.venv/bin/python bench/bench_screening.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relay.screening import load_lexicon, screen

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "contact_messages.jsonl"
OWN = Path(__file__).resolve().parent.parent / "tests" / "data" / "screening_cases.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    messages = [
        json.loads(line)["message"]
        for path in (CORPUS, OWN)
        if path.exists()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    lexicon = load_lexicon()
    for message in messages:  # warm caches
        screen(message, lexicon)
    times: list[float] = []
    started = time.perf_counter()
    for _ in range(args.rounds):
        for message in messages:
            t0 = time.perf_counter()
            screen(message, lexicon)
            times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    times.sort()
    lengths = sorted(len(m) for m in messages)
    print(
        f"{'messages':>10} {'chars p50/max':>14} {'msg/s':>8} "
        f"{'p50 us':>8} {'p99 us':>8} {'max us':>8}"
    )
    print(
        f"{len(times):>10} {lengths[len(lengths) // 2]:>6}/{lengths[-1]:<7} "
        f"{len(times) / elapsed:>8.0f} "
        f"{statistics.median(times) * 1e6:>8.0f} "
        f"{times[int(len(times) * 0.99)] * 1e6:>8.0f} {times[-1] * 1e6:>8.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
