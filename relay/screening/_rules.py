"""The three screening passes over normalised text: crisis, identifiers, disclosure.

Offsets here are in the normalised text; relay.screening maps them back to the original.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from relay.screening._lexicon import (
    AFTER,
    CARE,
    CONDITION,
    FRAME,
    MEDICATION,
    NEG,
    PITCH,
    POSSESSIVE,
    RELATION,
    SELF,
    SERVICE,
    STRONG,
    SUBJECT,
    SYMPTOM,
    TERM_KINDS,
    TOPIC,
    VERB,
    Lexicon,
    Node,
)
from relay.screening._text import Clause, Token, clauses, tokenise

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

ANCHORS = frozenset({SUBJECT, POSSESSIVE, RELATION})
DEFAULT_KINDS = frozenset({CONDITION, SYMPTOM, MEDICATION})
# Windows, in words. Small on purpose: a term must be tied to a person in the same breath.
NEG_WINDOW = 4  # "I'm not on any meds"
NEAR = 3  # "my meds", "I'm type 1 diabetic"
SYMPTOM_WINDOW = 6  # "every time I stand up the room spins"
VERB_WINDOW = 6  # "I have had severe depression"
LINK_WINDOW = 8  # how far back to look at all
AFTER_WINDOW = 5  # "the chemo is making it hard for me"
AFTER_PERSON = frozenset({"me", "myself", "him", "himself", "herself", "my", "mine", "mi"})
ELLIPSIS_VERBS = frozenset({"does", "do", "has", "did", "is", "too", "tiene"})
GENERIC_AFTER = frozenset(
    {
        "patients",
        "patient",
        "clients",
        "people",
        "teens",
        "individuals",
        "veterans",
        "youth",
        "care",
        "pacientes",
        "personas",
    }
)
# Nouns that make the term before them a topic: "anxiety awareness", "PTSD research".
TOPIC_AFTER = GENERIC_AFTER | frozenset(
    {
        "awareness",
        "research",
        "studies",
        "study",
        "statistics",
        "rates",
        "month",
        "week",
        "day",
        "stigma",
        "advocacy",
        "education",
        "webinar",
        "conference",
        "program",
        "programs",
        "protocol",
        "protocols",
        "clinic",
        "clinics",
        "market",
        "industry",
        "sufferers",
        "community",
        "circle",
        "circles",
        "group",
        "groups",
        "support",
        "resources",
        "services",
        "training",
        "workshop",
        "workshops",
    }
)
# Nouns that make the term before them a topic even beside a person: "I'm organising an anxiety
# awareness walk", "I'm a diabetes educator". Narrower than TOPIC_AFTER: "I'm a cancer patient"
# and "I'm in an addiction program" still disclose.
TOPIC_NOUNS = frozenset(
    {
        "awareness",
        "research",
        "researcher",
        "researchers",
        "studies",
        "study",
        "statistics",
        "month",
        "week",
        "stigma",
        "advocacy",
        "advocate",
        "advocates",
        "education",
        "educator",
        "educators",
        "webinar",
        "conference",
        "walk",
        "fundraiser",
        "gala",
        "5k",
        "campaign",
        "app",
        "apps",
        "tracker",
        "tracking",
        "podcast",
        "episode",
        "article",
        "segment",
        "documentary",
        "curriculum",
        "workshop",
        "seminar",
        "nonprofit",
        "foundation",
        "charity",
        "ministry",
        "market",
        "industry",
        "policy",
        "policies",
    }
)
# A care word that names the sender's job or an institution, not their care: "I'm a therapist",
# "she works at a hospital", "the hospital's ethics committee".
SEEING = frozenset({"seeing", "saw", "see", "sees", "seen", "visited", "visiting", "with", "by"})
GOING = frozenset({"went", "go", "goes", "going", "gone", "been", "referred", "sent"})
WORK_VERBS = frozenset(
    {"work", "works", "worked", "working", "volunteer", "volunteers", "employed"}
)
INSTITUTION_AFTER = frozenset(
    {
        "committee",
        "board",
        "administration",
        "administrator",
        "administrators",
        "leadership",
        "system",
        "network",
        "ethics",
        "foundation",
        "chaplain",
        "volunteer",
        "volunteers",
        "association",
        "setting",
        "settings",
        "policy",
        "policies",
        "partners",
        "staff",
        "employees",
        "workers",
        "colleagues",
        "peers",
        "practice",
        "practices",
        "group",
        "groups",
        "referrals",
        "directory",
        "office",
        "offices",
        "department",
        "program",
        "programs",
        "students",
        "residency",
        "internship",
        "license",
        "licensed",
    }
)
# "on" links a medication only right after a person or a form of "be": "I'm on", "she's been on",
# "my son is on". "a talk on", "information on", "your policy on" tie nothing to anybody.
ON_AFTER = frozenset(
    {
        "i'm",
        "im",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "still",
        "currently",
        "now",
        "also",
        "already",
        "both",
        "stay",
        "stayed",
        "staying",
        "back",
        "go",
        "went",
        "going",
        "gone",
        "put",
        "kept",
        "keep",
        "remain",
        "remained",
        "started",
        "i",
        "he",
        "she",
        "they",
        "we",
        "me",
        "him",
        "her",
        "them",
        "you're",
        "youre",
    }
)
# A plural relation names a group, not a person ("students struggling with anxiety", "teens
# with depression"), unless it is somebody's ("my kids both have strep"). The people of one's
# work are a group even then ("some of my clients have TRD").
WORK_GROUPS = frozenset(
    {"clients", "patients", "students", "employees", "coworkers", "co-workers", "colleagues"}
)
GROUP_OWNERS = frozenset(
    {"my", "his", "her", "our", "their", "both", "two", "three", "have", "has", "mis", "sus"}
)
SINGULAR_S = frozenset({"boss"})
OWNERS = frozenset({"my", "his", "her", "mi", "su"})
OWNABLE_PEOPLE = frozenset({"kids", "children", "teens", "teenagers", "boys", "girls", "twins"})
# A role word with nothing before it that picks someone out is a modifier, not a person:
# "teen mental health", "employee burnout", "patient safety", "student wellness". Kin words
# are left out: "Mom has diabetes" uses one as a name.
ROLE_WORDS = frozenset(
    {
        "teen",
        "teenager",
        "child",
        "kid",
        "baby",
        "toddler",
        "student",
        "client",
        "patient",
        "employee",
        "coworker",
        "co-worker",
        "colleague",
        "caregiver",
        "parent",
        "partner",
        "spouse",
        "friend",
        "neighbor",
        "roommate",
    }
)
SUBJECT_VERBS = frozenset({"is", "was", "has", "had", "says", "said", "keeps", "can't", "cant"})
PICKS_OUT = frozenset(
    {
        "my",
        "his",
        "her",
        "our",
        "their",
        "your",
        "a",
        "an",
        "the",
        "this",
        "that",
        "one",
        "mi",
        "su",
        "old",
        "new",
        "former",
        "best",
        "younger",
        "older",
        "little",
        "oldest",
        "youngest",
        "elderly",
    }
)
MEDICAL_SERVICES = frozenset(
    {"ketamine", "ketamina", "esketamine", "esketamina", "spravato", "infusion", "infusions"}
)
QUESTION_OPENERS = frozenset(
    "do does did can could is are was will would should what whats how when where which who "
    "any anything any'one anyone ok okay safe puedo pueden es hay que como cual".split()
)
GENERIC_DETERMINERS = frozenset({"a", "an", "any", "every", "each", "un", "una", "cualquier"})
HISTORY_POSSESSIVE = frozenset({"my", "his", "her", "mi", "su", "last", "previous", "prior"})
HISTORY_SUBJECT = frozenset(
    {"i", "i've", "ive", "i'd", "he", "she", "he's", "she's", "we", "we've", "they", "yo", "hice"}
)
HISTORY_VERBS = frozenset(
    {
        "did",
        "had",
        "done",
        "received",
        "completed",
        "finished",
        "tried",
        "started",
        "underwent",
        "was",
        "were",
        "been",
        "getting",
        "doing",
        "hice",
        "recibi",
        "tuve",
    }
)
FIRST_PERSON = frozenset({"i", "i'm", "im", "me", "my", "myself", "us", "we"})
CRISIS_LEVEL = frozenset({"passive", "active", "plan", "self_harm", "danger"})
_CATEGORY = {"procedure": "procedure", "care": "care", SELF: "disclosure"}
LINKED, NEGATED, GENERIC, UNLINKED = range(4)


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str
    t0: int  # first token
    t1: int  # one past the last token
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Found:
    category: str
    start: int
    end: int


def _child(node: Node, key: str) -> Node | None:
    found = node.children.get(key)
    if (
        found is None and len(key) > 3 and key.endswith("s")
    ):  # plurals: "migraines"; not "is" -> "i"
        found = node.children.get(key[:-1]) or (
            node.children.get(key[:-2]) if key.endswith("es") else None
        )
    return found


def scan(tokens: list[Token], lexicon: Lexicon) -> list[Hit]:
    """Greedy longest-match lookup of every lexicon phrase through the word trie."""
    hits: list[Hit] = []
    root = lexicon.entries
    i, n = 0, len(tokens)
    while i < n:
        node: Node | None = root
        best, kind = 0, ""
        j = i
        while j < n and node is not None:
            node = _child(node, tokens[j].key)
            j += 1
            if node is not None and node.kind:
                best, kind = j - i, node.kind
        if best:
            hits.append(Hit(kind, i, i + best, tokens[i].start, tokens[i + best - 1].end))
            i += best
        else:
            i += 1
    return hits


@dataclass(slots=True)
class Text:
    """A normalised text with everything the passes share."""

    norm: str
    masked: str  # idioms blanked out
    tokens: list[Token]
    starts: list[int]  # token start offsets, for bisect
    clauses: list[Clause]
    clause_starts: list[int]
    hits: list[Hit]
    idioms: list[tuple[str, int, int]]
    context: list[tuple[str, int, int]]

    def clause_of(self, position: int) -> int:
        return max(0, bisect_right(self.clause_starts, position) - 1)

    def token_at(self, position: int) -> int:
        return max(0, bisect_right(self.starts, position) - 1)


def prepare(norm: str, lexicon: Lexicon) -> Text:
    words = [(m.group().replace("'", ""), m.start()) for m in _WORD.finditer(norm)]
    idioms = lexicon.idioms.find(norm, words)
    masked = norm
    for action, start, end in idioms:
        if action == "keep":
            continue  # a literal use that only looks like an idiom ("my back is killing me")
        masked = masked[:start] + " " * (end - start) + masked[end:]
    tokens = tokenise(masked)
    parts = clauses(masked, lexicon.terminators, tokens)
    context = lexicon.context.find(norm, words)
    return Text(
        norm,
        masked,
        tokens,
        [t.start for t in tokens],
        parts,
        [c.start for c in parts],
        scan(tokens, lexicon),
        idioms,
        context,
    )


# --- crisis ---------------------------------------------------------------------------------


def crisis(text: Text, lexicon: Lexicon) -> list[Found]:
    found: list[Found] = []
    words = [(m.group().replace("'", ""), m.start()) for m in _WORD.finditer(text.norm)]
    for group, start, end in lexicon.crisis.find(text.norm, words):
        if any(
            s < end and start < e and not (start <= s and e <= end and e - s < end - start)
            for action, s, e in text.idioms
            if action != "keep"
        ):
            continue  # an idiom ("dying to") overlaps the phrase, or is it, without being inside
        category = _crisis_category(text, group, start, end)
        # A denied crisis phrase ("no thoughts of hurting myself") is kept as a marker
        # with no verdict of its own, so that the word model does not overrule the denial.
        found.append(Found("crisis." + (category or "denied"), start, end))
    found += [
        Found("crisis.hyperbole", s, e) for action, s, e in text.idioms if action == "resources"
    ]
    if not any(f.category[7:] in CRISIS_LEVEL for f in found):
        found += combined(text, lexicon)
    return found


# --- crisis, second detector: weak cues that combine ----------------------------------------
# A phrase list cannot enumerate indirect crisis ("locked herself in the bathroom with a razor",
# "I already took 20 of my Tylenol"). crisis_cues.tsv holds weak cues by class (death, means,
# intent, final, burden, danger, body, urgent, selfharm) with a weight of 1 or 2; two cues of
# different classes close together, one telling (weight 2) and one of a core class, make a crisis.

CUE_CORE = frozenset({"death", "means", "danger", "body", "selfharm"})
# A bodily emergency is about now: "passed out at the gym yesterday" is a history, not a crisis,
# so body cues combine with urgency, means, threats and self-harm, not with time or plans.
CUE_NEVER = frozenset(
    {frozenset({"body", "intent"}), frozenset({"body", "final"}), frozenset({"body", "burden"})}
)
CUE_SPAN = 30  # words between two cues that combine
CUE_NEAR = 20  # ... or, across one whole sentence between them, this many words
_SENTENCE_END = re.compile(r"[.!?\n]+")


@dataclass(frozen=True, slots=True)
class Cue:
    kind: str  # the class, e.g. "means"
    weight: int
    start: int
    end: int
    sentence: int
    token: int


def cues(text: Text, lexicon: Lexicon) -> tuple[list[Cue], set[int], list[Found]]:
    """Cues that survive negation, topic, quotation and history checks; vetoed sentences;
    and "crisis.denied" markers where a cue was negated or a veto (fiction) was seen."""
    words = [(m.group().replace("'", ""), m.start()) for m in _WORD.finditer(text.masked)]
    matches = lexicon.cues.find(text.masked, words)
    if not matches:
        return [], set(), []
    sentence_starts = [0] + [m.end() for m in _SENTENCE_END.finditer(text.masked)]
    found: list[Cue] = []
    vetoed: set[int] = set()
    denied: list[Found] = []
    for group, start, end in matches:
        if group == "everyday":
            continue  # it only shadows a cue at the same word ("cut my hair")
        sentence = bisect_right(sentence_starts, start) - 1
        if group == "veto":
            vetoed.update((sentence - 1, sentence, sentence + 1))
            denied.append(Found("crisis.denied", start, end))
            continue
        category = _crisis_category(text, "cue", start, end)
        if category != "cue":
            if category is None:  # negated: "I'm not going to jump off anything"
                denied.append(Found("crisis.denied", start, end))
            continue  # negated, general, quoted or historical
        found.append(Cue(group[:-1], int(group[-1]), start, end, sentence, text.token_at(start)))
    return found, vetoed, denied


def _classes_combine(strong: Cue, other: Cue) -> bool:
    """Different classes; or two telling cues of one core class ("followed me home" and
    "trying to get into my house")."""
    if other.kind != strong.kind:
        return True
    return other.weight == 2 and strong.kind in CUE_CORE and other.start >= strong.end


def _near(one: Cue, two: Cue) -> bool:
    """In the same or the next sentence, or two short sentences apart, and close in words."""
    sentences, words = abs(one.sentence - two.sentence), abs(one.token - two.token)
    return words <= CUE_SPAN and (sentences <= 1 or (sentences == 2 and words <= CUE_NEAR))


def combined(text: Text, lexicon: Lexicon) -> list[Found]:
    found, vetoed, denied = cues(text, lexicon)
    fired: set[Cue] = set()
    for strong in found:
        if strong.weight < 2 or strong.sentence in vetoed:
            continue
        for other in found:
            if (
                _classes_combine(strong, other)
                and (strong.kind in CUE_CORE or other.kind in CUE_CORE)
                and frozenset({strong.kind, other.kind}) not in CUE_NEVER
                and _near(strong, other)
                and other.sentence not in vetoed
            ):
                fired.update((strong, other))
    # Cues that survived the filters but did not combine are kept as "crisis.lone.*":
    # no verdict of their own, but the word model needs one as corroboration.
    lone = [c for c in found if c not in fired and c.sentence not in vetoed]
    return (
        [Found("crisis.cue." + cue.kind, cue.start, cue.end) for cue in fired]
        + [Found("crisis.lone." + cue.kind, cue.start, cue.end) for cue in lone]
        + denied
    )


def _crisis_category(text: Text, category: str, start: int, end: int) -> str | None:
    clause = text.clauses[text.clause_of(start)]
    t0 = text.token_at(start)
    before = [h for h in text.hits if clause.start <= h.start and h.end <= start]
    if any(h.kind == NEG and t0 - h.t1 <= NEG_WINDOW for h in before):
        return None  # "no suicidal thoughts", "I'm not going to hurt myself"
    if category == "topic" or _is_topic(text, before, t0, clause, start, end):
        return "topic"
    # A past mark counts within the clause ("attempted in 2019"); a present one anywhere in the
    # sentence brings it back ("used to cut, but I started again").
    sentence_start, sentence_end = _sentence(text.norm, start)
    past = any(k == "history" and clause.start <= s and e <= clause.end for k, s, e in text.context)
    now = any(
        k == "current" and sentence_start <= s and e <= sentence_end for k, s, e in text.context
    )
    if category == "history":
        return "active" if now else "history"
    return "history" if past and not now else category


def _sentence(norm: str, position: int) -> tuple[int, int]:
    start = max(norm.rfind(mark, 0, position) for mark in ".!?\n") + 1
    ends = [i for i in (norm.find(mark, position) for mark in ".!?\n") if i >= 0]
    return start, min(ends, default=len(norm))


def _is_topic(text: Text, before: list[Hit], t0: int, clause: Clause, start: int, end: int) -> bool:
    """A service question, a cause or a quotation rather than someone's own crisis."""
    if any(
        kind == "exclusion" and s < clause.end and e > clause.start for kind, s, e in text.context
    ):
        return True
    personal = any(tok.key in FIRST_PERSON for tok in text.tokens[t0 : text.token_at(end - 1) + 1])
    for hit in reversed(before):
        if (
            personal
            or t0 - hit.t1 > LINK_WINDOW
            or (hit.kind in ANCHORS and not _generic(text, hit))
        ):
            break  # "someone is threatening to kill me" is not a general question
        if hit.kind == FRAME:
            return True  # "do you treat suicidal thoughts?", "can ketamine help with self-harm"
    following = text.tokens[text.token_at(end - 1) + 1 : text.token_at(end - 1) + 2]
    if (
        following
        and following[0].key in GENERIC_AFTER
        and text.tokens[text.token_at(end - 1)].end <= end
    ):
        return True  # "suicidal patients"
    return _in_quotation(text, start)


