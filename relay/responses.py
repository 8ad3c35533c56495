"""Answers shaped to the client: JSON for scripts, HTML pages for browsers.

A client gets HTML only when it says it accepts HTML (a browser's form post does);
everyone else, ``fetch()`` included, gets JSON and RFC 9457 problem details. JSON
bodies are the pydantic models of ``relay.schemas``. ``Answers`` is built once per
app, so the per-request work is the rendering alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, RedirectResponse, Response

from relay import outcome, pages, schemas
from relay.origins import origin_of
from relay.settings import FormSettings, Settings

PROBLEM_BASE = "/problems/"
NO_STORE = {"Cache-Control": "no-store"}
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


def security_headers(ctx: pages.PageContext) -> dict[str, str]:
    """Headers for every HTML page: only our own script and stylesheet may run, plus
    the one inline theme ``<style>`` by its hash; no MIME sniffing. (No
    ``form-action``: a redirect to an allowed ``_next`` site after posting counts
    against it in some browsers.)"""
    return {
        **NO_STORE,
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; "
            f"style-src 'self' {pages.style_hash(ctx)}; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


class Answers:
    def __init__(self, settings: Settings, ctx: pages.PageContext) -> None:
        self.pages = ctx
        self._security = security_headers(ctx)
        crisis = settings.crisis
        self._resources = [schemas.Resource(**r.model_dump()) for r in crisis.resources]
        self._note = crisis.note
        self._clinic = settings.clinic
        # For pages that cannot show the resource list itself (a 429 or 503 page).
        self._resource_lines = " ".join(f"{r.name}: {r.contact}." for r in crisis.resources)

    def html(
        self, body: str, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        return HTMLResponse(body, status_code=status, headers={**self._security, **(headers or {})})

    def problem(
        self, request: HTTPConnection[Any], body: schemas.Problem, *,
        headers: Mapping[str, str] | None = None,
    ) -> Response:  # fmt: skip
        if wants_json(request):
            return json_body(
                body, status=body.status, media_type="application/problem+json", headers=headers
            )
        referer = request.headers.get("referer", "")
        back = referer if origin_of(referer) else None  # only a readable http(s) URL
        detail = body.detail
        if body.resources:
            detail = f"{detail} If you are in crisis, please do not wait: {self._resource_lines}"
        page = pages.message_page(self.pages, title=body.title, message=detail, back=back)
        return self.html(page, status=body.status, headers={**NO_STORE, **(headers or {})})

    def post(
        self, request: HTTPConnection[Any], form_id: str, form: FormSettings,
        result: outcome.Outcome,
    ) -> Response:  # fmt: skip
        """The answer to a post, from the pipeline's outcome."""
        if isinstance(result, outcome.Accepted):
            return self._accepted(request, form_id, result)
        if isinstance(result, outcome.Refused):
            retry = {"Retry-After": str(result.retry_after)} if result.retry_after else None
            body = problem(result.status, result.title, result.detail, result.type,
                           **self._crisis(result.resources))  # fmt: skip
            return self.problem(request, body, headers=retry)
        if isinstance(result, outcome.Invalid):
            return self._invalid(request, form_id, form, result)
        return self._medical(request, form_id, form, result)

    def _crisis(self, resources: bool) -> dict[str, Any]:
        return {"resources": self._resources, "note": self._note} if resources else {}

    def _accepted(
        self, request: HTTPConnection[Any], form_id: str, result: outcome.Accepted
    ) -> Response:
        if wants_json(request):
            body = schemas.Accepted(
                id=result.submission_id, status="accepted", verdict=result.verdict,
                **self._crisis(result.resources),
            )  # fmt: skip
            return json_body(body, status=202)
        base, lang = "/f/" + quote(form_id, safe=""), f"lang={result.language}"
        if result.verdict == "crisis":
            target = f"{base}/support?{lang}"
        elif result.resources:
            target = f"{base}/thanks?resources=1&{lang}"
        else:
            target = result.redirect or f"{base}/thanks?{lang}"
        return RedirectResponse(target, status_code=303)

    def _invalid(
        self, request: HTTPConnection[Any], form_id: str, form: FormSettings,
        result: outcome.Invalid,
    ) -> Response:  # fmt: skip
        if wants_json(request):
            errors = [schemas.FieldProblem(field=f, detail=d, pointer=f"#/{f}")
                      for f, d in result.problems.items()]  # fmt: skip
            body = problem(422, "Some fields need attention",
                           "Please correct the fields listed in errors.", "invalid-fields",
                           errors=errors, **self._crisis(result.resources))  # fmt: skip
            return self.problem(request, body)
        page = pages.form_page(self.pages, form_id, form, values=result.values,
                               errors=result.problems, hidden=result.carried)  # fmt: skip
        return self.html(page, status=422)

    def _medical(
        self, request: HTTPConnection[Any], form_id: str, form: FormSettings,
        result: outcome.MedicalRefused,
    ) -> Response:  # fmt: skip
        if wants_json(request):
            spans = [schemas.Span(start=r.start, end=r.end, category=r.category, field=r.field)
                     for r in result.spans]  # fmt: skip
            body = problem(422, "Please remove medical details", MEDICAL_DETAIL,
                           "medical-content", secure_contact=self._clinic.secure_contact,
                           phone=self._clinic.phone, spans=spans)  # fmt: skip
            return self.problem(request, body)
        page = pages.medical_page(self.pages, form_id, form, values=result.values,
                                  hidden=result.carried, spans=result.spans)  # fmt: skip
        return self.html(page, status=422)
