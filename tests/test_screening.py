"""Behaviour of relay.screening: the traps of docs/SCREENING.md, offsets, redaction, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.screening import (
    Lexicon,
    LexiconError,
    Reason,
    default_lexicon_dir,
    load_lexicon,
    redact,
    screen,
    screen_fields,
)


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


IDIOMS = [
    "you're killing it",
    "y'all are killing it with the new website",
    "been dying to try the NAD drip!!",
    "I'm dying to know if prices go up",
    "this wait is killing me",
    "Sick of waiting on hold about my refund",
    "I bought a Depression-era glass at the market",
    "The Great Depression museum is next door",
    "That was a killer deal",
    "My boss is a real pain in the neck",
    "Saw the price and nearly had a heart attack 😂",
]
THIRD_PARTY = [
    "my mother has diabetes",
    "My friend Sarah has bipolar disorder",
    "I don't have depression, my husband does",
    "My son was diagnosed with ADHD and takes Ritalin",
    "She's type 1 diabetic and her sugar is all over the place",
]
NEGATION = [
    ("I'm not on any medications", "clean"),
    ("I have no suicidal thoughts, just depression", "medical"),
    ("No history of seizures but I take lamotrigine", "medical"),
    ("I've never had a seizure. What are your hours?", "clean"),
    ("No thoughts of hurting myself, just exhausted and numb all the time", "medical"),
]
GENERAL_QUESTIONS = [
    "Do you treat depression?",
    "How much does ketamine cost?",
    "Is ketamine safe for people with high blood pressure?",
    "Does insurance cover Spravato?",
    "What is the success rate for PTSD?",
    "Can ketamine help with migraines?",
    "Hi there, what are your hours on Saturdays? I can only come in on weekends.",
    "¿Ofrecen tratamiento con ketamina para la depresión?",
]
COLLISIONS = [
    "Allegra at the front desk was lovely",
    "Please thank Grace and Hope for their help",
    "Amelia Burns here, can I move my appointment on 03/14/2025?",
    "Call me back at 555-867-5309",
    "Order #078-05-1120 never arrived",
    "Do you do B12 shots?",
]
CRISIS = [
    "everyone would be better off without me",
    "I won't be around much longer",
    "I've been giving my things away",
    "I can't do this anymore",
    "there's no point going on",
    "I want to sleep and never wake up",
    "my son says he wants to kill himself",
    "kms",
    "thinking I should just unalive myself",
    "quiero morir",
    "no quiero vivir",
    "estoy pensando en matarme",
    "quiero quitarme la vida",
    "I took a whole bottle of pills an hour ago",
    "my boyfriend is hurting me",
    "after my infusion my husband won't wake up",
    "I want to die 😭",
    "i wnat to die",
    "I tried to kill myself last week and the thoughts are back",
    "used to cut but I started again this month",
    "Fwd: schedule\n\n> I just want to die, I can't take this anymore\n> --\n"
    "> Sent from my iPhone\n\nJane Doe\nOffice Manager",
]
NOT_CRISIS = [
    ("do you treat suicidal thoughts?", "clean", True),
    ("We're doing a podcast episode on suicide prevention", "clean", True),
    ("I attempted suicide in 2019 and have been well since", "medical", True),
    ("I used to cut as a teenager", "medical", True),
    ('My favourite song has the line "I want to die young" in it', "clean", True),
    ("ugh kill me now lol", "clean", True),
    ("you're killing it", "clean", False),
]


@pytest.mark.parametrize("text", IDIOMS)
def test_idioms_are_clean(lexicon: Lexicon, text: str) -> None:
    """Idioms and hyperbole that use health or death words are clean and not a crisis."""
    assert screen(text, lexicon).verdict == "clean"


@pytest.mark.parametrize("text", THIRD_PARTY)
def test_third_party_disclosure_is_medical(lexicon: Lexicon, text: str) -> None:
    """Health information about a named or related person is medical."""
    assert screen(text, lexicon).verdict == "medical"


@pytest.mark.parametrize(("text", "verdict"), NEGATION)
def test_negation_has_a_bounded_scope(lexicon: Lexicon, text: str, verdict: str) -> None:
    """A negation clears only the terms in its own clause; "just"/"but" end its reach."""
    assert screen(text, lexicon).verdict == verdict


@pytest.mark.parametrize("text", GENERAL_QUESTIONS)
def test_general_service_questions_are_clean(lexicon: Lexicon, text: str) -> None:
    """Questions about services that name a condition or a drug are clean."""
    assert screen(text, lexicon).verdict == "clean"


# Medical precision (2025-12): who a term belongs to, when the writer is not a patient.
NOBODY_IN_PARTICULAR = [
    "Can I book a hangover drip for Saturday morning?",  # the service hangovers are sold for
    "hungover, are walk-ins ok today",
    "What are the warning signs of psychosis we should teach parents about?",  # topic frame
    "I'm planning a suicide prevention and depression awareness walk in June.",  # topic noun
    "I'm a psychiatrist and would like to visit your clinic.",  # a job, not care
    "Our hospital's ethics board is reviewing ketamine policies in the county.",  # institution
    "I run workshops for employees struggling with burnout.",  # a group
    "Please send me your handout on insomnia.",  # writing about a topic
    "What is your policy on Adderall before treatment?",  # "on" that ties nothing
]
STILL_SOMEONES = [
    "I have early signs of psychosis and my psychiatrist wants me seen.",
    "Both my kids have the flu, can they get fluids?",
    "Is the drip safe with the Zoloft I take?",
    "I forgot to take my lithium yesterday, does that matter?",
    "Student of mine, Ana, has epilepsy and asked about the drip.",
]


@pytest.mark.parametrize("text", NOBODY_IN_PARTICULAR)
def test_terms_about_nobody_in_particular_are_clean(lexicon: Lexicon, text: str) -> None:
    """Hangover requests, topics, jobs, institutions and groups disclose nobody's health."""
    assert screen(text, lexicon).verdict == "clean"


