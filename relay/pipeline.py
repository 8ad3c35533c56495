"""The intake pipeline: one post in, one ``Outcome`` out. Built once in the lifespan.

``Pipeline.accept`` lists the steps in order; each is a method below it:

1. limits      origin allow-list, rate limit (a refusal is answered after screening)
2. parse       the body, within the size and field limits, in any of three encodings
3. screen      the free text, before any spam decision or validation
4. spam        honeypot, fill-time token, proof of work (none of them drops a crisis)
5. validate    the form's fields, and ``_next``
6. policy      crisis, honeypot, invalid, medical (``relay.policy.decide``)
7. store       one commit to the outbox, the only blocking call (``relay.store``)

Metrics are counted in one place, ``_count``. Nothing here knows about HTTP beyond
the headers it reads; ``relay.intake`` translates requests and outcomes.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect

from relay.antispam import POW_FIELD, TOKEN_FIELD, FillToken, ProofOfWork
from relay.errors import BadBody, OutboxUnavailable
from relay.i18n import Text
from relay.metrics import Metrics
from relay.origins import OriginCheck, next_url
from relay.outbox import NewItem
from relay.outcome import Accepted, AcceptedLabel, Invalid, MedicalRefused, Outcome, Refused
from relay.parsing import is_control, read_posted
from relay.policy import Decision, Items, decide
from relay.ratelimit import RateLimiter
from relay.screening import Language, Lexicon, Screening, Verdict, screen_fields
from relay.settings import FormSettings, Settings
from relay.store import Held, Store
from relay.submission import (
    HONEYPOT,
    NEXT,
    SEND_REDACTED,
    Submission,
    check,
    cleaned,
    displayable,
)  # fmt: skip

FORBIDDEN = Refused(
    "forbidden", 403, "Not allowed from this site",
    "This form only accepts messages sent from the clinic's own website.",
)  # fmt: skip
UNAVAILABLE = Refused(
    "unavailable", 503, "Please try again in a minute",
    "We could not store your message just now, so it was not sent. "
    "Your text is still in the form: please send it again shortly.", retry_after=60,
)  # fmt: skip
DISCONNECTED = Refused("disconnected", 400, "Incomplete request", "The body was cut off.")
BAD_NEXT = "The thank-you address (_next) is not a web address this form can go to."


@dataclass(frozen=True)
class Arrival:
    """One post as the pipeline needs it: the handler's whole translation of a request."""

    form_id: str
    client: str | None  # peer address (X-Forwarded-For only from trusted proxies)
    headers: Headers
    origin: OriginCheck
    body: AsyncIterator[bytes]
    # The language the answer will speak, given the one the message was written in
    # (``?lang=`` and Accept-Language can override it): the urgent notice lists the
    # resources the visitor was shown, in that language.
    answered_in: Callable[[str], str]


@dataclass(frozen=True)
class Spam:
    honeypot: bool
    suspect: bool  # failed the fill-time token or proof of work
    once: tuple[tuple[str, float], ...]  # one-time tokens to spend with the post


def new_submission_id(now: float) -> str:
    """Sortable by time, unguessable: 12 hex digits of milliseconds + 10 random."""
    return f"{int(now * 1000):012x}{secrets.token_hex(5)}"


class SubmissionIds:
    """``new_submission_id`` for the intake, its random part cut from 4 KB read at once
    from ``os.urandom``. The system call gives up the interpreter lock, and under a
    flood the delivery and commit threads take it meanwhile: on a busy machine py-spy
    put 8% of the intake's time in ``token_hex``, waiting to get the lock back (0.2% on
    a quiet one). One read per 800 ids pays that wait once. Used from the event loop
    only (no lock needed)."""

    CHUNK = 4000  # bytes: 800 ids

    def __init__(self) -> None:
        self._random = b""
        self._at = 0

    def new(self, now: float) -> str:
        if self._at + 5 > len(self._random):
            self._random, self._at = os.urandom(self.CHUNK), 0
        part = self._random[self._at : self._at + 5]
        self._at += 5
        return f"{int(now * 1000):012x}{part.hex()}"