def _names_nobody(text: Text, hit: Hit) -> bool:
    """For disclosure: a generic relation, or a plural one that is nobody's in particular."""
    if _generic(text, hit):
        return True
    if hit.kind != RELATION:
        return False
    last = text.tokens[hit.t1 - 1].key
    if hit.t1 - hit.t0 == 1 and last in ROLE_WORDS:
        if hit.t0 and text.tokens[hit.t0 - 1].key in PICKS_OUT:
            return False
        # ... unless it is the subject of what follows: "kid gave me strep", "client is on lithium"
        following = text.tokens[hit.t1 : hit.t1 + 1]
        return not (
            (following and following[0].key in SUBJECT_VERBS)
            or any(h.t0 == hit.t1 and h.kind in (VERB, AFTER, STRONG) for h in text.hits)
        )
    if not last.endswith("s") or last in SINGULAR_S:
        return False
    if last in WORK_GROUPS:
        return True
    owners = {tok.key for tok in text.tokens[max(0, hit.t0 - 3) : hit.t0]}
    return not owners & GROUP_OWNERS


def _owned_people(text: Text, hit: Hit) -> bool:
    """ "kids" is a general-question word, but "my kids" and "two kids" are somebody's."""
    if hit.t1 - hit.t0 != 1 or text.tokens[hit.t0].key not in OWNABLE_PEOPLE:
        return False
    return hit.t0 > 0 and text.tokens[hit.t0 - 1].key in GROUP_OWNERS


