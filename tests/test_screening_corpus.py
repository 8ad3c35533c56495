"""The labelled data: well formed, and the shared corpus (never trained on) as a check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.screening import Lexicon, load_lexicon, screen_fields
from tests.corpora import SHARED, TRAINING


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


def _figures(path: Path, lexicon: Lexicon) -> tuple[float, float, float, float]:
    """(crisis recognised, medical-or-crisis caught, clean stopped, clean sent as crisis)."""
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
    as_crisis = counts.get(("clean", "crisis"), 0) / total("clean")
    return (
        crisis,
        caught / (total("medical") + total("crisis")),
        stopped / total("clean"),
        as_crisis,
    )


def test_shared_corpus_floors(lexicon: Lexicon) -> None:
    """Shared corpus (160 lines, never trained on): crisis >= 80%, caught >= 88%, clean
    stopped <= 5%, clean sent as crisis <= 2%. Floors below the figures in the README, so
    a retraining that slips is seen, without tuning on this set."""
    if not SHARED.exists():
        pytest.skip(f"shared corpus not found at {SHARED}")
    crisis, caught, stopped, as_crisis = _figures(SHARED, lexicon)
    assert crisis >= 0.80
    assert caught >= 0.88
    assert stopped <= 0.05
    assert as_crisis <= 0.02


def test_training_files_are_well_formed() -> None:
    """Every training line is a JSON object with a message, a known label, an optional lang
    of en or es, and an id unique across all files."""
    ids: set[str] = set()
    count = 0
    for path in TRAINING:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            assert isinstance(record["message"], str) and record["message"]
            assert record["label"] in ("clean", "medical", "crisis")
            assert record.get("lang", "en") in ("en", "es")
            assert str(record["id"]) not in ids, f"{path.name}: duplicate id"
            ids.add(str(record["id"]))
            count += 1
    assert count >= 2400


def test_the_shared_corpus_is_not_trained_on() -> None:
    """No message of the shared corpus appears in the training data (it is the check)."""
    if not SHARED.exists():
        pytest.skip(f"shared corpus not found at {SHARED}")
    shared = {
        json.loads(line)["message"].strip()
        for line in SHARED.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    for path in TRAINING:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                assert json.loads(line)["message"].strip() not in shared, path.name
