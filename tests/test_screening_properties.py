"""Property tests: screen never raises, stays fast and bounded, keeps offsets inside the
text, and capitals, accents, spacing, fullwidth letters and invisible characters never
change a verdict."""

from __future__ import annotations

import time
import unicodedata

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


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(
        [
            "a",
            "kill ",
            "my ",
            "1",
            "😭",
            "e\u0301",
            "\u202e",
            "no ",
            "want to ",
            "50mg ",
            "DOB 01/02/1980 ",
            "member id 123456 ",
            "\u200b",
            "\n",
        ]
    ),
    st.integers(1, 10_000),
)
def test_repetitive_input_stays_fast(token: str, count: int) -> None:
    """Repeated tokens up to 10,000 characters screen in under 50 ms of CPU time (the
    benchmark holds the 2 ms figure; this bound only catches runaway, non-linear work).
    Best of three: runaway work is slow every time, a collector pause only once (one
    single run took 120 ms in a full run, 5 ms alone)."""
    text = (token * count)[:10_000]

    def cpu() -> float:
        started = time.process_time()
        screen(text, LEXICON)
        return time.process_time() - started

    assert min(cpu() for _ in range(3)) < 0.05


SAMPLES = [
    "I AM SUICIDAL AND I NEED HELP NOW",
    "Me corté otra vez anoche y no puedo parar",
    "my mother has diabetes and takes metformin 500 mg",
    "DOB 03/14/1987, member ID XJH442019887",
    "What are your opening hours on Saturday?",
    "¿Atienden la ansiedad? Gracias.",
    "My boss will kill me if I'm late lol",
    "I won't be around much longer, please cancel my membership.",
    "Is ketamine safe for people with high blood pressure?",
    "I took a whole bottle of pills an hour ago",
    "The link on your booking page is broken",
    "Mi hijo de 15 años dice que quiere morirse y no sé qué hacer",
]
_ACCENT = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "ú", "n": "ñ"}


def _vary(text: str, choices: list[int]) -> str:
    """Change capitals, accents, spacing, width and invisible characters, char by char."""
    out = []
    for char, choice in zip(text, choices, strict=False):
        kind = choice % 8
        if kind == 1 and char.isalpha():
            char = char.swapcase()
        elif kind == 2 and char.lower() in _ACCENT:
            char = _ACCENT[char.lower()]
        elif kind == 3 and char in "áéíóúñ":
            char = unicodedata.normalize("NFD", char)  # the same letter, decomposed
        elif kind == 4 and char == " ":
            char = [" \t", "\n", "  ", "\u00a0", "\n\n "][choice % 5]
        elif kind == 5 and "!" <= char <= "~":
            char = chr(ord(char) + 0xFEE0)  # fullwidth form
        elif kind == 6:
            char = char + ["\u200b", "\u200d", "\ufeff", "\u00ad", "\u2060"][choice % 5]
        out.append(char)
    return "".join(out) + text[len(choices) :]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SAMPLES), st.lists(st.integers(0, 1000), max_size=120))
def test_form_never_changes_a_verdict(text: str, choices: list[int]) -> None:
    """Capitals, accents, spacing, fullwidth letters and zero-width characters leave the
    verdict, the resources and the reason categories as they were."""
    varied = _vary(text, choices)
    before, after = screen(text, LEXICON), screen(varied, LEXICON)
    assert (after.verdict, after.show_crisis_resources) == (
        before.verdict,
        before.show_crisis_resources,
    )
    assert {r.category for r in after.reasons} == {r.category for r in before.reasons}
    for reason in after.reasons:
        assert 0 <= reason.start < reason.end <= len(varied)


def test_spans_keep_to_the_word_under_variation() -> None:
    """A reason on a varied word spans that word in the varied text."""
    text = "DOB 03/14/1987"
    varied = "Ｄ\u200bＯＢ\u00a0 03/14/1987"
    result = screen(varied, LEXICON)
    dob = [r for r in result.reasons if r.category == "dob"]
    assert dob and varied[dob[0].start : dob[0].end].endswith("1987")
    assert screen(text, LEXICON).verdict == result.verdict == "medical"