def _occupation(text: Text, term: Hit) -> bool:
    """A care word naming a job or an institution: "I'm a therapist", "I work at a hospital",
    "our hospital's ethics committee"."""
    if term.kind != CARE:
        return False
    following = text.tokens[term.t1 : term.t1 + 1]
    if following and following[0].key in INSTITUTION_AFTER:
        return True
    keys = [tok.key for tok in text.tokens[max(0, term.t0 - 4) : term.t0]]
    if keys and keys[-1] in ("a", "an", "any"):
        # "I'm a therapist", "can I interview a psychiatrist?"; but "I'm seeing a psychiatrist",
        # "sessions with a therapist" and "I went to a cardiologist" are someone's care
        seen = len(keys) >= 2 and keys[-2] in SEEING
        went = len(keys) >= 3 and keys[-2] == "to" and keys[-3] in GOING
        return not (seen or went)
    return any(key in WORK_VERBS for key in keys)


def _topic_noun_after(text: Text, term: Hit) -> bool:
    """ "an anxiety awareness walk", "a PTSD researcher"; but "my depression research" is hers."""
    following = text.tokens[term.t1 : term.t1 + 1]
    if not following or following[0].key not in TOPIC_NOUNS:
        return False
    return not (term.t0 and text.tokens[term.t0 - 1].key in HISTORY_POSSESSIVE)


