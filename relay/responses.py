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

from relay import pages
from relay.settings import CrisisSettings

PROBLEM_BASE = "/problems/"
NO_STORE = {"Cache-Control": "no-store"}


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


def security_headers(ctx: pages.PageContext) -> dict[str, str]:
    """Headers for every HTML page: only our own script and stylesheet may run, plus
    the one inline theme ``<style>`` by its hash; no framing by other sites' scripts
    reading the page, no MIME sniffing. (No ``form-action``: a redirect to an allowed
    ``_next`` site after posting counts against it in some browsers.)"""
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


def html(
    request: HTTPConnection[Any], body: str, *, status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:  # fmt: skip
    return HTMLResponse(
        body,
        status_code=status,
        headers={**security_headers(request.state["pages"]), **(headers or {})},
    )


def problem_response(
    request: HTTPConnection[Any], problem: Problem, *, headers: Mapping[str, str] | None = None
) -> Response:
    headers = {**NO_STORE, **(headers or {})}
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
        request.state["pages"], title=problem.title, message=problem.detail, back=back
    )
    return html(request, body, status=problem.status, headers=headers)


def accepted_json(submission_id: str, verdict: str, crisis: CrisisSettings | None) -> Response:
    body: dict[str, Any] = {"id": submission_id, "status": "accepted", "verdict": verdict}
    if crisis is not None:
        body["resources"] = [r.model_dump() for r in crisis.resources]
        body["note"] = crisis.note
    return JSONResponse(body, status_code=202, headers=NO_STORE)