@pytest.mark.parametrize("text", STILL_SOMEONES)
def test_terms_tied_to_someone_still_count(lexicon: Lexicon, text: str) -> None:
    """The same words tied to the sender or a named person stay medical."""
    assert screen(text, lexicon).verdict == "medical"


# The crisis word model decides on words alone above a threshold cross-validated against
# a 2% false-alarm budget (scripts/train_crisis_model.py): "when unsure, show the
# resources" (SCREENING.md). These ordinary messages sit just over it; a visitor sees
# crisis resources and staff get a call-back notice. Kept here so the trade is visible.
KNOWN_FALSE_ALARMS = [
    "hungover and I took 4 Tylenol PM last night",
    "Who takes care of my dog this weekend? I'm scared I'll be late.",
]


@pytest.mark.parametrize("text", KNOWN_FALSE_ALARMS)
def test_known_false_alarms_err_towards_resources(lexicon: Lexicon, text: str) -> None:
    """Borderline everyday messages err towards showing crisis resources, never clean."""
    result = screen(text, lexicon)
    assert result.show_crisis_resources and result.verdict != "clean"


def test_first_person_hypothetical_is_medical(lexicon: Lexicon) -> None:
    """ "If I have high blood pressure..." defaults to medical."""
    assert (
        screen("If I have high blood pressure, can I still get ketamine?", lexicon).verdict
        == "medical"
    )


@pytest.mark.parametrize("text", COLLISIONS)
def test_collisions_are_clean(lexicon: Lexicon, text: str) -> None:
    """Names, appointment dates, phone and order numbers and B12 are not health information."""
    assert screen(text, lexicon).verdict == "clean"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("DOB 03/14/1987", "dob"),
        ("my date of birth is March 3, 1985", "dob"),
        ("SSN 901-22-4471", "ssn"),
        ("for billing: 123-45-6789", "ssn"),
        ("member ID XJH442019887", "member_id"),
        ("my MRN is 00482716", "mrn"),
        ("Medicare 1EG4-TE5-MK73", "medicare_id"),
        ("please put F33.2 on the superbill", "icd10"),
        ("My A1C came back at 8.2", "lab_value"),
        ("BP 160/100 last night", "lab_value"),
    ],
)
def test_identifiers_count_alone(lexicon: Lexicon, text: str, category: str) -> None:
    """Identifiers and measurements make a message medical with no other health word."""
    result = screen(text, lexicon)
    assert result.verdict == "medical"
    assert category in {r.category for r in result.reasons}


@pytest.mark.parametrize("text", CRISIS)
def test_crisis_forms_are_caught(lexicon: Lexicon, text: str) -> None:
    """Direct, indirect, third-person, slang, Spanish, emoji and forwarded wording is crisis."""
    result = screen(text, lexicon)
    assert result.verdict == "crisis"
    assert result.show_crisis_resources


