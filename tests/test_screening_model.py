"""The crisis word model: features, scoring, file format, and its place beside the rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay import screening
from relay.screening._model import CrisisModel, ModelFileError, features, load_model
from relay.screening._rules import Found

MODEL = CrisisModel(
    prior=-2.0,
    threshold=1.0,
    threshold_alone=2.0,
    weights={"bridge": 2.0, "tonight": 1.5, "saturday": -1.0, "on_the": 0.1},
)


def test_features_are_words_and_pairs_with_exact_offsets() -> None:
    """Unigrams skip stopwords and short words; pairs span both words; offsets are exact."""
    text = "I’ll be ON the Bridge tonight"
    found = list(features(text))
    names = [f.name for f in found]
    assert "bridge" in names and "tonight" in names and "on_the" in names and "the" not in names
    for f in found:
        assert text[f.start : f.end].lower().replace("\u2019", "'").startswith(f.name.split("_")[0])


def test_score_counts_presence_once_and_names_the_evidence() -> None:
    """A repeated word counts once; the strongest positive features are the evidence."""
    total, top = MODEL.score("bridge bridge bridge tonight on Saturday")
    assert total == pytest.approx(-2.0 + 2.0 + 1.5 - 1.0)
    assert [f.name for f in top] == ["bridge", "tonight"]
    assert MODEL.says_crisis("the bridge tonight bridge tonight", corroborated=True)
    assert not MODEL.says_crisis("Saturday", corroborated=True)


def test_a_surviving_cue_lowers_the_bar() -> None:
    """Corroborated by a rule cue the looser threshold applies; on words alone the strict one."""
    text = "bridge tonight saturday"  # -2 + 2 + 1.5 - 1 = 0.5
    assert not MODEL.says_crisis(text, corroborated=True)
    text = "bridge tonight"  # 1.5: over 1.0, not over 2.0
    assert MODEL.says_crisis(text, corroborated=True)
    assert not MODEL.says_crisis(text, corroborated=False)


def test_second_opinion_respects_the_rules() -> None:
    """The model adds crisis only where the rules found none and judged no topic,
    hyperbole or history; a surviving rule cue ("crisis.lone.*") corroborates it."""
    text = "the bridge tonight"
    lone = [Found("crisis.lone.means", 4, 10)]
    assert [f.category for f in screening._second_opinion(text, lone, MODEL)] == [
        "crisis.model"
    ] * 2
    assert screening._second_opinion(text, [], MODEL) == []  # 1.5 is not enough alone
    for decided in ("crisis.topic", "crisis.hyperbole", "crisis.history", "crisis.active"):
        assert screening._second_opinion(text, [*lone, Found(decided, 0, 3)], MODEL) == []
    assert screening._second_opinion("what time on Saturday", lone, MODEL) == []


def test_model_crisis_is_a_crisis_verdict_with_reasons() -> None:
    """A crisis.model reason makes the verdict crisis, with resources, at the evidence spans."""
    from relay.screening._rules import verdict_of

    assert verdict_of([Found("crisis.model", 4, 10)]) == ("crisis", True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("@prior\t-1\n@threshold\t1\nword\t2\n", "needs @prior, @threshold"),
        ("@prior\t-1\n@threshold\t3\nword\tnot-a-number\n", "crisis_model.tsv:3"),
        ("@prior\t-1\n@threshold\t3\na\tb\tc\n", "crisis_model.tsv:3"),
    ],
)
def test_model_file_errors_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    """A malformed model file raises an error naming the file and line."""
    path = tmp_path / "crisis_model.tsv"
    path.write_text(content)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_shipped_model_loads_with_its_threshold() -> None:
    """The generated model in config/screening loads, with a prior, a threshold and weights."""
    model = screening.load_lexicon().model
    assert model.prior < 0 and model.threshold <= model.threshold_alone
    assert len(model.weights) > 500


@pytest.mark.parametrize(
    "text",
    ["Do you treat suicidal thoughts with ketamine?", "What are your hours on Saturday?",
     "Thanks so much, goodbye and see you next week!", "Can I pay with my HSA card?"],
)  # fmt: skip
def test_everyday_and_topic_messages_stay_clean(text: str) -> None:
    """The model does not turn service questions and sign-offs into crises."""
    assert screening.screen(text, screening.load_lexicon()).verdict == "clean"
