"""The benchmark scripts still run end to end (figures are theirs to print, not ours to assert)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("bench_intake.py", ["--seconds", "1", "--long", "1200"], "ratio (relay / bare)"),
        ("bench_delivery.py", ["--messages", "20"], "ratio (relay / raw)"),
        ("bench_flood.py", ["--seconds", "2", "--connections", "8"], "oldest when it left"),
        ("bench_screening.py", ["--rounds", "1"], "msg/s"),
    ],
)
def test_benchmark_runs(script: str, args: list[str], expect: str) -> None:
    """Each benchmark finishes and prints its figures."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True, text=True, timeout=240, cwd=BENCH.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert expect in done.stdout
