"""The Starlette application: routes, lifespan (outbox + delivery worker), errors.

``create_app(settings)`` builds everything from one Settings; tests pass their own
sender, lexicon or clock (the outbox lives under ``storage.data_dir``). The lifespan
opens the outbox, starts the worker in a task group and yields the typed ``State``
that handlers read from ``request.state``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from relay import intake
from relay.antispam import FillToken, ProofOfWork, load_or_create_key
from relay.delivery import Sender, make_sender
from relay.metrics import Metrics
from relay.openapi import openapi_document
from relay.outbox import GroupCommit, SqliteOutbox
from relay.pages import PageContext
from relay.ratelimit import RateLimiter
from relay.responses import NO_STORE, Problem, problem_response
from relay.screening import Lexicon, load_lexicon
from relay.settings import Settings
from relay.state import State
from relay.worker import Worker, WorkerThread

log = logging.getLogger("relay.app")
STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    settings: Settings,
    *,
    sender: Sender | None = None,
    lexicon: Lexicon | None = None,
    clock: Callable[[], float] = time.time,
    run_worker: bool = True,
) -> Starlette:
    metrics = Metrics()
    lexicon = lexicon or load_lexicon(settings.screening.lexicon_dir)
    page_context = PageContext(clinic=settings.clinic, crisis=settings.crisis)
    limiter = RateLimiter(settings.limits.rate, settings.limits.storage)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        outbox = SqliteOutbox(
            settings.storage.outbox_path, busy_timeout=settings.storage.busy_timeout,
            min_free_bytes=settings.storage.min_free_bytes,
        )  # fmt: skip
        metrics.watch_storage(outbox.reserve)
        key = load_or_create_key(
            settings.security.signing_key.get_secret_value(), settings.storage.data_dir
        )
        worker = Worker(
            outbox, sender or make_sender(settings), settings.delivery, metrics, clock=clock
        )
        # Delivery runs on its own loop, so that a flood of posts cannot starve it.
        delivery = WorkerThread(worker)
        try:
            async with anyio.create_task_group() as tg:
                if run_worker:
                    delivery.start()
                log.info("relay started", extra={"forms": sorted(settings.forms)})
                yield State(
                    settings=settings, outbox=outbox, worker=worker, metrics=metrics,
                    commits=GroupCommit(outbox, give_up_after=settings.delivery.give_up_after),
                    lexicon=lexicon, pages=page_context, clock=clock, limiter=limiter,
                    fill_token=FillToken(key),
                    pow=ProofOfWork(key, settings.security.pow_max_number),
                )  # fmt: skip
                # Shutdown: uvicorn has finished the requests in flight; the worker
                # hands back any claim as it is cancelled.
                tg.cancel_scope.cancel()
        finally:
            await anyio.to_thread.run_sync(delivery.stop)
            outbox.close()
            log.info("relay stopped")

    routes = [
        Route("/", home, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        # One route for the three methods, so that a 405 lists all of them in Allow.
        Route("/f/{form_id}", intake.form_endpoint, methods=["GET", "POST", "OPTIONS"]),
        Route("/f/{form_id}/token", intake.token, methods=["GET"]),
        Route("/f/{form_id}/challenge", intake.challenge, methods=["GET"]),
        Route("/f/{form_id}/thanks", intake.thanks, methods=["GET"]),
        Route("/f/{form_id}/support", intake.support, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(AccessLog, metrics=metrics),
            # X-Forwarded-For is believed only from configured proxies (the client
            # address feeds rate limiting); done here rather than in uvicorn so that
            # the in-process tests exercise the same code.
            Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.server.trusted_proxies),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )


async def home(request: Request[State]) -> Response:
    first = next(iter(request.state["settings"].forms))
    return RedirectResponse(f"/f/{first}", status_code=303)


async def healthz(request: Request[State]) -> Response:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def readyz(request: Request[State]) -> Response:
    state = request.state
    now = state["clock"]()
    writable = await anyio.to_thread.run_sync(lambda: state["outbox"].writable(now=now))
    hold = state["worker"].hold
    low = not state["outbox"].reserve.has_room()
    checks = {
        "outbox": "ok" if writable else "not writable",
        "delivery": f"held: {hold.reason}" if hold else "ok",
        "disk": "below the reserve: new submissions refused" if low else "ok",
    }
    ready = writable and hold is None and not low
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )


async def metrics_endpoint(request: Request[State]) -> Response:
    state = request.state
    metrics, now = state["metrics"], state["clock"]()
    stats = await anyio.to_thread.run_sync(state["outbox"].stats)
    metrics.outbox_depth.set(stats.depth)
    metrics.outbox_dead.set(stats.counts["dead"])
    metrics.outbox_oldest.set(now - stats.oldest_queued_at if stats.oldest_queued_at else 0)
    metrics.delivery_held.set(1 if state["worker"].hold else 0)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request[State]) -> Response:
    return JSONResponse(openapi_document(request.state["settings"]))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    details = {
        404: "There is nothing at this address.",
        405: "This address does not accept that kind of request.",
    }
    problem = Problem(
        exc.status_code,
        titles.get(exc.status_code, "Request not accepted"),
        details.get(exc.status_code, "The request could not be handled."),
    )
    return problem_response(request, problem, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    # Log the class only: a message or traceback could quote what the visitor sent.
    # The route template, as in the access log: a raw path is whatever the client sent.
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("unhandled error", extra={"error": type(exc).__name__, "route": route})
    return problem_response(
        request,
        Problem(500, "Something went wrong", "Your message was not stored. Please try again."),
    )


class AccessLog:
    """Logs one line per request (method, route template, status, duration) and feeds
    the latency histogram. Never the query string, the body or the client's text."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger("relay.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - start
            self.metrics.latency.labels(route=route, method=scope["method"], status=status).observe(
                elapsed
            )
            self.log.info(
                "request",
                extra={"method": scope["method"], "route": route, "status": status,
                       "ms": round(elapsed * 1000, 1)},
            )  # fmt: skip