@pytest.mark.parametrize(("text", "verdict", "resources"), NOT_CRISIS)
def test_crisis_lookalikes(lexicon: Lexicon, text: str, verdict: str, resources: bool) -> None:
    """Topic questions, history, quotations and jokes are not crisis; most still show resources."""
    result = screen(text, lexicon)
    assert (result.verdict, result.show_crisis_resources) == (verdict, resources)


# Indirect crisis that no single phrase names: two weak cues of different classes combine.
COMBINED = [
    ("my sister locked herself in her room with a bottle of pills", {"danger", "means"}),
    ("I already swallowed 25 of my sleeping pills", {"means", "intent"}),
    ("He is threatening my mother with a kitchen knife right now, I'm hiding upstairs", None),
    ("Last night I stood on the overpass for a long time.", {"means", "intent"}),
    ("I'm sorry for the mess I'm leaving behind.", {"final", "death"}),
    ("Sorry for the trouble. The insurance money will cover it if I'm gone.", None),
    ("Mi hermana se cortó las muñecas y dice que lo va a hacer otra vez.", None),
    ("Someone followed me home from work and is trying to get into my house.", None),
    ("I keep rehearsing how I would do it.", {"intent", "means"}),
]
# The same cue words in everyday use: they must not combine into a crisis.
COMBINED_LOOKALIKES = [
    "Goodbye and thanks for everything, we're moving to Ohio!",
    "I paid off my bill and won't be needing Friday's appointment, thanks.",
    "Is there a parking garage near you, or should I take the train tonight?",
    "My car is dead in your lot, can someone help me jump start it right now?",
    "Can I get a window seat for my infusion tomorrow?",
    "I cut my hair, and I burned 500 calories this morning!",
    "In my novel the heroine locks herself in the bathroom with a razor.",
    "Do you treat patients who took too many pills?",
    "I'm not going to jump off anything, I just hate the billing line.",
    "Yesterday I stood in line for an hour at the pharmacy.",
    "Sorry for the mess I left in the waiting room this morning.",
    "Someone followed me on Instagram pretending to be you, please help!",
    "My pills are ready at the pharmacy, I'll pick them up tonight.",
]


@pytest.mark.parametrize(("text", "classes"), COMBINED)
def test_weak_cues_combine_into_crisis(
    lexicon: Lexicon, text: str, classes: set[str] | None
) -> None:
    """Two weak cues of different classes make a crisis, reported as crisis.cue.* spans."""
    result = screen(text, lexicon)
    assert result.verdict == "crisis"
    assert result.show_crisis_resources
    cues = {r.category[len("crisis.cue.") :] for r in result.reasons if "cue." in r.category}
    assert all(0 <= r.start < r.end <= len(text) for r in result.reasons)
    if classes is not None:
        assert classes <= cues


@pytest.mark.parametrize("text", COMBINED_LOOKALIKES)
def test_cue_words_in_everyday_use_are_not_crisis(lexicon: Lexicon, text: str) -> None:
    """Pills, trains, goodbyes, bills and windows in ordinary messages stay out of crisis."""
    assert screen(text, lexicon).verdict != "crisis"


def test_a_single_weak_cue_is_not_crisis(lexicon: Lexicon) -> None:
    """One cue, however telling, is not enough ("with a knife" alone)."""
    result = screen("Does your kitchen have a bread knife?", lexicon)
    assert result.verdict == "clean"


def test_offsets_point_into_the_original_text(lexicon: Lexicon) -> None:
    """Offsets are exact on the original text despite NFKC, curly quotes and zero-width chars."""
    text = "Ｈｉ\u200b!  I’m   on   Zoloft\u00a0and I have ＤＯＢ 03/14/1987"
    result = screen(text, lexicon)
    spans = {r.category: text[r.start : r.end] for r in result.reasons}
    assert spans["medication"] == "Zoloft"
    assert spans["dob"] == "ＤＯＢ 03/14/1987"


def test_screen_fields_takes_the_worst_verdict(lexicon: Lexicon) -> None:
    """screen_fields skips name/email/phone, ORs resources and keeps each reason's field."""
    result = screen_fields(
        {
            "name": "Hope Burns",
            "email": "a@b.example",
            "subject": "I want to die",
            "message": "I have asthma",
        },
        lexicon,
    )
    assert result.verdict == "crisis"
    assert {r.field for r in result.reasons} == {"subject", "message"}


