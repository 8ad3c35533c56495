"""``/f/{form_id}``: the hosted form (GET) and the intake (POST).

POST flow, one direction: read the body within limits -> honeypot -> validate ->
screen -> policy -> store in the outbox (commit) -> answer. The 2xx goes out only
after the commit; nothing before the commit is acknowledged.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from relay import pages
from relay.antispam import POW_FIELD, POW_LIFETIME, TOKEN_FIELD, spam_signals
from relay.compose import draft_submission, draft_urgent, envelope_sender
from relay.errors import BadBody, InvalidSubmission, OutboxUnavailable
from relay.i18n import Text
from relay.origins import VARY, OriginCheck, check_origin, next_url
from relay.outbox import NewItem
from relay.parsing import read_posted
from relay.responses import (
    NO_STORE,
    Problem,
    accepted_json,
    html,
    page_language,
    problem_response,
    wants_json,
)
from relay.screening import Screening, detect_language, redact, screen_fields
from relay.settings import FormSettings, Settings
from relay.state import State
from relay.submission import HONEYPOT, NEXT, Submission, displayable, validate


def new_submission_id(now: float) -> str:
    """Sortable by time, unguessable: 12 hex digits of milliseconds + 10 random."""
    return f"{int(now * 1000):012x}{secrets.token_hex(5)}"


def build_item(
    sub: Submission, screening: Screening, form: FormSettings, settings: Settings,
    submission_id: str, now: datetime,
) -> NewItem:  # fmt: skip
    """The outbox item for one accepted submission: the message itself, or for a
    crisis only the urgent call-back notice (the message text joins it only when the
    form's ``crisis_include_message`` is on)."""
    sender_addr = envelope_sender(settings.smtp.from_address)
    reply_to = sub.reply_to
    if screening.verdict == "crisis":
        recipients = form.urgent_recipients
        draft = draft_urgent(
            fields=sub.fields, form_id=sub.form_id, from_address=settings.smtp.from_address,
            recipients=recipients, submission_id=submission_id,
            include_message=form.crisis_include_message,
            resources=[f"{r.name}: {r.contact}"
                       for r in settings.crisis.for_language(screening.language).resources],
            reply_to=reply_to, now=now, written_in=screening.language,
            staff_language=form.language or settings.pages.default_language,
        )  # fmt: skip
        kind = "urgent"
    else:
        fields = sub.fields
        if screening.verdict == "medical" and form.medical == "redact":
            fields = {k: redact(v, screening.reasons, field=k) for k, v in fields.items()}
        recipients = form.recipients
        draft = draft_submission(
            fields=fields, field_order=form.fields,
            multiline={f for f in form.fields if form.multiline(f)}, form_id=sub.form_id,
            subject_template=form.subject, from_address=settings.smtp.from_address,
            recipients=recipients, submission_id=submission_id, verdict=screening.verdict,
            medical_policy=form.medical, reply_to=reply_to, now=now,
            spam=spam_signals(fields), written_in=screening.language,
            staff_language=form.language or settings.pages.default_language,
        )  # fmt: skip
        kind = "submission"
    return NewItem(
        id=submission_id if kind == "submission" else f"{submission_id}.{kind}",
        submission_id=submission_id, form_id=sub.form_id, kind=kind, verdict=screening.verdict,
        message_id=draft.message_id, sender=sender_addr, recipients=recipients,
        body=draft.to_json(),
    )  # fmt: skip


def _form(request: Request[State]) -> tuple[str, FormSettings] | None:
    """The form the path names, or None (every /f/{form_id}/... route answers 404)."""
    form_id: str = request.path_params["form_id"]
    form = request.state["settings"].forms.get(form_id)
    return (form_id, form) if form is not None else None


async def form_endpoint(request: Request[State]) -> Response:
    if request.method == "POST":
        return await submit(request)
    if request.method == "OPTIONS":
        return await preflight(request)
    return await show_form(request)


async def show_form(request: Request[State]) -> Response:
    if (found := _form(request)) is None:
        return not_found(request)
    form_id, form = found
    state = request.state
    hidden = {TOKEN_FIELD: state["fill_token"].issue(state["clock"]())}
    lang = page_language(request)
    return html(request, pages.form_page(state["pages"], form_id, form, hidden=hidden, lang=lang))


def not_found(request: Request[State]) -> Response:
    return problem_response(
        request,
        Problem(404, "No such form", "There is no form at this address."),
    )


async def preflight(request: Request[State]) -> Response:
    """CORS preflight for ``fetch()`` with a JSON body from an allowed site."""
    found = _form(request)
    check = check_origin(request, found[1]) if found else OriginCheck(False, None)
    if not check.allowed or not check.cors_origin:
        return Response(status_code=403, headers={"Vary": VARY})
    return Response(
        status_code=204,
        headers={
            **check.headers(),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type, Accept",
            "Access-Control-Max-Age": "600",
        },
    )


async def token(request: Request[State]) -> Response:
    """A fresh fill-time token for forms hosted on the clinic's own site."""
    if (found := _form(request)) is None:
        return not_found(request)
    state = request.state
    check = check_origin(request, found[1])
    value = state["fill_token"].issue(state["clock"]())
    return JSONResponse(
        {"field": TOKEN_FIELD, "value": value}, headers={**NO_STORE, **check.headers()}
    )


async def challenge(request: Request[State]) -> Response:
    """A fresh proof-of-work challenge for a form that asks for one."""
    if (found := _form(request)) is None or not found[1].proof_of_work:
        return not_found(request)
    state = request.state
    check = check_origin(request, found[1])
    body = state["pow"].challenge(state["clock"]())
    return JSONResponse(body, headers={**NO_STORE, **check.headers()})


async def submit(request: Request[State]) -> Response:
    if (found := _form(request)) is None:
        return not_found(request)
    form_id, form = found
    check = check_origin(request, form)
    if check.allowed:
        response = await _submit(request, form_id, form)
    else:
        request.state["metrics"].submissions.labels(form=form_id, outcome="forbidden").inc()
        response = problem_response(
            request,
            Problem(403, "Not allowed from this site",
                    "This form only accepts messages sent from the clinic's own website."),
        )  # fmt: skip
    response.headers.update(check.headers())
    return response


async def _submit(request: Request[State], form_id: str, form: FormSettings) -> Response:
    state = request.state
    settings, metrics = state["settings"], state["metrics"]
    wait = await state["limiter"].hit(form_id, request.client.host if request.client else None)
    if wait:
        metrics.submissions.labels(form=form_id, outcome="rate_limited").inc()
        return problem_response(
            request,
            Problem(429, "Too many messages",
                    Text("Please wait {seconds} seconds before sending another message.",
                         seconds=wait)),
            headers={"Retry-After": str(wait)},
        )  # fmt: skip
    try:
        posted, repeated = await read_posted(request, settings.limits)
    except BadBody as exc:
        metrics.submissions.labels(form=form_id, outcome="malformed").inc()
        return problem_response(request, Problem(exc.status, exc.title, exc.detail))
    except ClientDisconnect:
        metrics.submissions.labels(form=form_id, outcome="disconnected").inc()
        return Response(status_code=400)  # nobody is listening; nothing stored, no traceback

    redirect = next_url(posted.get(NEXT), form, request)
    if _looks_automated(posted, form, state):
        # Same-looking success, nothing stored: a bot learns nothing from the answer.
        metrics.submissions.labels(form=form_id, outcome="spam").inc()
        fake_id = new_submission_id(state["clock"]())
        return _accepted(request, form_id, form, fake_id, None, redirect)
    if form.proof_of_work and not await _spend_proof_of_work(posted, state):
        metrics.submissions.labels(form=form_id, outcome="no_proof_of_work").inc()
        return problem_response(
            request,
            Problem(403, "Please send the form from its page",
                    "This form runs a short check in your browser before sending, and it did "
                    "not complete (or was used before). Please reload the page, make sure "
                    "JavaScript is on, and send again.", type="proof-of-work"),
        )  # fmt: skip
    try:
        sub = validate(form_id, form, settings.limits, posted, repeated)
    except InvalidSubmission as exc:
        metrics.submissions.labels(form=form_id, outcome="invalid").inc()
        return _invalid(request, form_id, form, posted, exc)

    screening = screen_fields(sub.fields, state["lexicon"])
    metrics.verdicts.labels(form=form_id, verdict=screening.verdict).inc()
    if screening.verdict == "medical" and form.medical == "reject":
        metrics.submissions.labels(form=form_id, outcome="medical_refused").inc()
        return _medical(request, form_id, form, sub, posted, screening)

    now = state["clock"]()
    submission_id = new_submission_id(now)
    item = build_item(
        sub, screening, form, settings, submission_id, datetime.fromtimestamp(now, UTC)
    )
    try:
        await state["commits"].add(item, clock=state["clock"])
    except OutboxUnavailable:
        metrics.submissions.labels(form=form_id, outcome="unavailable").inc()
        return problem_response(
            request,
            Problem(503, "Please try again in a minute",
                    "We could not store your message just now, so it was not sent. "
                    "Your text is still in the form: please send it again shortly."),
            headers={"Retry-After": "60"},
        )  # fmt: skip
    state["worker"].wake()
    metrics.submissions.labels(form=form_id, outcome="accepted").inc()
    return _accepted(request, form_id, form, submission_id, screening, redirect)


async def _spend_proof_of_work(posted: Mapping[str, object], state: State) -> bool:
    """A valid, unexpired solution that was not used before (then it is used up)."""
    signature = state["pow"].verify(posted.get(POW_FIELD))
    if signature is None:
        return False
    now = state["clock"]()
    outbox = state["outbox"]
    try:
        return await anyio.to_thread.run_sync(
            lambda: outbox.spend(signature, now=now, until=now + POW_LIFETIME)
        )
    except OutboxUnavailable:
        return False


def _looks_automated(posted: Mapping[str, object], form: FormSettings, state: State) -> bool:
    """A filled honeypot, or a fill-time token that is forged or came back too fast
    (or is missing where the form requires one)."""
    if posted.get(HONEYPOT):
        return True
    verdict = state["fill_token"].check(
        posted.get(TOKEN_FIELD), now=state["clock"](), min_seconds=form.min_fill_seconds
    )
    if verdict == "missing":
        return form.require_fill_token
    return verdict in ("too_fast", "invalid")


def _accepted(
    request: Request[State], form_id: str, form: FormSettings, submission_id: str,
    screening: Screening | None, redirect: str | None,
) -> Response:  # fmt: skip
    written = screening.language if screening else None
    answer_language = page_language(request, written)
    crisis = request.state["settings"].crisis.for_language(answer_language)
    verdict = screening.verdict if screening else "clean"
    resources = bool(screening and screening.show_crisis_resources) or verdict == "crisis"
    if wants_json(request):
        return accepted_json(
            submission_id, verdict, crisis if resources else None,
            answer_language if resources else None,
        )  # fmt: skip
    # The built-in pages answer in the language the message was written in (when that
    # is the default, Accept-Language may still choose: the detector's "en" is also
    # its answer when it found no evidence either way).
    default = request.state["settings"].pages.default_language
    lang = f"lang={written}" if written and written != default else ""
    if verdict == "crisis":
        target = f"/f/{form_id}/support" + (f"?{lang}" if lang else "")
    elif resources:
        target = f"/f/{form_id}/thanks?resources=1" + (f"&{lang}" if lang else "")
    else:
        target = redirect or form.redirect or f"/f/{form_id}/thanks" + (f"?{lang}" if lang else "")
    return RedirectResponse(target, status_code=303)


def _invalid(
    request: Request[State], form_id: str, form: FormSettings, posted: Mapping[str, Any],
    exc: InvalidSubmission,
) -> Response:  # fmt: skip
    message = posted.get("message")
    written = detect_language(message) if isinstance(message, str) and message.strip() else None
    if wants_json(request):
        return problem_response(
            request,
            Problem(422, "Some fields need attention",
                    "Please correct the fields listed in errors.", type="invalid-fields",
                    extra={"errors": [{"field": f, "detail": d, "pointer": f"#/{f}"}
                                      for f, d in exc.problems.items()]}),
            written=written,
        )  # fmt: skip
    values = {k: displayable(v) for k, v in posted.items() if isinstance(v, str)}
    body = pages.form_page(request.state["pages"], form_id, form, values=values,
                           errors=exc.problems, hidden=_carried(posted),
                           lang=page_language(request, written))  # fmt: skip
    return html(request, body, status=422)


def _carried(posted: Mapping[str, object]) -> dict[str, str]:
    """Reserved fields to carry into a re-shown form: the original fill-time token, so
    a quick correction is not mistaken for a bot, and a validated-later ``_next``."""
    return {
        k: displayable(v) for k in (TOKEN_FIELD, NEXT) if isinstance(v := posted.get(k), str) and v
    }


def _medical(
    request: Request[State],
    form_id: str,
    form: FormSettings,
    sub: Submission,
    posted: Mapping[str, object],
    screening: Screening,
) -> Response:
    clinic = request.state["settings"].clinic
    detail = (
        "Your message seems to include medical details, such as a diagnosis, medication or "
        "date of birth. To keep them private we do not send them by email. Please remove "
        "them and send your question again; we will talk about the details with you in person."
    )
    if wants_json(request):
        return problem_response(
            request,
            Problem(422, "Please remove medical details", detail, type="medical-content",
                    extra={"secure_contact": clinic.secure_contact, "phone": clinic.phone,
                           "spans": [{"field": r.field, "start": r.start, "end": r.end,
                                      "category": r.category} for r in screening.reasons
                                     if not r.category.startswith("crisis")]}),
            written=screening.language,
        )  # fmt: skip
    body = pages.medical_page(
        request.state["pages"], form_id, form, values=sub.fields, hidden=_carried(posted),
        spans=screening.reasons, lang=page_language(request, screening.language),
    )  # fmt: skip
    return html(request, body, status=422)


async def thanks(request: Request[State]) -> Response:
    if (found := _form(request)) is None:
        return not_found(request)
    form_id, form = found
    state = request.state
    resources = request.query_params.get("resources") == "1"
    lang = page_language(request)
    page = pages.thanks_page(state["pages"], form_id, form, resources=resources, lang=lang)
    return html(request, page)


async def support(request: Request[State]) -> Response:
    if (found := _form(request)) is None:
        return not_found(request)
    form_id, form = found
    lang = page_language(request)
    return html(request, pages.crisis_page(request.state["pages"], form_id, form, lang=lang))
