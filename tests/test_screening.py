"""Behaviour of relay.screening: the traps of docs/SCREENING.md, offsets, redaction, errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from relay.screening import (
    Lexicon,
    LexiconError,
    Reason,
    default_lexicon_dir,
    detect_language,
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

# Indirect crisis that no single phrase names: two weak cues of different classes combine.
COMBINED: list[tuple[str, set[str] | None]] = [
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


# The worst outcomes, and plain messages, must each come out right.
MUST = [
    ("I AM SUICIDAL AND I NEED HELP NOW", "crisis"),
    ("i am suicidal and i need help now", "crisis"),
    ("I'm suicidal and need help.", "crisis"),
    ("I want to kill myself tonight", "crisis"),
    ("Me corté otra vez anoche y no puedo parar", "crisis"),
    ("me corte otra vez anoche y no puedo parar", "crisis"),
    ("quiero morir", "crisis"),
    ("The link to the booking page is broken, I can't book an appointment", "clean"),
    ("What are your opening hours on Saturday?", "clean"),
    ("How much does a ketamine infusion cost?", "clean"),
    ("my mother has diabetes and takes metformin", "medical"),
]


@pytest.mark.parametrize(("text", "verdict"), MUST)
def test_must_cases(lexicon: Lexicon, text: str, verdict: str) -> None:
    """Direct crises (capitals, Spanish with or without accents), plain questions and plain
    disclosures get the right verdict, one by one."""
    result = screen(text, lexicon)
    assert result.verdict == verdict
    assert result.show_crisis_resources == (verdict == "crisis")


def _share_right(lexicon: Lexicon, cases: list[tuple[str, str]]) -> tuple[float, list[str]]:
    wrong = [text for text, verdict in cases if screen(text, lexicon).verdict != verdict]
    return 1 - len(wrong) / len(cases), wrong


# The traps of SCREENING.md, none of them in the training data: a check that the learned
# screen generalises to them, held to a floor per group rather than case by case (a
# retraining may trade one borderline case for another, so each floor sits about one case
# below the share at the last retraining; the figures that matter are the
# leave-one-writer-out ones in the README).
TRAP_GROUPS = {
    "idioms": ([(t, "clean") for t in IDIOMS], 0.8),
    "third party": ([(t, "medical") for t in THIRD_PARTY], 0.8),
    # A known weak spot of word-bag models: a negated disclosure ("I'm not on any
    # medications") is often stopped as medical. It costs a clean message, never a crisis.
    "negation": (NEGATION, 0.4),
    "general questions": ([(t, "clean") for t in GENERAL_QUESTIONS], 0.85),
    "nobody in particular": ([(t, "clean") for t in NOBODY_IN_PARTICULAR], 0.55),
    "still someone's": ([(t, "medical") for t in STILL_SOMEONES], 0.8),
    "collisions": ([(t, "clean") for t in COLLISIONS], 0.8),
    "crisis forms": ([(t, "crisis") for t in CRISIS], 0.8),
    "combined cues": ([(t, "crisis") for t, _ in COMBINED], 0.66),
}


@pytest.mark.parametrize("group", sorted(TRAP_GROUPS))
def test_traps_by_group(lexicon: Lexicon, group: str) -> None:
    """Each group of traps (idioms, third parties, negation, general questions, collisions,
    crisis forms...) is mostly classified right."""
    cases, floor = TRAP_GROUPS[group]
    share, wrong = _share_right(lexicon, cases)
    assert share >= floor, f"{group}: {share:.0%} right; wrong: {wrong}"


@pytest.mark.parametrize("text", CRISIS + [t for t, _ in COMBINED])
def test_every_crisis_form_at_least_shows_resources(lexicon: Lexicon, text: str) -> None:
    """A crisis the model is unsure about still shows the resources (crisis.possible)."""
    result = screen(text, lexicon)
    assert result.show_crisis_resources
    if result.verdict != "crisis":
        assert "crisis.possible" in {r.category for r in result.reasons}


LIGHT_TONE = ("{} lol", "{} jajaja", "not being morbid but {}", "{} \U0001f605", "jk {}",
              "asking for a friend: {}", "{} xd", "no es por ser dramática pero {}")  # fmt: skip


@pytest.mark.parametrize("text", CRISIS)
def test_a_laugh_or_a_minimiser_never_hides_a_crisis(lexicon: Lexicon, text: str) -> None:
    """Quiet crises are often written lightly ("lol", "not being morbid", "jajaja"); a
    crisis written so still shows the resources."""
    hidden = [t for t in (form.format(text) for form in LIGHT_TONE)
              if not screen(t, lexicon).show_crisis_resources]  # fmt: skip
    assert not hidden, f"{len(hidden)} light forms hid it"


def test_lookalikes_are_mostly_not_crisis(lexicon: Lexicon) -> None:
    """Topic questions, history, quotations, jokes and cue words in everyday use are, at
    least 80% of them, not sent as crisis (they may still show the resources gently).
    About one case below the share at the last retraining (26 of 31; 27 before the
    seventh session's looser crisis budget, which traded one of them for a crisis form)."""
    texts = [t for t, *_ in NOT_CRISIS] + COMBINED_LOOKALIKES + IDIOMS
    wrong = [t for t in texts if screen(t, lexicon).verdict == "crisis"]
    assert len(wrong) <= 0.2 * len(texts), wrong


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
        ("fecha de nacimiento 3 de marzo de 1985", "dob"),
    ],
)
def test_identifiers_count_alone(lexicon: Lexicon, text: str, category: str) -> None:
    """Identifiers and measurements make a message medical with no other health word."""
    result = screen(text, lexicon)
    assert result.verdict == "medical"
    assert category in {r.category for r in result.reasons}


