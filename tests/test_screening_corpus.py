"""Screening against labelled corpora (shared corpus and own cases), with floors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.screening import Lexicon, load_lexicon, screen_fields

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "contact_messages.jsonl"
OWN = Path(__file__).resolve().parent / "data" / "screening_cases.jsonl"
HOLDOUT_A = Path(__file__).resolve().parent / "data" / "holdout_a.jsonl"
HOLDOUT_B = Path(__file__).resolve().parent / "data" / "holdout_b.jsonl"


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
    """Shared corpus: every crisis and every medical message caught, no clean message stopped."""
    if not SHARED.exists():
        pytest.skip(f"shared corpus not found at {SHARED}")
    crisis, caught, stopped = _figures(SHARED, lexicon)
    assert crisis == 1.0
    assert caught == 1.0
    assert stopped == 0.0


def test_own_cases_floors(lexicon: Lexicon) -> None:
    """Own cases: >= 90% crisis recall, >= 95% caught, <= 1% clean stopped.

    The 2025-12 combined-cue work added 100+ indirect crisis messages (the last 15 written
    after the rules and kept, misses included, as a check on generalisation) and 100+ clean
    and medical messages using the same cue words; 90.2% / 94.6% / 0.8% when set.
    The medical-precision work (cl255-cl279, md179-md194: hangover, topics, organisations,
    groups, jobs) took the rules alone to 90.2% / 95.7% / 0.0%.
    """
    crisis, caught, stopped = _figures(OWN, lexicon)
    assert crisis >= 0.90
    assert caught >= 0.95
    assert stopped <= 0.01


def test_own_cases_are_well_formed() -> None:
    """Own cases have unique ids, the shared corpus's keys and at least 290 lines."""
    cases = [
        json.loads(line) for line in OWN.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    assert len(cases) >= 290
    assert len({c["id"] for c in cases}) == len(cases)
    assert all({"id", "message", "label", "why"} <= c.keys() for c in cases)


def test_holdout_a_floors(lexicon: Lexicon) -> None:
    """Holdout A (240 lines): 100% crisis, 100% caught, 0% clean stopped.

    No longer a blind test: the rules have been read against it.
    """
    crisis, caught, stopped = _figures(HOLDOUT_A, lexicon)
    assert crisis == 1.0
    assert caught == 1.0
    assert stopped == 0.0


def test_holdout_b_floors(lexicon: Lexicon) -> None:
    """Holdout B (240 lines): 100% crisis, >= 98% caught, <= 2% clean stopped.

    Before the combined-cue detector: 51.4% / 83.1% / 5.5%. Its crisis misses were read to learn
    the kinds of expression, so it is no longer blind either. The 5.5% clean stopped came from
    the disclosure pass ("hangover" drips, "signs of depression" topics, a hospital committee);
    after the medical-precision work the rules alone give 100% / 99.2% / 0.0%.
    """
    crisis, caught, stopped = _figures(HOLDOUT_B, lexicon)
    assert crisis == 1.0
    assert caught >= 0.98
    assert stopped <= 0.02