def test_redact_masks_merged_spans() -> None:
    """redact masks each (merged) span of its field and leaves other fields alone."""
    reasons = [
        Reason("a", 0, 4),
        Reason("b", 2, 6),
        Reason("c", 7, 9),
        Reason("d", 0, 3, field="subject"),
    ]
    assert redact("abcdefghij", reasons) == "[removed]g[removed]j"


def test_redact_removes_medical_details(lexicon: Lexicon) -> None:
    """A redacted medical message no longer screens as medical."""
    text = "Please update my file. DOB 03/14/1987, member ID XJH442019887. Thanks"
    assert screen(redact(text, screen(text, lexicon).reasons), lexicon).verdict == "clean"


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        (
            "I was diagnosed with bipolar disorder last year and I take lithium 600 mg. "
            "Can I come in?",
            ("bipolar", "lithium", "600 mg"),
        ),
        ("Type 2 diabetic, metformin 500 mg twice a day. ok?", ("diabetic", "metformin", "500")),
        ("My wife has lupus and takes Plaquenil; DOB 02/11/1980.", ("lupus", "Plaquenil", "1980")),
    ],
)
def test_redaction_covers_every_health_span(
    lexicon: Lexicon, text: str, hidden: tuple[str, ...]
) -> None:
    """The reasons of a medical verdict cover every health detail, so redact() leaves none."""
    result = screen(text, lexicon)
    assert result.verdict == "medical"
    redacted = redact(text, result.reasons)
    assert not any(word in redacted for word in hidden)


@pytest.mark.parametrize(
    "text",
    [
        "the s*icidal thoughts are back",
        "k!lling myself is all I think about",
        "thinking about su1cide again",
    ],
)
def test_obfuscated_crisis_words(lexicon: Lexicon, text: str) -> None:
    """Masked spellings of crisis words are undone before matching, offsets unchanged."""
    result = screen(text, lexicon)
    assert result.verdict == "crisis"
    assert all(0 <= r.start < r.end <= len(text) for r in result.reasons)


def test_text_past_the_cap_is_reported(lexicon: Lexicon) -> None:
    """Text beyond the screened maximum is flagged as too_long (at least medical)."""
    result = screen("hello " * 12_000, lexicon)
    assert result.verdict == "medical"
    assert [r.category for r in result.reasons] == ["too_long"]


def test_crisis_is_found_in_a_later_window(lexicon: Lexicon) -> None:
    """Long text is screened in windows: a crisis far into it is found at the right offset."""
    text = "hello there. " * 1500 + "I want to die."
    result = screen(text, lexicon)
    assert result.verdict == "crisis"
    assert text[result.reasons[0].start : result.reasons[0].end] == "want to die"


def test_default_lexicon_dir_is_the_repo_config() -> None:
    """The default lexicon directory is config/screening beside the package."""
    assert default_lexicon_dir() == Path(__file__).resolve().parents[1] / "config" / "screening"


def _copy_lexicon(tmp_path: Path) -> Path:
    for source in default_lexicon_dir().iterdir():
        (tmp_path / source.name).write_bytes(source.read_bytes())
    return tmp_path


@pytest.mark.parametrize(
    ("file", "line"),
    [
        ("crisis.tsv", "passive\t(unbalanced phrase secretword\n"),
        ("crisis.tsv", "nonsense\tsecretword\n"),
        ("crisis_cues.tsv", "means3\tsecretword\n"),
        ("crisis_cues.tsv", "means2\t(secretword\n"),
        ("identifiers.tsv", "ssn\t(secretword\\d+)+\n"),
        ("linking.tsv", "secretword\n"),
    ],
)
def test_lexicon_errors_name_file_and_line_but_no_text(
    tmp_path: Path, file: str, line: str
) -> None:
    """LexiconError names the file and line and never contains the offending text."""
    directory = _copy_lexicon(tmp_path)
    with (directory / file).open("a", encoding="utf-8") as handle:
        handle.write(line)
    with pytest.raises(LexiconError) as caught:
        load_lexicon(directory)
    assert file in str(caught.value)
    assert "secretword" not in str(caught.value)


def test_missing_directory_is_a_lexicon_error(tmp_path: Path) -> None:
    """A missing lexicon directory raises LexiconError, a ValueError."""
    with pytest.raises(ValueError, match="not found"):
        load_lexicon(tmp_path / "absent")