def _at_lines(lexicon: Lexicon, *, crisis: float, possible: float, medical: float) -> Lexicon:
    """The shipped lexicon and network with the thresholds moved, so that a case does not
    hang on where a retraining puts the lines."""
    lines = {"crisis": crisis, "crisis_possible": possible, "medical": medical}
    return replace(lexicon, model=replace(lexicon.model, thresholds=lines))


def test_a_soft_crisis_shows_resources_and_flags_it(lexicon: Lexicon) -> None:
    """In the soft zone (here every score: the crisis line moved above them all, so the
    case does not hang on where a retraining puts the lines): resources shown, a
    crisis.possible reason for staff, and the verdict the disclosure model gives; a
    crisis said outright in the lexicon's words is still a crisis."""
    lines = {**lexicon.model.thresholds, "crisis": 50.0, "crisis_possible": -50.0}
    soft = replace(lexicon, model=replace(lexicon.model, thresholds=lines))
    for text in KNOWN_SOFT:
        result = screen(text, soft)
        assert result.verdict != "crisis" and result.show_crisis_resources, text
        assert "crisis.possible" in {r.category for r in result.reasons}, text
    assert screen("I can't do this anymore, I want to die", soft).verdict == "crisis"


# Messages of the kind near the crisis line, with no crisis said in the lexicon's words.
KNOWN_SOFT = [
    "hungover and I took 4 Tylenol PM last night",
    "I'm so tired of everything lately",
    "I haven't slept in three days and I feel numb",
    "Everything feels pointless lately, can someone call me?",
]


def test_every_verdict_but_clean_has_a_reason(lexicon: Lexicon) -> None:
    """A medical or crisis verdict always names at least one span of the text."""
    for text in [*CRISIS, *THIRD_PARTY, *STILL_SOMEONES, *(t for t, _ in COMBINED)]:
        result = screen(text, lexicon)
        if result.verdict != "clean":
            assert result.reasons, text
            assert all(0 <= r.start < r.end <= len(text) for r in result.reasons)


def test_reasons_are_the_words_that_weighed(lexicon: Lexicon) -> None:
    """The reasons of a crisis point at its crisis words, not at greetings."""
    text = "Hello team. I want to kill myself tonight."
    result = screen(text, lexicon)
    shown = " ".join(text[r.start : r.end].lower() for r in result.reasons)
    assert "kill" in shown or "myself" in shown
    assert "hello" not in shown


def test_offsets_point_into_the_original_text(lexicon: Lexicon) -> None:
    """Offsets are exact on the original text despite NFKC, curly quotes and zero-width chars."""
    text = "Ｈｉ\u200b!  I’m   on   Zoloft\u00a0and I have ＤＯＢ 03/14/1987"
    result = screen(text, lexicon)
    spans = {r.category: text[r.start : r.end] for r in result.reasons}
    assert result.verdict == "medical"
    assert spans["dob"] == "ＤＯＢ 03/14/1987"
    assert "Zoloft" in [text[r.start : r.end] for r in result.reasons]