def _weak_on(text: Text, verb: Hit, before: list[Hit]) -> bool:
    """ "on" that follows no person and no form of "be": "a talk on", "your policy on"."""
    if text.tokens[verb.t0].key != "on" or verb.t1 - verb.t0 != 1:
        return False
    if verb.t0 == 0:
        return True
    if text.tokens[verb.t0 - 1].key in ON_AFTER:
        return False
    return not any(h.kind in ANCHORS and h.t1 == verb.t0 for h in before)


def _generic(text: Text, hit: Hit) -> bool:
    """ "a patient", "any client": a relation word that names nobody in particular."""
    return (
        hit.kind == RELATION and hit.t0 > 0 and text.tokens[hit.t0 - 1].key in GENERIC_DETERMINERS
    )


def _in_quotation(text: Text, start: int) -> bool:
    sentence_start, sentence_end = _sentence(text.norm, start)
    if text.norm.count('"', sentence_start, start) % 2 == 0:
        return False
    return any(
        kind == "quote" and sentence_start <= s and e <= sentence_end for kind, s, e in text.context
    )


# --- identifiers ----------------------------------------------------------------------------


def identifiers(text: Text, lexicon: Lexicon) -> tuple[list[Found], list[Hit]]:
    """Identifiers that count alone, and doses (which count only when tied to a person)."""
    found: list[Found] = []
    doses: list[Hit] = []
    for category, pattern in lexicon.identifiers:
        for match in pattern.finditer(text.norm):
            start, end = match.span()
            if category == "dose":
                doses.append(
                    Hit(MEDICATION, text.token_at(start), text.token_at(end - 1) + 1, start, end)
                )
            else:
                found.append(Found(category, start, end))
    return found, doses


