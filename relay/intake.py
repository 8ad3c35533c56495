"""``/f/{form_id}`` and the routes around it: HTTP in, HTTP out.

The handlers only translate: a request into an ``Arrival`` for the pipeline
(``relay.pipeline``), and its ``Outcome`` into a response (``relay.responses``).
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from relay import pages
from relay.antispam import TOKEN_FIELD
from relay.origins import FORBIDDEN, OriginCheck, check_origin, origin_of
from relay.pipeline import Arrival
from relay.responses import json_body, problem
from relay.schemas import Challenge, FillToken
from relay.settings import FormSettings
from relay.state import State

NOT_FOUND = problem(404, "No such form", "There is no form at this address.")


def _form(request: Request[State]) -> tuple[str, FormSettings] | None:
    """The form the path names, or None (every /f/{form_id}/... route answers 404)."""
    form_id: str = request.path_params["form_id"]
    form = request.state["pipeline"].forms.get(form_id)
    return (form_id, form) if form is not None else None


def _origin(request: Request[State], form: FormSettings | None) -> OriginCheck:
    if form is None:
        return FORBIDDEN
    return check_origin(request.headers, own_origin(request), form)


def own_origin(request: Request[Any]) -> str:
    """``origin_of(str(request.base_url))``, worked out once per scheme, Host header,
    server address and root path (all it depends on): Starlette builds a URL object for
    ``base_url``, 5 us of every post."""
    scope = request.scope
    root = scope.get("app_root_path", scope.get("root_path", ""))
    server = tuple(scope["server"]) if scope.get("server") else None  # a list in some servers
    return _origin_for(scope["scheme"], request.headers.get("host"), server, root)


@functools.lru_cache(maxsize=256)  # the Host header is the client's: bounded
def _origin_for(scheme: str, host: str | None, server: tuple[Any, ...] | None, root: str) -> str:
    headers = [] if host is None else [(b"host", host.encode("latin-1"))]
    scope = {"type": "http", "scheme": scheme, "server": server, "root_path": root,
             "path": "/", "query_string": b"", "headers": headers}  # fmt: skip
    return origin_of(str(Request(scope).base_url))


async def form_endpoint(request: Request[State]) -> Response:
    if request.method == "POST":
        return await submit(request)
    if request.method == "OPTIONS":
        return await preflight(request)
    return await show_form(request)


async def submit(request: Request[State]) -> Response:
    state = request.state
    if (found := _form(request)) is None:
        return state["answers"].problem(request, NOT_FOUND)
    form_id, form = found
    origin = _origin(request, form)
    arrival = Arrival(
        form_id=form_id, client=request.client.host if request.client else None,
        headers=request.headers, origin=origin, body=request.stream(),
        answered_in=functools.partial(state["answers"].language, request),
    )  # fmt: skip
    outcome = await state["pipeline"].accept(arrival, form)
    response = state["answers"].post(request, form_id, form, outcome)
    response.headers.update(origin.headers())
    return response


async def show_form(request: Request[State]) -> Response:
    state = request.state
    if (found := _form(request)) is None:
        return state["answers"].problem(request, NOT_FOUND)
    form_id, form = found
    pipeline, answers = state["pipeline"], state["answers"]
    hidden = {TOKEN_FIELD: pipeline.issue_token()}
    page = pages.form_page(
        answers.pages, form_id, form, hidden=hidden, lang=answers.language(request)
    )
    return answers.html(request, page)


async def preflight(request: Request[State]) -> Response:
    """CORS preflight for ``fetch()`` with a JSON body from an allowed site."""
    found = _form(request)
    check = _origin(request, found[1] if found else None)
    if not check.allowed or not check.cors_origin:
        return Response(status_code=403, headers=FORBIDDEN.headers())
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
    state = request.state
    if (found := _form(request)) is None:
        return state["answers"].problem(request, NOT_FOUND)
    body = FillToken(field=TOKEN_FIELD, value=state["pipeline"].issue_token())
    return json_body(body, headers=_origin(request, found[1]).headers())


async def challenge(request: Request[State]) -> Response:
    """A fresh proof-of-work challenge for a form that asks for one."""
    state = request.state
    if (found := _form(request)) is None or not found[1].proof_of_work:
        return state["answers"].problem(request, NOT_FOUND)
    body = Challenge(**state["pipeline"].challenge())
    return json_body(body, headers=_origin(request, found[1]).headers())


async def thanks(request: Request[State]) -> Response:
    answers = request.state["answers"]
    if (found := _form(request)) is None:
        return answers.problem(request, NOT_FOUND)
    form_id, form = found
    resources = request.query_params.get("resources") == "1"
    held = request.query_params.get("held") == "1"
    page = pages.thanks_page(
        answers.pages, form_id, form, resources=resources, held=held,
        lang=answers.language(request),
    )  # fmt: skip
    return answers.html(request, page)


async def support(request: Request[State]) -> Response:
    answers = request.state["answers"]
    if (found := _form(request)) is None:
        return answers.problem(request, NOT_FOUND)
    form_id, form = found
    return answers.html(
        request, pages.crisis_page(answers.pages, form_id, form, lang=answers.language(request))
    )
