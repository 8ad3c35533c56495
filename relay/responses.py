"""Answers shaped to the client: JSON for scripts, HTML pages for browsers.

A client gets HTML only when it says it accepts HTML (a browser's form post does);
everyone else, ``fetch()`` included, gets JSON and RFC 9457 problem details. JSON
bodies are the pydantic models of ``relay.schemas``. ``Answers`` is built once per
app, so the per-request work is the rendering alone.

Language: pages and problem texts follow ``?lang=``, then (for answers to a post) the
language the message was written in, then Accept-Language, then
``pages.default_language``; every answer says which in ``Content-Language`` and varies on
Accept-Language. English texts (or ``relay.i18n.Text``) are the message ids; they are
translated here, before a pydantic body is built (pydantic keeps plain ``str`` only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, RedirectResponse, Response

from relay import i18n, language, outcome, pages, schemas
from relay.i18n import Text
from relay.origins import origin_of
from relay.settings import FormSettings, Settings

PROBLEM_BASE = "/problems/"
NO_STORE = {"Cache-Control": "no-store"}
LANG_PARAM = "lang"
MEDICAL_DETAIL = (
    "Your message seems to include medical details, such as a diagnosis, medication or "
    "date of birth. To keep them private we do not send them by email. Please remove "
    "them and send your question again, or send it without the words listed in spans; "
    "we will talk about the details with you in person."
)


def wants_json(request: HTTPConnection[Any]) -> bool:
    return "text/html" not in request.headers.get("accept", "")


def problem(status: int, title: str, detail: str, type: str = "", **extra: Any) -> schemas.Problem:
    """A problem body; ``type`` is a name under /problems/, or "" for about:blank."""
    return schemas.Problem(
        type=PROBLEM_BASE + type if type else "about:blank", title=title, status=status,
        detail=detail, **extra,
    )  # fmt: skip


def json_body(
    model: BaseModel, *, status: int = 200, media_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> Response:  # fmt: skip
    return Response(
        model.model_dump_json(exclude_none=True), status_code=status, media_type=media_type,
        headers={**NO_STORE, **(headers or {})},
    )  # fmt: skip


def language_headers(lang: str) -> dict[str, str]:
    return {"Content-Language": lang, "Vary": "Accept-Language"}


def frame_ancestors(request: HTTPConnection[Any], settings: Settings) -> str:
    """Who may frame a page: this site, and the allowed origins of the page's form."""
    form_id = request.path_params.get("form_id") if "path_params" in request.scope else None
    form = settings.forms.get(form_id) if form_id else None
    origins = form.allowed_origins if form is not None else []
    return " ".join(["'self'", *origins])