# --- disclosure -----------------------------------------------------------------------------


def disclosure(text: Text, doses: list[Hit]) -> list[Found]:
    hits = sorted(text.hits + doses, key=lambda h: (h.start, -h.end))
    by_clause: dict[int, list[Hit]] = {}
    for hit in hits:
        by_clause.setdefault(text.clause_of(hit.start), []).append(hit)
    found: list[Found] = []
    previous_anchor = False
    # A pitch, job or press message speaks of products, not persons: no term counts unanchored.
    pitch = any(h.kind == PITCH for h in hits)
    for index, clause in enumerate(text.clauses):
        group = by_clause.get(index, [])
        inherits = clause.soft_start and previous_anchor
        first_token = text.token_at(clause.start) if text.tokens else 0
        if text.tokens and text.tokens[first_token].start < clause.start:
            first_token += 1
        for position, hit in enumerate(group):
            if hit.kind == SERVICE:
                if _treatment_history(text, hit, group[:position]):
                    found.append(Found("treatment", hit.start, hit.end))
                continue
            if hit.kind not in TERM_KINDS:
                continue
            status = _status(
                text, hit, group[:position], group[position + 1 :], inherits, first_token
            )
            if pitch and hit in doses:
                continue  # "250 mL bags" in a supplier's pitch
            if status == UNLINKED and not pitch:
                if hit in doses:
                    # "lithium 600 mg": a dose is as personal as the medicine beside it
                    if any(
                        f.category == "medication" and 0 <= hit.start - f.end <= 12 for f in found
                    ):
                        status = LINKED
                elif _by_default(text, hit, clause, group):
                    status = LINKED
            if status == LINKED:
                category = "dose" if hit in doses else _CATEGORY.get(hit.kind, hit.kind)
                found.append(Found(category, hit.start, hit.end))
        previous_anchor = any(h.kind in ANCHORS for h in group) or (inherits and not group)
    return found


