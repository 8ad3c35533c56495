"""``/inbox``: where staff read held messages after signing in (the ``hold`` policy).

Routes: ``GET/POST /inbox/login``, ``POST /inbox/logout``, ``GET /inbox``,
``GET /inbox/{id}``, ``POST /inbox/{id}/done``. Without a live session every page but the
sign-in redirects there, whatever the id (known, unknown, or someone else's), so nothing
under /inbox tells a stranger what exists.

* The session cookie holds only a random token (the database keeps its SHA-256): HttpOnly,
  SameSite=Strict, Path=/inbox, and Secure when the request or ``inbox.public_url`` is
  HTTPS. It ends after ``inbox.session_idle_minutes`` without a request, and on sign-out.
* CSRF: every POST carries a token. Signed in, it is the session's own token; on the
  sign-in form, a double-submit token (a cookie and a hidden field that must match).
* Sign-in attempts are rate limited per client address (``limits``), and the account
  rules (10 failures lock it for 15 minutes, each TOTP code good once) live in
  ``relay.inbox``; every refusal shows the same words.
* Every answer is ``Cache-Control: no-store``, may not be framed, and loads nothing from
  another site. Argon2 and SQLite run in a worker thread (the storage edge).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from relay import pages
from relay.i18n import N_, translate
from relay.inbox import InboxStore, Session, sign_in
from relay.metrics import Metrics
from relay.ratelimit import RateLimiter, client_key
from relay.responses import NO_STORE, Answers, language_headers, security_headers

COOKIE = "relay_inbox"
LOGIN_COOKIE = "relay_inbox_login"
PATH = "/inbox"
LOGIN_RATE = "20/10 minutes"  # per client address, on top of the per-account lockout
_MAX_FORM = 4096
NOT_FOUND = (N_("No such message"), N_("There is no message at this address. It may have been "
                                       "deleted after the retention period."))  # fmt: skip
STALE = (N_("Please try again"), N_("This page was out of date. Go back, reload it and try again."))


@dataclass(frozen=True, slots=True)
class _Span:
    """A stored screening reason, as relay.pages.found_in reads it."""

    field: str
    start: int
    end: int
    category: str


class InboxWeb:
    """The staff pages over one InboxStore; built in the lifespan, no global state."""

    def __init__(
        self, store: InboxStore, answers: Answers, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.answers = answers
        self.settings = answers.settings
        self.ctx = answers.pages
        self.clock = clock
        self.limiter = RateLimiter(LOGIN_RATE, self.settings.limits.storage)
        self.idle = self.settings.inbox.session_idle_minutes * 60.0
        self.titles = {form_id: form.title for form_id, form in self.settings.forms.items()}

    def close(self) -> None:
        self.store.close()

    async def keep(self, metrics: Metrics, *, every: float = 300.0) -> None:
        """Apply the retention periods and refresh the inbox gauges, now and then every
        ``every`` seconds, until cancelled."""
        inbox = self.settings.inbox
        while True:
            purged = await anyio.to_thread.run_sync(
                lambda: self.store.purge(
                    retention_days=inbox.retention_days,
                    done_retention_days=inbox.done_retention_days,
                )
            )
            metrics.inbox_purged.inc(purged)
            held, oldest = await anyio.to_thread.run_sync(self.store.counts)
            metrics.inbox_held.set(held)
            metrics.inbox_oldest_unread.set(self.clock() - oldest if oldest else 0)
            await anyio.sleep(every)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/inbox", self.listing, methods=["GET"]),
            Route("/inbox/login", self.login, methods=["GET", "POST"]),
            Route("/inbox/logout", self.logout, methods=["POST"]),
            Route("/inbox/{message_id}", self.message, methods=["GET"]),
            Route("/inbox/{message_id}/done", self.done, methods=["POST"]),
        ]

    # -- responses ---------------------------------------------------------------

    def _lang(self, request: Request) -> str:
        return self.answers.language(request)

    def _page(self, request: Request, name: str, status: int = 200, **values: Any) -> Response:
        body = pages.render(self.ctx, name, self._lang(request), **values)
        return HTMLResponse(
            body,
            status_code=status,
            headers={**security_headers(self.ctx, "'none'"), **language_headers(body.language)},
        )

    def _notice(self, request: Request, status: int, texts: tuple[str, str]) -> Response:
        lang = self._lang(request)
        title, message = (translate(lang, text) for text in texts)
        return self._page(request, "message.html", status, title=title, message=message, back=PATH)

    def _secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or self.settings.inbox.public_url.startswith("https")

    def _cookie(self, response: Response, request: Request, name: str, value: str) -> None:
        response.set_cookie(
            name, value, path=PATH, httponly=True, samesite="strict", secure=self._secure(request)
        )

    @staticmethod
    def _see_other(url: str) -> Response:
        return RedirectResponse(url, status_code=303, headers=NO_STORE)

    def _when(self, timestamp: float) -> str:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")

    @staticmethod
    def _client(request: Request) -> str:
        return client_key(request.client.host if request.client else None)

    async def _session(self, request: Request) -> Session | None:
        token = request.cookies.get(COOKIE, "")
        if not token or len(token) > 128:
            return None
        return await anyio.to_thread.run_sync(
            lambda: self.store.session(token, idle_seconds=self.idle)
        )

    @staticmethod
    async def _form(request: Request) -> Mapping[str, str]:
        form = await request.form(max_files=0, max_fields=8, max_part_size=_MAX_FORM)
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def _csrf_ok(self, sent: str, expected: str) -> bool:
        return bool(sent and expected) and hmac.compare_digest(sent, expected)

    # -- handlers ------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._login_page(request, expired=request.query_params.get("expired") == "1")
        form = await self._form(request)
        client = self._client(request)
        if not self._csrf_ok(form.get("csrf", ""), request.cookies.get(LOGIN_COOKIE, "")):
            await anyio.to_thread.run_sync(
                lambda: self.store.audit("-", "sign-in-no-csrf", "", client)
            )
            return self._login_page(request, status=403, refused=True)
        if wait := await self.limiter.hit("inbox-login", client):
            await anyio.to_thread.run_sync(
                lambda: self.store.audit("-", "sign-in-rate-limited", "", client)
            )
            response = self._login_page(request, status=429, refused=True)
            response.headers["Retry-After"] = str(wait)
            return response
        email = form.get("email", "")[:254]
        now = self.clock()
        result = await anyio.to_thread.run_sync(
            lambda: sign_in(
                self.store,
                email,
                form.get("password", "")[:1024],
                form.get("code", "")[:16],
                client=client,
                now=now,
            )  # fmt: skip
        )
        if result.refused is not None:
            return self._login_page(request, status=401, refused=True, email=email)
        response = self._see_other(PATH)
        self._cookie(response, request, COOKIE, result.token)
        response.delete_cookie(LOGIN_COOKIE, path=PATH)
        return response

    def _login_page(
        self, request: Request, *, status: int = 200, refused: bool = False,
        expired: bool = False, email: str = "",
    ) -> Response:  # fmt: skip
        csrf = secrets.token_urlsafe(24)
        response = self._page(
            request, "inbox_login.html", status, csrf=csrf, refused=refused, expired=expired,
            email=email,
        )  # fmt: skip
        self._cookie(response, request, LOGIN_COOKIE, csrf)
        return response

    async def logout(self, request: Request) -> Response:
        session = await self._session(request)
        form = await self._form(request)
        if session is not None and self._csrf_ok(form.get("csrf", ""), session.csrf):
            token, client = request.cookies[COOKIE], self._client(request)
            await anyio.to_thread.run_sync(lambda: self.store.end_session(token, client=client))
        response = self._see_other(PATH + "/login")
        response.delete_cookie(COOKIE, path=PATH)
        return response

    def _to_login(self, request: Request) -> Response:
        expired = "?expired=1" if request.cookies.get(COOKIE) else ""
        response = self._see_other(f"{PATH}/login{expired}")
        response.delete_cookie(COOKIE, path=PATH)
        return response

    async def listing(self, request: Request) -> Response:
        if (session := await self._session(request)) is None:
            return self._to_login(request)
        held = await anyio.to_thread.run_sync(self.store.list_held)
        rows = [
            {"id": h.id, "received": self._when(h.received_at), "state": h.state,
             "form_title": self.titles.get(h.form_id, h.form_id)}
            for h in held
        ]  # fmt: skip
        return self._page(request, "inbox_list.html", held=rows, email=session.email,
                          csrf=session.csrf)  # fmt: skip

    async def message(self, request: Request) -> Response:
        if (session := await self._session(request)) is None:
            return self._to_login(request)
        message_id: str = request.path_params["message_id"]
        client = self._client(request)
        held = await anyio.to_thread.run_sync(
            lambda: self.store.read_held(message_id, actor=session.email, client=client)
        )
        if held is None:
            return self._notice(request, 404, NOT_FOUND)
        spans = [_Span(r["field"], r["start"], r["end"], r["category"]) for r in held.reasons]
        found = pages.found_in(held.fields, spans)
        marked = {f.name: f.segments for f in found.fields}
        fields = [(name, marked.get(name, ((text, None),))) for name, text in held.fields.items()]
        return self._page(
            request, "inbox_message.html", id=held.summary.id, email=session.email,
            csrf=session.csrf, received=self._when(held.summary.received_at),
            form_title=self.titles.get(held.summary.form_id, held.summary.form_id),
            state=held.summary.state, language=held.language, categories=found.categories,
            fields=fields,
        )  # fmt: skip

    async def done(self, request: Request) -> Response:
        if (session := await self._session(request)) is None:
            return self._to_login(request)
        form = await self._form(request)
        if not self._csrf_ok(form.get("csrf", ""), session.csrf):
            return self._notice(request, 403, STALE)
        message_id: str = request.path_params["message_id"]
        client = self._client(request)
        await anyio.to_thread.run_sync(
            lambda: self.store.mark_done(message_id, actor=session.email, client=client)
        )
        return self._see_other(PATH)
