"""Screening speed on one core (a script, not a test; prints no message text).

    .venv/bin/python bench/bench_screening.py [--rounds 5]

1. throughput over the labelled corpora (tests/data/training, and the shared corpus);
2. throughput for 1 KB messages: one repeated sentence, and varied 1 KB texts cut from
   the corpora (every message is screened afresh: nothing caches whole messages);
3. time against length (linear?) and the slowest adversarial messages up to 10,000
   characters: repeated doses, repeated crisis words, one long word, emoji, combining marks.
Times are CPU time of this process, best of the rounds. Each figure is printed next to
the goal of issue 12 ("Fast and bounded"): >= 20,000 messages/s over the corpora,
>= 10,000/s for 1 KB messages, no message over 2 ms up to 10,000 characters.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relay.screening import Lexicon, load_lexicon, screen  # noqa: E402
from tests.corpora import SHARED, TRAINING  # noqa: E402

LIMIT = 10_000
# Issue 12's goals: messages/s over the corpora and for 1 KB, and milliseconds per message.
GOAL_CORPORA, GOAL_KILOBYTE, GOAL_MS = 20_000, 10_000, 2.0


def corpus_messages() -> list[str]:
    paths = [*TRAINING, *([SHARED] if SHARED.exists() else [])]
    return [
        json.loads(line)["message"]
        for path in paths
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def varied_kilobytes(messages: list[str], count: int = 500) -> list[str]:
    """1 KB texts made of consecutive corpus messages, each different."""
    out: list[str] = []
    joined = " ".join(messages)
    for i in range(count):
        start = (i * 997) % max(1, len(joined) - 1024)
        out.append(joined[start : start + 1024])
    return out


def adversarial() -> dict[str, str]:
    def fill(unit: str) -> str:
        return (unit * (LIMIT // len(unit) + 1))[:LIMIT]

    return {
        "doses": fill("50mg "),
        "crisis words": fill("kill myself suicide overdose tonight "),
        "spanish crisis": fill("me corté otra vez, quiero morir, ya no aguanto más. "),
        "one long word": "a" * LIMIT,
        "emoji": fill("😢💊🔪 "),
        "combining marks": fill("a\u0301\u0302\u0303"),
        "zero-width": fill("s\u200bu\u200bi\u200bc\u200bi\u200bd\u200be "),
        "digits and dates": fill("DOB 01/02/1980 member 12345678 "),
        "newlines": fill("\n \t"),
        "apostrophes": fill("don't can't won't "),
        "1 KB sentence x10": fill("Hello I would like to know your opening hours "),
    }


# CPU time of this process, best of the rounds: on a shared machine, wall time measures
# the neighbours as much as the screening.
clock = time.process_time


def rate(messages: list[str], lexicon: Lexicon, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = clock()
        for message in messages:
            screen(message, lexicon)
        best = min(best, clock() - started)
    return len(messages) / best


def slowest(text: str, lexicon: Lexicon, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = clock()
        screen(text, lexicon)
        best = min(best, clock() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lexicon = load_lexicon()
    messages = corpus_messages()
    kilobyte = ("Hello I would like to know your opening hours " * 20)[:1024]
    lines: list[tuple[str, Callable[[], float], int]] = [
        (
            f"corpora ({len(messages)} messages)",
            lambda: rate(messages, lexicon, args.rounds),
            GOAL_CORPORA,
        ),
        (
            "1 KB, one repeated sentence",
            lambda: rate([kilobyte] * 200, lexicon, args.rounds),
            GOAL_KILOBYTE,
        ),
        (
            "1 KB, varied texts (500)",
            lambda: rate(varied_kilobytes(messages), lexicon, args.rounds),
            GOAL_KILOBYTE,
        ),
    ]
    print(f"{'throughput, one core':40} {'msg/s':>9} {'goal':>9}")
    for name, measure, goal in lines:
        measure()  # warm up
        print(f"{name:40} {measure():>9.0f} {goal:>9}")
    print(f"\n{'time against length (varied text)':40} {'us':>9} {'us/KB':>9} {'goal us':>9}")
    joined = " ".join(messages)
    for size in (100, 1_000, 2_000, 3_000, 5_000, 10_000):
        # the slowest of five different texts of this length (each its best of 5 runs)
        seconds = max(slowest(joined[i * size : (i + 1) * size], lexicon) for i in range(5))
        micro, goal = seconds * 1e6, GOAL_MS * 1e3
        name = f"{size:>8} characters"
        print(f"{name:40} {micro:>9.0f} {micro / size * 1000:>9.0f} {goal:>9.0f}")
    print(f"\n{'adversarial, 10,000 characters':40} {'ms':>9} {'goal ms':>9}")
    worst = 0.0
    for name, text in adversarial().items():
        seconds = slowest(text, lexicon)
        worst = max(worst, seconds)
        print(f"{name:40} {seconds * 1e3:>9.2f} {GOAL_MS:>9.1f}")
    print(f"{'slowest':40} {worst * 1e3:>9.2f} {GOAL_MS:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