def _status(
    text: Text, term: Hit, before: list[Hit], after: list[Hit], inherits: bool, first: int
) -> int:
    """Decide whether a health term is about a person (LINKED) or general, negated, unlinked."""
    owned = term.t0 > 0 and text.tokens[term.t0 - 1].key in OWNERS
    for hit in reversed(before):
        if term.t0 - hit.t1 > NEG_WINDOW or owned:
            break  # "won't refill my sertraline": what is someone's exists, negated or not
        if hit.kind == NEG:
            return LINKED if _ellipsis(text, term, after) else NEGATED
    if term.kind == SELF:
        return LINKED
    if _occupation(text, term) or _topic_noun_after(text, term):
        return GENERIC
    if _relative_clause(term, after):
        return LINKED
    verb_gap: int | None = None
    strong = anchor_seen = False
    clause_start_verb = False
    for hit in reversed(before):
        gap = term.t0 - hit.t1
        if gap > LINK_WINDOW:
            break
        if hit.kind == FRAME and _owned_people(text, hit):
            anchor_seen = True  # "my kids both have strep", "I have two kids with ADHD"
            if gap <= NEAR or (verb_gap is not None and verb_gap <= VERB_WINDOW):
                return LINKED
            continue
        if hit.kind == FRAME:
            # "your newsletter about anxiety made me realise...": a tie after the term still counts
            return LINKED if _tied_after(text, term, after, phrases_only=True) else GENERIC
        if hit.kind == TOPIC and gap <= 1 and not strong and verb_gap is None:
            # "signs of depression": the topic word takes the term's place; it is someone's
            # only if a person is tied to it ("I have signs of", "my son shows symptoms of")
            earlier = [h for h in before if h.t1 <= hit.t0]
            topic = Hit(term.kind, hit.t0, hit.t1, hit.start, hit.end)
            linked = _status(text, topic, earlier, after, inherits, first) == LINKED
            return LINKED if linked else GENERIC
        if hit.kind == STRONG:
            strong = True
        elif hit.kind == VERB and verb_gap is None:
            if hit.t0 <= first or not _weak_on(text, hit, before):  # "on Lexapro 20mg"
                verb_gap, clause_start_verb = gap, hit.t0 - first <= 1
        elif hit.kind in ANCHORS and _names_nobody(text, hit):
            return GENERIC  # "students struggling with anxiety", "teen depression"
        elif hit.kind in ANCHORS:
            anchor_seen = True
            near = gap <= NEAR or (term.kind == SYMPTOM and gap <= SYMPTOM_WINDOW)
            if near or (verb_gap is not None and verb_gap <= VERB_WINDOW):
                return LINKED
    if strong or (not anchor_seen and (inherits or clause_start_verb)):
        return LINKED
    return LINKED if _tied_after(text, term, after) else UNLINKED