def security_headers(ctx: pages.PageContext, ancestors: str = "'self'") -> dict[str, str]:
    """Headers for every HTML page: only our own script and stylesheet may run, plus
    the one inline theme ``<style>`` by its hash; framed only by ``ancestors`` (this
    site and the form's allowed origins), no MIME sniffing. (No ``form-action``: a
    redirect to an allowed ``_next`` site after posting counts against it in some
    browsers.)"""
    return {
        **NO_STORE,
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; "
            f"style-src 'self' {pages.style_hash(ctx)}; img-src 'self' data:; "
            f"connect-src 'self'; base-uri 'none'; frame-ancestors {ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


class Answers:
    def __init__(self, settings: Settings, ctx: pages.PageContext) -> None:
        self.pages = ctx
        self.settings = settings
        self._clinic = settings.clinic
        self._security: dict[str, dict[str, str]] = {}  # by frame-ancestors value

    def language(self, request: HTTPConnection[Any], written: str | None = None) -> str:
        """The language to answer in: ``?lang=``, then ``written`` (the language of the
        message, for answers to a post), then Accept-Language, then the default."""
        settings = self.pages.pages
        if written == settings.default_language:
            # Text detectors answer the default when they find no evidence either way,
            # so only a language other than the default tells us something.
            written = None
        # No query string (nearly every post): skip parsing one (3 us).
        query = request.query_params.get(LANG_PARAM) if request.scope.get("query_string") else None
        return language.choose(
            settings.languages, settings.default_language, query=query, written=written,
            accept=request.headers.get("accept-language"),
        )  # fmt: skip

    def html(
        self, request: HTTPConnection[Any], body: str, *, status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:  # fmt: skip
        ancestors = frame_ancestors(request, self.settings)
        security = self._security.get(ancestors)
        if security is None:
            security = self._security[ancestors] = security_headers(self.pages, ancestors)
        lang = body.language if isinstance(body, pages.Page) else self.pages.pages.default_language
        return HTMLResponse(
            body, status_code=status,
            headers={**security, **language_headers(lang), **(headers or {})},
        )  # fmt: skip

    def _crisis(self, resources: bool, lang: str) -> dict[str, Any]:
        if not resources:
            return {}
        crisis = self.settings.crisis.for_language(lang)
        listed = [schemas.Resource(**r.model_dump()) for r in crisis.resources]
        return {"resources": listed, "note": crisis.note}

    def problem(
        self, request: HTTPConnection[Any], body: schemas.Problem, *,
        headers: Mapping[str, str] | None = None, lang: str | None = None,
    ) -> Response:  # fmt: skip
        """The problem as JSON or as a page. Without ``lang`` its title and detail are
        English message ids, translated here into the request's language."""
        if lang is None:
            lang = self.language(request)
            titles = {"title": i18n.translate(lang, body.title),
                      "detail": i18n.translate(lang, body.detail)}  # fmt: skip
            body = body.model_copy(update=titles)
        headers = {**NO_STORE, **language_headers(lang), **(headers or {})}
        if wants_json(request):
            return json_body(
                body, status=body.status, media_type="application/problem+json", headers=headers
            )
        referer = request.headers.get("referer", "")
        back = referer if origin_of(referer) else None  # only a readable http(s) URL
        detail = body.detail
        if body.resources:
            lines = " ".join(f"{r.name}: {r.contact}." for r in body.resources)
            detail = f"{detail} " + i18n.translate(
                lang, Text("If you are in crisis, please do not wait: {lines}", lines=lines)
            )
        page = pages.message_page(self.pages, title=body.title, message=detail, back=back,
                                  lang=lang)  # fmt: skip
        return self.html(request, page, status=body.status, headers=headers)

    def post(
        self, request: HTTPConnection[Any], form_id: str, form: FormSettings,
        result: outcome.Outcome,
    ) -> Response:  # fmt: skip
        """The answer to a post, from the pipeline's outcome."""
        if isinstance(result, outcome.Accepted):
            return self._accepted(request, form_id, result)
        if isinstance(result, outcome.Refused):
            lang = self.language(request, result.language)
            retry = {"Retry-After": str(result.retry_after)} if result.retry_after else None
            body = problem(result.status, i18n.translate(lang, result.title),
                           i18n.translate(lang, result.detail), result.type,
                           **self._crisis(result.resources, lang))  # fmt: skip
            return self.problem(request, body, headers=retry, lang=lang)
        if isinstance(result, outcome.Invalid):
            return self._invalid(request, form_id, form, result)
        return self._medical(request, form_id, form, result)

    def _accepted(
        self, request: HTTPConnection[Any], form_id: str, result: outcome.Accepted
    ) -> Response:
        lang = self.language(request, result.language)
        if wants_json(request):
            # ``language``: the one the resources are in (form.js shows a crisis page in it
            # when the page around the form speaks another).
            body = schemas.Accepted(
                id=result.submission_id, verdict=result.verdict,
                status="held" if result.label == "held" else "accepted",
                language=lang if result.resources else None,
                **self._crisis(result.resources, lang),
            )  # fmt: skip
            return json_body(body, status=202, headers=language_headers(lang))
        # The built-in pages answer in the language the message was written in.
        base, query = "/f/" + quote(form_id, safe=""), f"{LANG_PARAM}={lang}"
        if result.verdict == "crisis":
            target = f"{base}/support?{query}"
        elif result.resources or result.label == "held":
            flags = "&".join(f for f, on in (("resources=1", result.resources),
                                             ("held=1", result.label == "held")) if on)  # fmt: skip
            target = f"{base}/thanks?{flags}&{query}"
        else:
            target = result.redirect or f"{base}/thanks?{query}"
        return RedirectResponse(target, status_code=303)

    def _invalid(
        self, request: HTTPConnection[Any], form_id: str, form: FormSettings,
        result: outcome.Invalid,
    ) -> Response:  # fmt: skip
        lang = self.language(request, result.language)
        if wants_json(request):
            errors = [schemas.FieldProblem(field=f, detail=i18n.translate(lang, d),
                                           pointer=f"#/{f}")
                      for f, d in result.problems.items()]  # fmt: skip
            body = problem(422, i18n.translate(lang, "Some fields need attention"),
                           i18n.translate(lang, "Please correct the fields listed in errors."),
                           "invalid-fields", errors=errors)  # fmt: skip
            return self.problem(request, body, lang=lang)
        page = pages.form_page(self.pages, form_id, form, values=result.values,
                               errors=result.problems, hidden=result.carried,
                               lang=lang)  # fmt: skip
        return self.html(request, page, status=422)

    def _medical(
        self, request: HTTPConnection[Any], form_id: str, form: FormSettings,
        result: outcome.MedicalRefused,
    ) -> Response:  # fmt: skip
        lang = self.language(request, result.language)
        if wants_json(request):
            spans = [schemas.Span(start=r.start, end=r.end, category=r.category, field=r.field)
                     for r in result.spans if not r.category.startswith("crisis")]  # fmt: skip
            body = problem(422, i18n.translate(lang, "Please remove medical details"),
                           i18n.translate(lang, MEDICAL_DETAIL), "medical-content",
                           secure_contact=i18n.translate(lang, self._clinic.secure_contact),
                           phone=self._clinic.phone, spans=spans)  # fmt: skip
            return self.problem(request, body, lang=lang)
        page = pages.medical_page(self.pages, form_id, form, values=result.values,
                                  hidden=result.carried, spans=result.spans,
                                  lang=lang)  # fmt: skip
        return self.html(request, page, status=422)
