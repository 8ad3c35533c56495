"""Answers shaped to the client: JSON for scripts, HTML pages for browsers.

A client gets HTML only when it says it accepts HTML (a browser's form post does);
everyone else, ``fetch()`` included, gets JSON and RFC 9457 problem details.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, JSONResponse, Response

from relay import i18n, language, pages
from relay.settings import CrisisSettings

PROBLEM_BASE = "/problems/"
NO_STORE = {"Cache-Control": "no-store"}
LANG_PARAM = "lang"


def wants_json(request: HTTPConnection[Any]) -> bool:
    return "text/html" not in request.headers.get("accept", "")


@dataclass(frozen=True)
class Problem:
    status: int
    title: str
    detail: str
    type: str = ""  # a name under /problems/, or "" for about:blank
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "type": PROBLEM_BASE + self.type if self.type else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }

    def translated(self, lang: str) -> Problem:
        """Title, detail and per-field error details in ``lang`` (the English text,
        or a ``relay.i18n.Text``, is the message id)."""
        extra = dict(self.extra)
        if isinstance(extra.get("secure_contact"), str):  # the default text has Spanish
            extra["secure_contact"] = i18n.translate(lang, extra["secure_contact"])
        if isinstance(extra.get("errors"), list):
            extra["errors"] = [
                {**e, "detail": i18n.translate(lang, e["detail"])}
                if isinstance(e, dict) and isinstance(e.get("detail"), str) else e
                for e in extra["errors"]
            ]  # fmt: skip
        return Problem(
            self.status, i18n.translate(lang, self.title), i18n.translate(lang, self.detail),
            self.type, extra,
        )  # fmt: skip


def page_language(request: HTTPConnection[Any], written: str | None = None) -> str:
    """The language to answer in: ``?lang=``, then ``written`` (the language of the
    message, for answers to a post), then Accept-Language, then the default."""
    settings = request.state["settings"].pages
    if written == settings.default_language:
        # Text detectors answer the default when they find no evidence either way, so
        # only a language other than the default tells us something.
        written = None
    return language.choose(
        settings.languages,
        settings.default_language,
        query=request.query_params.get(LANG_PARAM),
        written=written,
        accept=request.headers.get("accept-language"),
    )


def language_headers(lang: str) -> dict[str, str]:
    return {"Content-Language": lang, "Vary": "Accept-Language"}


def frame_ancestors(request: HTTPConnection[Any]) -> str:
    """Who may frame a page: this site, and the allowed origins of the page's form."""
    form_id = request.path_params.get("form_id") if "path_params" in request.scope else None
    form = request.state["settings"].forms.get(form_id) if form_id else None
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


def html(
    request: HTTPConnection[Any], body: str, *, status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:  # fmt: skip
    ctx: pages.PageContext = request.state["pages"]
    lang = body.language if isinstance(body, pages.Page) else ctx.pages.default_language
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            **security_headers(ctx, frame_ancestors(request)),
            **language_headers(lang),
            **(headers or {}),
        },
    )


def problem_response(
    request: HTTPConnection[Any], problem: Problem, *, headers: Mapping[str, str] | None = None,
    written: str | None = None,
) -> Response:  # fmt: skip
    """The problem as JSON or as a page, in the visitor's language (``written``: the
    language of their message, when it is known)."""
    lang = page_language(request, written)
    problem = problem.translated(lang)
    headers = {**NO_STORE, **language_headers(lang), **(headers or {})}
    if wants_json(request):
        return JSONResponse(
            problem.as_json(),
            status_code=problem.status,
            headers=headers,
            media_type="application/problem+json",
        )
    referer = request.headers.get("referer", "")
    back = referer if referer.startswith(("http://", "https://")) else None
    body = pages.message_page(
        request.state["pages"], title=problem.title, message=problem.detail, back=back, lang=lang
    )
    return html(request, body, status=problem.status, headers=headers)


def accepted_json(
    submission_id: str, verdict: str, crisis: CrisisSettings | None, language: str | None = None
) -> Response:
    """The 202; ``language``: the one the resources and note are in (form.js shows a
    crisis page in it when the page around the form speaks another)."""
    body: dict[str, Any] = {"id": submission_id, "status": "accepted", "verdict": verdict}
    if language is not None:
        body["language"] = language
    if crisis is not None:
        body["resources"] = [r.model_dump() for r in crisis.resources]
        body["note"] = crisis.note
    return JSONResponse(body, status_code=202, headers=NO_STORE)
