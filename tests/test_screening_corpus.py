"""Screening against labelled corpora (shared corpus and own cases), with floors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.screening import Lexicon, load_lexicon, screen_fields

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "contact_messages.jsonl"
OWN = Path(__file__).resolve().parent / "data" / "screening_cases.jsonl"
HOLDOUT_A = Path(__file__).resolve().parent / "data" / "holdout_a.jsonl"


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


def _figures(path: Path, lexicon: Lexicon) -> tuple[float, float, float]:
    """(crisis recall, medical-or-crisis caught, clean stopped)."""
    counts: dict[tuple[str, str], int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            case = json.loads(line)
            got = screen_fields({"message": case["message"]}, lexicon).verdict
            counts[(case["label"], got)] = counts.get((case["label"], got), 0) + 1

    def total(label: str) -> int:
        return sum(n for (truth, _), n in counts.items() if truth == label)

    crisis = counts.get(("crisis", "crisis"), 0) / total("crisis")
    caught = sum(
        counts.get((t, g), 0) for t in ("medical", "crisis") for g in ("medical", "crisis")
    )
    stopped = counts.get(("clean", "medical"), 0) + counts.get(("clean", "crisis"), 0)
    return crisis, caught / (total("medical") + total("crisis")), stopped / total("clean")


def test_shared_corpus_floors(lexicon: Lexicon) -> None:
    """Shared corpus: every crisis caught, >= 95% medical-or-crisis caught, <= 3% clean stopped."""
    if not SHARED.exists():
        pytest.skip(f"shared corpus not found at {SHARED}")
    crisis, caught, stopped = _figures(SHARED, lexicon)
    assert crisis == 1.0
    assert caught >= 0.95
    assert stopped <= 0.03


def test_own_cases_floors(lexicon: Lexicon) -> None:
    """Own cases: >= 98% crisis recall, >= 95% caught, <= 3% clean stopped."""
    crisis, caught, stopped = _figures(OWN, lexicon)
    assert crisis >= 0.98
    assert caught >= 0.95
    assert stopped <= 0.03


def test_own_cases_are_well_formed() -> None:
    """Own cases have unique ids, the shared corpus's keys and at least 290 lines."""
    cases = [
        json.loads(line) for line in OWN.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    assert len(cases) >= 290
    assert len({c["id"] for c in cases}) == len(cases)
    assert all({"id", "message", "label", "why"} <= c.keys() for c in cases)


def test_holdout_a_floors(lexicon: Lexicon) -> None:
    """Holdout A (written blind, 240 lines): crisis >= 95%, caught >= 93%, clean stopped <= 5%.

    Reached 100% / 100% / 0% after the 2025-12 rework; the floors leave room, since the rules
    have now been read against it and it is no longer a blind test.
    """
    crisis, caught, stopped = _figures(HOLDOUT_A, lexicon)
    assert crisis >= 0.95
    assert caught >= 0.93
    assert stopped <= 0.05
