"""The Starlette application: routes, lifespan (outbox, pipeline, delivery worker), errors.

``create_app(settings)`` builds everything from one Settings; tests pass their own
sender, lexicon or clock (the outbox lives under ``storage.data_dir``). What does not
depend on the outbox (lexicon, rate limiter, page context, the OpenAPI document) is
built here once; the lifespan opens the outbox, builds the intake ``Pipeline`` around
it, starts the worker and the hourly purge of suspected posts in a task group, and
yields the typed ``State`` that handlers read from ``request.state``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
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
from relay.errors import OutboxUnavailable
from relay.inbox import inbox_in_use, open_inbox
from relay.inbox_web import InboxWeb
from relay.metrics import Metrics
from relay.openapi import openapi_document
from relay.outbox import SqliteOutbox
from relay.pages import PageContext, check_templates
from relay.pipeline import Pipeline
from relay.ratelimit import RateLimiter
from relay.responses import NO_STORE, Answers, problem
from relay.screening import Lexicon, load_lexicon
from relay.settings import Settings
from relay.state import State
from relay.store import Store
from relay.worker import Worker, WorkerThread

log = logging.getLogger("relay.app")
# Metric labels from a fixed set: a client cannot add series by inventing methods.
_METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"})
STATIC_DIR = Path(__file__).parent / "static"
HOUSEKEEPING_INTERVAL = 3600.0  # seconds between purges of old suspected posts


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
    check_templates(settings.pages)  # a clinic's broken templates stop the start (ConfigError)
    page_context = PageContext(clinic=settings.clinic, crisis=settings.crisis, pages=settings.pages)
    answers = Answers(settings, page_context)
    limiter = RateLimiter(settings.limits.rate, settings.limits.storage)
    document = json.dumps(openapi_document(settings)).encode()
    # The staff pages exist once an inbox does (a key that does not open it stops here).
    inbox_web = None
    if inbox_in_use(settings):
        inbox, _ = open_inbox(settings, clock=clock)
        inbox_web = InboxWeb(inbox, answers, clock=clock)

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
        store = Store(
            outbox, give_up_after=settings.delivery.give_up_after, clock=clock,
            inbox=inbox_web.store if inbox_web is not None else None,
        )  # fmt: skip
        worker = Worker(
            outbox, sender or make_sender(settings), settings.delivery, metrics, clock=clock
        )
        # Delivery runs on its own loop, so that a flood of posts cannot starve it.
        delivery = WorkerThread(worker)
        pipeline = Pipeline(
            settings, lexicon=lexicon, limiter=limiter, fill_token=FillToken(key),
            pow=ProofOfWork(key, settings.security.pow_max_number), store=store,
            metrics=metrics, clock=clock,
        )  # fmt: skip
        try:
            async with anyio.create_task_group() as tg:
                if run_worker:
                    delivery.start()
                    tg.start_soon(housekeeping, store, settings, clock)
                if inbox_web is not None:
                    tg.start_soon(inbox_web.keep, metrics)
                log.info("relay started", extra={"forms": sorted(settings.forms)})
                yield State(
                    pipeline=pipeline, answers=answers, store=store, worker=worker,
                    metrics=metrics,
                )  # fmt: skip
                # Shutdown: uvicorn has finished the requests in flight; the worker
                # hands back any claim as it is cancelled.
                tg.cancel_scope.cancel()
        finally:
            await anyio.to_thread.run_sync(delivery.stop)
            outbox.close()
            if inbox_web is not None:
                inbox_web.close()
            log.info("relay stopped")

    async def openapi(request: Request[State]) -> Response:
        return Response(document, media_type="application/json")

    routes = [
        Route("/", home, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        # One route for the three methods, so that a 405 lists all of them in Allow.
        form_route := Route(
            "/f/{form_id}", intake.form_endpoint, methods=["GET", "POST", "OPTIONS"]
        ),
        Route("/f/{form_id}/token", intake.token, methods=["GET"]),
        Route("/f/{form_id}/challenge", intake.challenge, methods=["GET"]),
        Route("/f/{form_id}/thanks", intake.thanks, methods=["GET"]),
        Route("/f/{form_id}/support", intake.support, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        *(inbox_web.routes() if inbox_web is not None else []),
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
            Middleware(DirectPost, route=form_route),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )


async def housekeeping(store: Store, settings: Settings, clock: Callable[[], float]) -> None:
    """Purge suspected posts older than ``limits.suspected_days``, at start and hourly."""
    older_than = settings.limits.suspected_days * 86400
    while True:
        try:
            purged = await store.purge_suspected(now=clock(), older_than=older_than)
        except OutboxUnavailable:
            purged = 0  # busy or full: the next round tries again
        if purged:
            log.info("purged suspected posts", extra={"count": purged})
        await anyio.sleep(HOUSEKEEPING_INTERVAL)


async def home(request: Request[State]) -> Response:
    first = next(iter(request.state["pipeline"].forms))
    return RedirectResponse(f"/f/{first}", status_code=303)


async def healthz(request: Request[State]) -> Response:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def readyz(request: Request[State]) -> Response:
    state = request.state
    writable = await state["store"].writable(now=state["pipeline"].clock())
    hold = state["worker"].hold
    low = not state["store"].outbox.reserve.has_room()
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
    metrics = state["metrics"]
    stats = await state["store"].stats()
    metrics.outbox_depth.set(stats.depth)
    metrics.outbox_dead.set(stats.counts["dead"])
    metrics.outbox_suspected.set(stats.counts["suspected"])
    oldest = stats.oldest_queued_at
    metrics.outbox_oldest.set(state["pipeline"].clock() - oldest if oldest else 0)
    metrics.delivery_held.set(1 if state["worker"].hold else 0)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def http_error(request: Request[Any], exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    details = {
        404: "There is nothing at this address.",
        405: "This address does not accept that kind of request.",
    }
    body = problem(
        exc.status_code,
        titles.get(exc.status_code, "Request not accepted"),
        details.get(exc.status_code, "The request could not be handled."),
    )
    answers: Answers = request.state["answers"]
    return answers.problem(request, body, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    # Log the class only: a message or traceback could quote what the visitor sent.
    # The route template, as in the access log: a raw path is whatever the client sent.
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("unhandled error", extra={"error": type(exc).__name__, "route": route})
    body = problem(500, "Something went wrong", "Your message was not stored. Please try again.")
    answers: Answers = request.state["answers"]
    return answers.problem(request, body)


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
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.child(self.metrics.latency, route, method, status).observe(elapsed)
            self.log.info(
                "request",
                extra={"method": scope["method"], "route": route, "status": status,
                       "ms": round(elapsed * 1000, 1)},
            )  # fmt: skip


class DirectPost:
    """Takes ``POST /f/{form_id}`` straight to its handler, past the router and the
    per-route exception wrappers; every other request goes on to the router.

    The post is the path a flood of submissions takes; the route table (a regex per
    route until one matches) and Starlette's two layers of exception handling around
    each handler cost 11 us a post, against 4 us this way (measured around a bare
    handler; a small share of the 400-550 us of a post). This sits inside
    the access log and the proxy headers, so a post is logged, counted and sees the
    client address exactly as before; ``scope`` gets the same ``route`` and
    ``path_params`` the router would set, and an HTTPException still gets the app's
    handler (anything else reaches the 500 handler outside, as before)."""

    def __init__(self, app: ASGIApp, route: Route) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        form_id = _posted_form(scope)
        if form_id is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        scope["path_params"] = {"form_id": form_id}
        request: Request[State] = Request(scope, receive, send)
        try:
            response = await intake.submit(request)
        except HTTPException as exc:
            response = await http_error(request, exc)
        await response(scope, receive, send)


def _posted_form(scope: Scope) -> str | None:
    """The form id of a ``POST /f/{form_id}`` (what the route's ``[^/]+`` matches), else
    None. With a root_path the router's own matching is left to decide."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if not path.startswith("/f/") or len(path) == 3 or "/" in path[3:]:
        return None
    return path[3:]