def test_accented_and_fullwidth_words_map_back_exactly(lexicon: Lexicon) -> None:
    """A reason on a word with accents or fullwidth letters spans exactly that word."""
    text = "Ｑｕｉｅｒｏ ｍｏｒｉｒ, ya no aguanto más y me corté anoche"
    result = screen(text, lexicon)
    assert result.verdict == "crisis"
    for r in result.reasons:
        piece = text[r.start : r.end]
        assert piece == piece.strip() and piece


def test_screen_fields_takes_the_worst_verdict(lexicon: Lexicon) -> None:
    """screen_fields skips name/email/phone, ORs resources and keeps each reason's field."""
    result = screen_fields(
        {
            "name": "Hope Burns",
            "email": "a@b.example",
            "subject": "I want to die",
            "message": "I have asthma and use an albuterol inhaler",
        },
        lexicon,
    )
    assert result.verdict == "crisis"
    assert {r.field for r in result.reasons} == {"subject", "message"}


def test_language_is_reported(lexicon: Lexicon) -> None:
    """The screening names the language the text was written in."""
    assert screen("¿Cuál es el horario de la clínica? Gracias", lexicon).language == "es"
    assert screen("What are your hours? Thanks", lexicon).language == "en"
    assert detect_language("Hola, quisiera saber el precio de la infusión") == "es"


def test_redact_masks_merged_spans() -> None:
    """redact masks each (merged) span of its field and leaves other fields alone."""
    reasons = [
        Reason("a", 0, 4),
        Reason("b", 2, 6),
        Reason("c", 7, 9),
        Reason("d", 0, 3, field="subject"),
    ]
    assert redact("abcdefghij", reasons) == "[removed]g[removed]j"


def test_redact_removes_identifiers(lexicon: Lexicon) -> None:
    """A message made medical by identifiers alone is clean once they are redacted."""
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
def test_redaction_covers_medicines_doses_and_identifiers(
    lexicon: Lexicon, text: str, hidden: tuple[str, ...]
) -> None:
    """The reasons of a medical verdict cover every condition, medicine, dose and
    identifier named, so redact() leaves none."""
    result = screen(text, lexicon)
    assert result.verdict == "medical"
    redacted = redact(text, result.reasons)
    assert not any(word in redacted for word in hidden)


def test_text_past_the_cap_is_reported(lexicon: Lexicon) -> None:
    """Text beyond the screened maximum is flagged as too_long (at least medical)."""
    result = screen("hello " * 12_000, lexicon)
    assert result.verdict == "medical"
    assert [r.category for r in result.reasons] == ["too_long"]


def test_crisis_far_into_a_long_text_is_found(lexicon: Lexicon) -> None:
    """A crisis at the end of a long forwarded thread is found, at the right offset."""
    text = "Forwarding the schedule below. " * 300 + "\n\nI want to kill myself tonight."
    result = screen(text, lexicon)
    assert result.verdict == "crisis"
    assert all(r.start >= len(text) - 40 for r in result.reasons)


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
        ("crisis.tsv", "Nonsense Kind\tsecretword\n"),
        ("crisis_cues.tsv", "means2\t(secretword\n"),
        ("crisis.tsv", "passive\t{undefined} secretword\n"),
        ("identifiers.tsv", "ssn\t(secretword\\d+)+\n"),
        ("identifiers.tsv", "ssn\t(secretword\n"),
        ("linking.tsv", "secretword\n"),
        ("language_words.tsv", "fr\tsecretword\n"),
        # a choice that folds to no word could never match
        ("idioms.tsv", "resources\tsecretword (lol|\u2192)\n"),
        ("crisis.tsv", "passive\tsecretword (and|&) more\n"),
        # a gap is an item of its own: inside a choice it would silently be dropped
        ("crisis_context.tsv", "history\tsecretword (ago|... later)\n"),
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


def _kinds(lexicon: Lexicon, text: str) -> set[str]:
    """The lexicon kinds of a lower-case ASCII text (its words and adjacent pairs)."""
    tokens = text.split()
    pairs = {f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)}
    return lexicon.index.kinds(set(tokens), pairs)