def _tied_after(text: Text, term: Hit, after: list[Hit], *, phrases_only: bool = False) -> bool:
    """Words after the term that tie it to a person: "...isn't working", "...for me".
    After a general frame only the phrases count: "...to share with my book club" does not."""
    for hit in after:
        if hit.t0 - term.t1 > AFTER_WINDOW or hit.kind == FRAME:
            break
        if hit.kind == AFTER or (
            not phrases_only
            and hit.kind in (SUBJECT, POSSESSIVE)
            and text.tokens[hit.t0].key in AFTER_PERSON
        ):
            return True
    return False


def _relative_clause(term: Hit, after: list[Hit]) -> bool:
    """A person and a verb right after the term: "the lithium I'm on", "the Xanax she takes"."""
    return (
        len(after) >= 2
        and after[0].kind == SUBJECT
        and after[0].t0 - term.t1 <= 1
        and after[1].kind == VERB
        and after[1].t0 == after[0].t1
    )


def _treatment_history(text: Text, term: Hit, before: list[Hit]) -> bool:
    """A service term the sender or a named person has had: "my ketamine treatment",
    "I did 4 ketamine sessions", "she had an infusion last month". Prices and questions are not.
    """
    if text.tokens[term.t0].key not in MEDICAL_SERVICES:
        return False  # a wellness drip is not health information
    if term.t0 and text.tokens[term.t0 - 1].key in HISTORY_POSSESSIVE:
        return True  # "my ketamine treatment"
    for hit in reversed(before):
        if term.t0 - hit.t1 > NEG_WINDOW:
            break
        if hit.kind == NEG or hit.kind == FRAME:
            return False
    window = text.tokens[max(0, term.t0 - 7) : term.t0]
    keys = [tok.key for tok in window]
    for index, key in enumerate(keys):
        if key in HISTORY_SUBJECT and any(k in HISTORY_VERBS for k in keys[index + 1 :]):
            return True  # "I did 4 IM ketamine sessions", "she's had two infusions"
    return False


