"""scripts/train_screening.py: reproducible model files, and a data check that names lines."""

from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from relay.screening import load_lexicon, screen

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_screening.py"
TRAINING = ROOT / "tests" / "data" / "training"


def _small_set(directory: Path) -> Path:
    """Three writers' first 80 lines each: enough to train, fast to run."""
    directory.mkdir()
    for path in sorted(TRAINING.glob("*.jsonl"))[:3]:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line][:80]
        (directory / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def _train(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    out.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(data), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_training_twice_gives_identical_files(tmp_path: Path) -> None:
    """Two trainings on the same data write byte-identical model files that load and
    screen; --check passes on them and fails once a file is stale."""
    pytest.importorskip("sklearn", reason="training needs the dev extra (scikit-learn)")
    data = _small_set(tmp_path / "data")
    first, second = _train(data, tmp_path / "a"), _train(data, tmp_path / "b")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    for name in ("model.tsv.gz", "model_cv.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    lexicon = load_lexicon(model=tmp_path / "a" / "model.tsv.gz")
    assert screen("What are your hours?", lexicon).verdict in ("clean", "medical", "crisis")
    figures = json.loads((tmp_path / "a" / "model_cv.json").read_text(encoding="utf-8"))
    assert set(figures["thresholds"]) == {"crisis", "crisis_possible", "medical"}
    model = tmp_path / "b" / "model.tsv.gz"
    model.write_bytes(gzip.compress(gzip.decompress(model.read_bytes()) + b"w\tstale\t1\n"))
    assert _train(data, tmp_path / "b", "--check").returncode == 1


def test_bad_training_data_is_refused_by_line(tmp_path: Path) -> None:
    """A bad line (not JSON, unknown label, duplicate id) stops training, naming file and
    line but not the message."""
    data = _small_set(tmp_path / "data")
    with (data / "zz_bad.jsonl").open("w", encoding="utf-8") as handle:
        handle.write("{not json\n")
        handle.write(json.dumps({"id": "x1", "message": "secret words", "label": "urgent"}) + "\n")
    result = _train(data, tmp_path / "out")
    assert result.returncode != 0
    assert "zz_bad.jsonl:1" in result.stderr and "zz_bad.jsonl:2" in result.stderr
    assert "secret words" not in result.stderr + result.stdout


# The features of a message long enough to be judged by its score alone
WORDS = SimpleNamespace(words={"one", "two", "three", "four"}, keys=set())


def _training_script() -> Any:
    spec = importlib.util.spec_from_file_location("train_screening", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("where", ["focus", "independent"])
def test_thresholds_keep_the_independent_writers_budget(where: str) -> None:
    """Three clean messages that score high, among 300 clean: 1%, within the budgets on
    all clean messages wherever they are, but 3% of an independent writer's 100 clean
    messages. There the thresholds rise above them: their crisis and disclosure scores
    are not reached; in a focus writer's file the thresholds stay low."""
    script = _training_script()
    high = "w01_focus" if where == "focus" else "s1_inbox"
    rows = [
        SimpleNamespace(label="clean", group=group, has_id=False, features=WORDS)
        for group in ["w01_focus"] * 200 + ["s1_inbox"] * 97 + [high] * 3
    ]
    scores = [(-10.0, -10.0)] * 297 + [(5.0, 5.0)] * 3
    limits = script.choose(rows, scores)
    if where == "independent":
        assert limits["crisis"] > 5.0 and limits["medical"] > 5.0
    else:
        assert limits["crisis"] < -9.0 and limits["medical"] < -9.0


def test_independent_writers_weigh_more_in_training() -> None:
    """The independent writers' messages (files "s<N>_...") weigh INDEPENDENT_WEIGHT in
    the training loss, the focus writers' 1."""
    script = _training_script()
    rows = [SimpleNamespace(group=group) for group in ("s41_suburb", "w01_patients_en")]
    assert script.INDEPENDENT_WEIGHT > 1
    assert list(script.weights(rows)) == [script.INDEPENDENT_WEIGHT, 1.0]


def test_a_data_step_is_measured_over_deals(tmp_path: Path) -> None:
    """scripts/measure_step.py: the earlier writers' figures before and with a new file,
    per deal of the writers into folds and their mean; no message text printed."""
    pytest.importorskip("sklearn", reason="training needs the dev extra (scikit-learn)")
    data = _small_set(tmp_path / "data")
    source = sorted(TRAINING.glob("*.jsonl"))[3]
    lines = [line for line in source.read_text(encoding="utf-8").splitlines() if line][:80]
    new = tmp_path / "new" / source.name
    new.parent.mkdir()
    new.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "measure_step.py"), str(new),
         "--data", str(data), "--deals", "2"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for side in ("before", "with the new files"):
        for deal in ("deal 0", "deal 1", "mean"):
            assert f"all, {side}, {deal}" in result.stdout
    assert "new: 80" in result.stdout
    assert json.loads(lines[0])["message"] not in result.stdout + result.stderr