class Pipeline:
    def __init__(
        self, settings: Settings, *, lexicon: Lexicon, limiter: RateLimiter,
        fill_token: FillToken, pow: ProofOfWork, store: Store, metrics: Metrics,
        clock: Callable[[], float],
    ) -> None:  # fmt: skip
        self.settings = settings
        self.forms = settings.forms
        self._fill_token = fill_token
        self._pow = pow
        self._limits = settings.limits
        self._lexicon = lexicon
        self._limiter = limiter
        self._store = store
        self._metrics = metrics
        self.clock = clock
        self._items = Items(settings)
        self._ids = SubmissionIds()

    def issue_token(self) -> str:
        return self._fill_token.issue(self.clock())

    def challenge(self) -> dict[str, Any]:
        return self._pow.challenge(self.clock())

    async def accept(self, arrival: Arrival, form: FormSettings) -> Outcome:
        outcome, verdict = await self._steps(arrival, form)
        self._count(arrival.form_id, outcome, verdict)
        return outcome

    async def _steps(self, a: Arrival, form: FormSettings) -> tuple[Outcome, Verdict | None]:
        now = self.clock()
        refusal = await self._limits_step(a)  # 1
        try:
            posted, repeated = await read_posted(a.headers, a.body, self._limits, form.fields)  # 2
        except BadBody as exc:
            return refusal or Refused("malformed", exc.status, exc.title, exc.detail), None
        except ClientDisconnect:  # nobody is listening; nothing stored, no traceback
            return DISCONNECTED, None
        texts = _cleaned_texts(posted, form)
        screening = screen_fields(texts, self._lexicon)  # 3
        if screening.verdict != "crisis" and (others := _unlisted_texts(posted, form)):
            screening = _crisis_from(screening, screen_fields(others, self._lexicon))
        # A crisis goes on past a refusal (another site, a flood): the visitor gets the
        # resources and staff the urgent notice. Anything else refused stores nothing;
        # a possible crisis still sees the resources in the refusal.
        if refusal is not None and screening.verdict != "crisis":
            resources = screening.show_crisis_resources
            return replace(refusal, resources=resources, language=screening.language), (
                screening.verdict
            )
        spam = self._spam(posted, form, now)  # 4
        sub, problems = check(a.form_id, form, self._limits, posted, repeated, texts)  # 5
        redirect = self._next(posted, form, a.origin.origin, problems)
        decision = decide(
            screening, form, honeypot=spam.honeypot, suspect=spam.suspect,
            invalid=bool(problems), send_redacted=posted.get(SEND_REDACTED) == "1",
        )  # 6  # fmt: skip
        shown_in = a.answered_in(screening.language)
        outcome = await self._store_step(  # 7
            decision, screening, form, sub, problems, posted, spam, redirect, now, shown_in
        )
        return outcome, screening.verdict

    async def _limits_step(self, a: Arrival) -> Refused | None:
        """Step 1. The refusal, if any, is returned after the body is screened."""
        if not a.origin.allowed:
            return FORBIDDEN
        wait = await self._limiter.hit(a.form_id, a.client)
        if wait:
            return Refused(
                "rate_limited", 429, "Too many messages",
                Text("Please wait {seconds} seconds before sending another message.",
                     seconds=wait), retry_after=wait,
            )  # fmt: skip
        return None

    def _spam(self, posted: Mapping[str, object], form: FormSettings, now: float) -> Spam:
        """Step 4: the spam signals (what they do is the policy's: relay.policy.decide);
        a good token or solution is spent when the post is stored."""
        once: list[tuple[str, float]] = []
        token = self._fill_token.check(
            posted.get(TOKEN_FIELD), now=now, min_seconds=form.min_fill_seconds
        )
        suspect = token.verdict in ("too_fast", "invalid") or (
            token.verdict in ("missing", "stale") and form.require_fill_token
        )
        if token.once is not None:
            once.append(token.once)
        if form.proof_of_work:
            solution = self._pow.verify(posted.get(POW_FIELD), now=now)
            if solution is None:
                suspect = True
            else:
                once.append(solution)
        return Spam(bool(posted.get(HONEYPOT)), suspect, tuple(once))

    def _next(
        self, posted: Mapping[str, object], form: FormSettings, page_origin: str,
        problems: dict[str, str],
    ) -> str | None:  # fmt: skip
        """Step 5, the reserved ``_next``: where a browser goes after an accepted post."""
        try:
            return next_url(posted.get(NEXT), form, page_origin) or form.redirect or None
        except ValueError:
            problems[NEXT] = BAD_NEXT
            return None

    async def _store_step(
        self, decision: Decision, screening: Screening, form: FormSettings, sub: Submission,
        problems: Mapping[str, str], posted: Mapping[str, object], spam: Spam,
        redirect: str | None, now: float, shown_in: str,
    ) -> Outcome:  # fmt: skip
        """Step 7: the answers that store nothing, or one commit and the answer to it.
        ``shown_in``: the language of the answer (and of the resources in it)."""
        language = screening.language
        if decision.action == "invalid":
            values = {k: displayable(v) for k, v in posted.items() if isinstance(v, str)}
            return Invalid(problems, values, _carried(posted), language)
        if decision.action == "refuse":
            return MedicalRefused(screening.reasons, sub.fields, _carried(posted), language)
        sid = self._ids.new(now)
        accepted = Accepted("accepted", sid, screening.verdict,
                            screening.show_crisis_resources, language, redirect)  # fmt: skip
        if decision.action == "drop":  # a bot learns nothing from the answer
            return replace(accepted, label="spam", verdict="clean")
        held = None
        if decision.keep_private:  # the form holds medical messages: the text goes to the inbox
            reasons = [{"category": r.category, "field": r.field, "start": r.start, "end": r.end}
                       for r in screening.reasons]  # fmt: skip
            held = Held(sid, sub.form_id, now, dict(sub.fields), reasons, language)
        if decision.action == "urgent":
            item = self._items.urgent(sub, form, sid, now, language, shown_in,
                                      held=held is not None)  # fmt: skip
        elif decision.action == "hold":
            notice = self._items.notice(sub.form_id, form, sid, now,
                                        possible_crisis=decision.possible_crisis)  # fmt: skip
            item = replace(notice, suspected=decision.suspected, once=spam.once)
        else:
            item = self._items.submission(
                sub, form, screening, decision, sid, now,
                suspected=decision.suspected, once=spam.once,
            )  # fmt: skip
        try:
            state, kept_private = await self._keep(item, held, sub, form, now, language,
                                                   shown_in)  # fmt: skip
        except OutboxUnavailable:
            return replace(UNAVAILABLE, resources=accepted.resources, language=language)
        label: AcceptedLabel = (
            "suspected" if state == "suspected" else "held" if kept_private else "accepted"
        )
        return replace(accepted, label=label)

    async def _keep(
        self, item: NewItem, held: Held | None, sub: Submission, form: FormSettings,
        now: float, language: Language, shown_in: str,
    ) -> tuple[str, bool]:  # fmt: skip
        """Commit ``item`` (sealing ``held`` into the inbox first): its state, and whether
        the text went to the inbox. If the inbox cannot take a crisis's text, the urgent
        notice goes out all the same, without the inbox link (staff call back from the
        contact details). Raises OutboxUnavailable: nothing stored."""
        if held is None:
            return await self._store.keep(item), False
        try:
            return await self._store.keep_held(held, item), True
        except OutboxUnavailable:
            if item.kind != "urgent":
                raise
        plain = self._items.urgent(sub, form, held.id, now, language, shown_in)
        return await self._store.keep(plain), False

    def _count(self, form_id: str, outcome: Outcome, verdict: Verdict | None) -> None:
        metrics = self._metrics
        metrics.child(metrics.submissions, form_id, outcome.label).inc()
        if verdict is not None:
            metrics.child(metrics.verdicts, form_id, verdict).inc()