def _by_default(text: Text, term: Hit, clause: Clause, group: list[Hit]) -> bool:
    """An unanchored condition, symptom or medication counts unless its clause is a question.

    Telegraphic disclosures ("Rheumatoid arthritis, methotrexate weekly.", "post-op knee, still
    swollen") have no person and no verb; a general question ("is nausea common after?") is a
    question with nobody in it. Frames and negations were already handled by _status.
    """
    if term.kind not in DEFAULT_KINDS:
        return False
    following = text.tokens[term.t1 : term.t1 + 1]
    if following and following[0].key in TOPIC_AFTER:
        return False  # "anxiety awareness month", "depression research"
    if _is_question(text.norm, clause):
        # "Hep B carrier here, do you need to know?": the term precedes the question proper
        opener = next(
            (
                tok.start
                for tok in text.tokens[text.token_at(clause.start) :]
                if clause.start <= tok.start < clause.end and tok.key in QUESTION_OPENERS
            ),
            clause.end,
        )
        return term.end < opener or any(h.kind in ANCHORS for h in group)
    return True


def _is_question(norm: str, clause: Clause) -> bool:
    end = clause.end
    while end < len(norm) and norm[end] in ' )"':
        end += 1
    return norm.startswith("?", end) or norm.startswith("¿", clause.start)


def _ellipsis(text: Text, term: Hit, after: list[Hit]) -> bool:
    """In "I don't have depression, my husband does" the term is his, despite the negation."""
    for hit in after:
        if hit.t0 - term.t1 > 6:
            break
        if hit.kind == RELATION:
            following = text.tokens[hit.t1 : hit.t1 + 2]
            if any(tok.key in ELLIPSIS_VERBS for tok in following):
                return True
    return False


def verdict_of(found: list[Found]) -> tuple[str, bool]:
    categories = {f.category for f in found}
    if any(
        c.startswith("crisis.")
        and (c[7:] in CRISIS_LEVEL or c.startswith(("crisis.cue.", "crisis.model")))
        for c in categories
    ):
        return "crisis", True
    resources = any(c in ("crisis.history", "crisis.topic", "crisis.hyperbole") for c in categories)
    medical = any(not c.startswith("crisis.") or c == "crisis.history" for c in categories)
    return ("medical" if medical else "clean"), resources
