"""Property tests: screen never raises, stays fast and keeps offsets inside the text."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.screening import Lexicon, load_lexicon, redact, screen

LEXICON: Lexicon = load_lexicon()
WORDS = st.sampled_from(
    [
        "I",
        "my",
        "want",
        "to",
        "die",
        "not",
        "depression",
        "on",
        "Zoloft",
        "DOB",
        "03/14/1987",
        "kill",
        "myself",
        "no",
        "just",
        "but",
        "'",
        "\u200b",
        "\u0301",
        "\u202e",
        "عربى",
        "😭",
        "💊",
        "ＤＯＢ",
        "...",
        "123-45-6789",
        "a" * 50,
        "(",
        "[",
        "|",
        "\n\n",
        "  ",
        "ß",
        "İ",
        "ﬁ",
    ]
)
TEXTS = st.one_of(st.text(max_size=2000), st.lists(WORDS, max_size=400).map(" ".join))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_screen_never_raises_and_offsets_stay_in_the_text(text: str) -> None:
    """Any text screens without error, and every reason span lies inside the text."""
    result = screen(text, LEXICON)
    assert result.verdict in ("clean", "medical", "crisis")
    for reason in result.reasons:
        assert 0 <= reason.start < reason.end <= len(text)
    redact(text, result.reasons)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["a", "kill ", "my ", "1", "😭", "e\u0301", "\u202e", "no ", "want to "]),
    st.integers(1, 5000),
)
def test_repetitive_input_stays_fast(token: str, count: int) -> None:
    """Repeated tokens screen in well under 250 ms (no catastrophic backtracking)."""
    text = token * count
    started = time.perf_counter()
    screen(text, LEXICON)
    assert time.perf_counter() - started < 0.25