def _cleaned_texts(posted: Mapping[str, object], form: FormSettings) -> dict[str, str]:
    """Step 3 reads the text as validation will keep it, so offsets fit the delivered
    text; step 5 is handed the same cleaned texts rather than cleaning them again."""
    return {
        name: cleaned(value, multiline=form.multiline(name))
        for name in form.fields
        if isinstance(value := posted.get(name), str)
    }


def _unlisted_texts(posted: Mapping[str, object], form: FormSettings) -> dict[str, str]:
    """Text posted in fields the form does not list (a site's own "comments" box): not
    delivered, but screened for a crisis, which must not be dropped with them."""
    return {
        name: cleaned(value, multiline=True)
        for name, value in posted.items()
        if isinstance(value, str) and value and name not in form.fields
        and not is_control(name)
    }  # fmt: skip


def _crisis_from(screening: Screening, others: Screening) -> Screening:
    """``screening`` of the form's fields, with the crisis or possible crisis that the
    screening of the unlisted fields found (their medical details are never delivered,
    so they stop nothing)."""
    sure = others.verdict == "crisis"
    if not others.show_crisis_resources or (screening.show_crisis_resources and not sure):
        return screening
    crisis = tuple(r for r in others.reasons if r.category in ("crisis", "crisis.possible"))
    # The resources speak the language of the text that asked for them.
    found = replace(screening, reasons=screening.reasons + crisis, show_crisis_resources=True,
                    language=others.language)  # fmt: skip
    return replace(found, verdict="crisis") if sure else found


def _carried(posted: Mapping[str, Any]) -> dict[str, str]:
    """Reserved fields to carry into a re-shown form: the original fill-time token, so
    a quick correction is not mistaken for a bot, and ``_next``."""
    return {
        k: displayable(v) for k in (TOKEN_FIELD, NEXT) if isinstance(v := posted.get(k), str) and v
    }
