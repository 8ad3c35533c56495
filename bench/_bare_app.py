"""The baseline: a bare Starlette endpoint that parses the same form and answers 202."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def submit(request: Request) -> Response:
    form = await request.form()
    return JSONResponse({"id": "x", "status": "accepted", "fields": len(form)}, status_code=202)


app = Starlette(routes=[Route("/f/contact", submit, methods=["POST"])])