@pytest.mark.parametrize(
    ("text", "history"),
    [
        ("i attempted suicide in 2015", True),
        ("i wanted to kill myself when i was 15", True),
        ("i wanted to kill myself when i was younger", True),
        ("i am 5 years sober", True),
        ("i took pills 3 months ago", True),
        # "in <year>" once read as "in" alone: every crisis with an "in" was history
        ("i want to kill myself in my room", False),
        ("i cut myself in the bathroom", False),
        ("i am in 15 minutes from the bridge", False),
    ],
)
def test_year_and_number_stand_for_digits(lexicon: Lexicon, text: str, history: bool) -> None:
    """<year> and <number> in a lexicon phrase match a year or a number as a word, never
    the words around them alone."""
    assert ("ctx.history" in _kinds(lexicon, text)) is history


def test_model_file_errors_name_the_file_but_no_text(tmp_path: Path) -> None:
    """A malformed or incomplete model file raises LexiconError naming the file and line,
    never a key of it; so does a file that is not text or a broken gzip stream."""
    bad = tmp_path / "model.tsv"
    head = "@hidden\t2\n@bias\t0\t0\n"
    bad.write_text(head + "w\tsecretword\tnot-a-number\t1\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="model.tsv:3") as caught:
        load_lexicon(model=bad)
    assert "secretword" not in str(caught.value)
    bad.write_text(head + "w\tsecretword\t1\t1\t1\n", encoding="utf-8")  # one weight too many
    with pytest.raises(LexiconError, match="model.tsv:3"):
        load_lexicon(model=bad)
    bad.write_text(head + "w\tword\t1\t1\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="thresholds"):
        load_lexicon(model=bad)
    bad.write_bytes(b"\x1f\x8b\x08\x00broken")
    with pytest.raises(LexiconError, match="cannot be read"):
        load_lexicon(model=bad)


def test_missing_directory_is_a_lexicon_error(tmp_path: Path) -> None:
    """A missing lexicon directory raises LexiconError, a ValueError."""
    with pytest.raises(ValueError, match="not found"):
        load_lexicon(tmp_path / "absent")


# Ordinary words that once, each sent alone, read as a crisis (a model whose meaning
# input gave one word a whole message's weight: 92 of the 5,925 commonest English and
# Spanish words): a visitor's one-word test post or slip must not page the on-call.
ORDINARY_ALONE = (
    "than think own without enough everything least myself self thinking whatever "
    "cannot decided entire deep beyond meant seriously imagine feels holy purpose truly "
    "obviously extremely apart honestly wise themselves itself ourselves herself himself "
    "todo sin sentido pensar propia ellas sola seria"
).split()


def test_one_ordinary_word_alone_is_never_a_crisis(lexicon: Lexicon) -> None:
    """Each stopword and each word above, sent alone (and in capitals), is not a crisis."""
    stop = default_lexicon_dir() / "stopwords.txt"
    words = [w for line in stop.read_text(encoding="utf-8").splitlines()
             if not line.startswith("#") for w in line.split()]  # fmt: skip
    assert len(words) > 100
    alarms = [
        w for w in words + ORDINARY_ALONE for text in (w, w.upper())
        if screen(text, lexicon).verdict == "crisis"
    ]  # fmt: skip
    assert alarms == []


def test_brief_text_over_the_crisis_line_is_only_a_possible_crisis(lexicon: Lexicon) -> None:
    """With the crisis line under every score, text of three different words or fewer gets
    the resources and the flag (possible crisis) but no crisis verdict from its score
    alone; said outright in the lexicon's words it is a crisis, with a crisis word of the
    lexicon over the line too (danger now: "mom overdosed"), and a longer text is."""
    low = _at_lines(lexicon, crisis=-50.0, possible=-60.0, medical=50.0)
    for text in ("not", "ya", "hello " * 500, "stop calling me"):
        result = screen(text, low)
        assert (result.verdict, result.show_crisis_resources) == ("clean", True), text[:20]
    for text in ("want to die", "quiero morirme", "kms", "mom overdosed"):
        assert screen(text, low).verdict == "crisis", text
    assert screen("please call me back today", low).verdict == "crisis"


def test_brief_text_in_the_soft_zone_alone_is_no_crisis_signal_and_not_medical(
    lexicon: Lexicon,
) -> None:
    """Scores of three words or fewer sit near the network's bias. With the crisis line
    over every score and the soft zone and the medical line under them all, the values of
    a site's own select fields ("no", "Other", "Mañana") show no resources (they would
    flag every post that has them), and "ok bye" or "never mind" are not medical details;
    a health word or an identifier still makes brief text medical, a crisis word of the
    lexicon or a bare plea ("help me") still shows the resources."""
    low = _at_lines(lexicon, crisis=50.0, possible=-60.0, medical=-60.0)
    selects = ("no", "Other", "Mañana", "ok bye", "never mind", "x", "Dr. Smith", "Help", "SOS")
    for text in (*selects, "Ayuda", "help with billing"):
        result = screen(text, low)
        assert (result.verdict, result.show_crisis_resources) == ("clean", False), text
    for text in ("my knee hurts", "tengo gripe", "diabetes", "MRN 5502981"):
        assert screen(text, low).verdict == "medical", text
    pleas = ("help me", "HELP ME PLEASE", "please help", "ayúdenme", "socorro", "necesito ayuda")
    for text in ("kms", "quiero morirme", "me quiero suicidar", *pleas):
        assert screen(text, low).show_crisis_resources, text
    assert screen("could you call me back about the bill", low).show_crisis_resources


def test_a_bare_plea_always_shows_the_resources(lexicon: Lexicon) -> None:
    """A plea ("help me", "socorro") typed alone shows the resources (and flags the message)
    whatever the network scores it, in English and in Spanish, in capitals or without
    accents; a site's own select values ("Help", "Ayuda", "SOS") and brief requests
    for help with something do not."""
    high = _at_lines(lexicon, crisis=50.0, possible=50.0, medical=50.0)
    pleas = ("help me", "HELP ME", "Please help!", "ayúdenme", "AYUDAME", "socorro", "auxilio")
    for text in (*pleas, "necesito ayuda", "ayuda por favor"):
        assert screen(text, high).show_crisis_resources, text
    # the plea itself is the reason staff see, though the network weighed it low here
    for text, span in (
        ("help me", "help me"),
        ("Please help!", "Please help"),
        ("socorro", "socorro"),
    ):
        reasons = screen(text, high).reasons
        assert [text[r.start : r.end] for r in reasons] == [span], text
        assert [r.category for r in reasons] == ["crisis.possible"], text
    for text in ("Help", "Ayuda", "SOS", "help with billing", "ayuda con mi cita"):
        assert not screen(text, high).show_crisis_resources, text


STATED = (
    "Kind of funny timing but I am actively suicidal and my therapist moved away. Intakes?",
    "lol im literally suicidal rn, do u have openings tmrw",
    "I've been having suicidal thoughts since Monday, is there a same-day slot?",
    "I have constant suicidal thoughts, what does intake look like",
    "Hola, ando medio suicida jaja, tienen cita hoy?",
    "Me siento suicida y no sé qué hacer",
    "Tengo ideas suicidas desde hace una semana, ¿cuánto cuesta la consulta?",
    "SIGO TENIENDO PENSAMIENTOS SUICIDAS. ME PUEDEN LLAMAR?",
    "I'm suicidal and I don't have anyone to talk to",
    "I'm suicidal. I don't think I can go on",
)
NOT_STATED = (
    "Why does the nurse always ask whether I am having suicidal thoughts before a drip?",
    "Is there a number to call if I am having thoughts of suicide after hours?",
    "No tengo ideas suicidas. ¿La ketamina ayuda con las pesadillas?",
    "I do not think I am suicidal, just exhausted",
    "I don't think I'm suicidal, just tired",
    "I'm not sure I'm suicidal but something is wrong",
    "I'm not suicidal, I just want help sleeping",
    "Do you treat people who feel suicidal? I'm a student writing a paper.",
    "Si tengo ideas suicidas, ¿a quién llamo?",
    "I have a question: do people having suicidal thoughts qualify?",
    "I'm a nurse applying for the RN role; I have experience with actively suicidal patients.",
)


def test_a_crisis_stated_in_the_first_person_is_a_crisis_whatever_the_score(
    lexicon: Lexicon,
) -> None:
    """ "I'm actively suicidal" or "tengo ideas suicidas" is a crisis even when the network
    scores it under every line (a light tone once put one far below the soft zone, and
    it was refused as medical), with its crisis word as the reason. Not when negated,
    put as a condition ("if I'm", "whether I'm", "si tengo") or said of other people."""
    high = _at_lines(lexicon, crisis=50.0, possible=50.0, medical=50.0)
    for text in STATED:
        result = screen(text, high)
        assert (result.verdict, result.show_crisis_resources) == ("crisis", True), text
        words = {text[r.start : r.end].lower() for r in result.reasons}
        assert words and words <= {"suicidal", "suicida", "suicidas"}, text
        assert {r.category for r in result.reasons} == {"crisis"}, text
    for text in NOT_STATED:
        assert screen(text, high).verdict != "crisis", text


def test_the_first_person_rule_reads_its_words_from_the_lexicon(
    lexicon: Lexicon, tmp_path: Path
) -> None:
    """What cancels the rule and what it names as the reason are crisis.tsv's
    ``stated_key`` and ``stated_word`` lines, not words in code: with "m" gone from the
    keys, "I don't think I'm suicidal" (whose negation reaches "m") is stated; with
    "suicidal" gone from the words, the reasons are the words the network weighed."""
    directory = _copy_lexicon(tmp_path)
    crisis = directory / "crisis.tsv"
    lines = crisis.read_text(encoding="utf-8").splitlines()
    keys = [i for i, line in enumerate(lines) if line.startswith("stated_key\t")]
    words = [i for i, line in enumerate(lines) if line.startswith("stated_word\t")]
    assert len(keys) == len(words) == 1
    lines[keys[0]] = lines[keys[0]].replace("(m|", "(")
    lines[words[0]] = lines[words[0]].replace("(suicidal|", "(")
    crisis.write_text("\n".join(lines) + "\n", encoding="utf-8")
    edited = load_lexicon(directory)
    high = _at_lines(lexicon, crisis=50.0, possible=50.0, medical=50.0)
    edited_high = _at_lines(edited, crisis=50.0, possible=50.0, medical=50.0)
    negated = "I don't think I'm suicidal, just tired"
    assert screen(negated, high).verdict != "crisis"
    assert screen(negated, edited_high).verdict == "crisis"
    stated = "I'm suicidal and I don't have anyone to talk to"

    def named(lex: Lexicon) -> set[str]:
        return {stated[r.start : r.end].lower() for r in screen(stated, lex).reasons}

    assert named(high) == {"suicidal"}
    assert named(edited_high) != {"suicidal"}


EMOJI_CRISES = (
    "\U0001f52b tonight",
    "\U0001faa2 im done",
    "\U0001f48a\U0001f48a\U0001f48a goodbye everyone",
    "thinking about the \U0001f309 tonight",
    "\U0001f52a\U0001fa78 again",
)
EMOJI_CLEAN = (
    "love the new site \U0001f602\U0001f602",
    "can i get a \U0001f48a drip friday? \U0001f602",
    "the parking is killing me \U0001f480",
    "thank you!! \U0001f64f\U0001f3fd\u2764\ufe0f",
)


def test_a_pictograph_is_read_as_a_word(lexicon: Lexicon) -> None:
    """Each emoji is a token of its own (a gun, a rope, pills, a bridge, a knife are the
    crisis cues' means, as the words are), so a crisis told partly in emoji shows the
    resources, where the emoji were once invisible; a laugh, a skull of an idiom or thanks
    in emoji stay clean. Skin tones, joiners and variation selectors change nothing."""
    for text in EMOJI_CRISES:
        assert screen(text, lexicon).show_crisis_resources, ascii(text)
    for text in EMOJI_CLEAN:
        result = screen(text, lexicon)
        assert (result.verdict, result.show_crisis_resources) == ("clean", False), ascii(text)
    plain = screen("ok \U0001f9cd\U0001f309 tonight", lexicon)
    joined = screen("ok \U0001f9cd\U0001f3fd\u200d\u2640\ufe0f\U0001f309\ufe0f tonight", lexicon)
    assert (plain.verdict, plain.show_crisis_resources) == (
        joined.verdict,
        joined.show_crisis_resources,
    )
    assert [r.category for r in plain.reasons] == [r.category for r in joined.reasons]


def test_text_without_words_is_never_a_crisis_signal(lexicon: Lexicon) -> None:
    """With both crisis lines under every score, text with no word ("[]", punctuation,
    arrows, an empty field) is neither a crisis nor shown the resources: its score is only
    the network's bias (a retraining once put that bias in the soft zone, and a script's
    "spans": "[]" field showed the crisis resources)."""
    low = _at_lines(lexicon, crisis=-50.0, possible=-60.0, medical=50.0)
    for text in ("[]", "", "!!!", "...", "\u2192\u2192", " \n\t "):
        result = screen(text, low)
        assert (result.verdict, result.show_crisis_resources) == ("clean", False), repr(text)
