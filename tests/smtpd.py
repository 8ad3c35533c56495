"""SMTP servers for tests: a recording aiosmtpd handler, a Controller factory and a tiny
scripted server for the faults aiosmtpd cannot make.

Import it as ``tests.smtpd`` (the name follows aiosmtplib's suite; a bare ``import
smtpd`` would find the deprecated stdlib module on 3.11). Nothing here mocks
aiosmtplib: the client under test talks real SMTP over loopback, with real TLS when
the server is given certificates (see ``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from relay.settings import SmtpSettings

HOST = "127.0.0.1"
USERNAME = "relay"
PASSWORD = "correct horse battery staple"


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (bind to 0, read it, close).

    aiosmtpd's ``Controller(port=0)`` does not work: its readiness probe dials ``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def server_context(ca: trustme.CA, *identities: str) -> ssl.SSLContext:
    """A server-side TLS context with a certificate from ``ca`` for ``identities``
    (default: 127.0.0.1 and localhost). A client trusts it only if it trusts ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(identities or (HOST, "localhost"))).configure_cert(context)
    return context


@dataclass(frozen=True)
class Received:
    """One message the server accepted (or read in full before dropping the line)."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool  # the session was encrypted (STARTTLS or implicit TLS)
    login: bytes | None  # the AUTH user, if the client authenticated


@dataclass
class RecordingHandler:
    """An aiosmtpd handler that keeps what it receives and fails on request.

    Knobs (set them before the client connects; they may be changed between attempts):

    * ``mail_reply``: the reply to MAIL FROM instead of 250, e.g. ``"550 5.7.1 sender"``.
    * ``rcpt_replies``: recipient -> reply, e.g. ``{"b@x.example": "451 4.2.1 later"}``;
      other recipients get 250.
    * ``data_reply``: the reply to the final dot instead of 250, e.g.
      ``"451 4.3.0 try later"`` or ``"550 5.7.1 no"``. The message is then not kept.
    * ``drop_after_data``: read the whole message, keep it (the server "may have
      queued it"), then close the connection without a reply.
    * ``data_delay``: seconds to wait before answering the final dot.

    ``commands`` lists every command verb the server got, with whether the session
    was encrypted at that moment, so a test can prove nothing went out in plaintext.
    """

    mail_reply: str | None = None
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    drop_after_data: bool = False
    data_delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    commands: list[tuple[str, bool]] = field(default_factory=list)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply is not None:
            return self.data_reply
        assert envelope.mail_from is not None
        assert isinstance(envelope.original_content, bytes)
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.original_content,
                tls=_encrypted(server),
                login=session.login_data,
            )
        )
        if self.drop_after_data:
            assert server.transport is not None
            server.transport.close()
            # connection_lost() cancels this coroutine; no reply is ever written.
            await asyncio.sleep(3600)
        return "250 OK"


def _encrypted(server: SMTP) -> bool:
    return server.transport is not None and (
        server.transport.get_extra_info("ssl_object") is not None
    )


class _RecordingSMTP(SMTP):
    """aiosmtpd's SMTP, noting each command verb in ``handler.commands`` and keeping
    itself in ``live`` while its connection lasts (so that stop() can close it)."""

    def __init__(
        self, handler: RecordingHandler, live: set[SMTP], idle: threading.Event, **kwargs: Any
    ) -> None:
        super().__init__(handler, **kwargs)
        self._live = live
        self._idle = idle
        for verb, method in list(self._smtp_methods.items()):
            self._smtp_methods[verb] = self._noting(verb, method)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._live.add(self)
        self._idle.clear()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self._live.discard(self)
        if not self._live:
            self._idle.set()

    def abort(self) -> None:
        transport = self._original_transport or self.transport
        if transport is not None:
            transport.abort()  # type: ignore[attr-defined]

    def _noting(
        self, verb: str, method: Callable[[str], Awaitable[None]]
    ) -> Callable[[str], Awaitable[None]]:
        async def run(arg: str) -> None:
            self.event_handler.commands.append((verb, _encrypted(self)))
            await method(arg)

        return run


class _Controller(Controller):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live: set[SMTP] = set()  # one per open connection
        self.idle = threading.Event()  # set while no connection is open
        self.idle.set()

    def factory(self) -> SMTP:
        return _RecordingSMTP(self.handler, self.live, self.idle, **self.SMTP_kwargs)

    def stop(self, no_assert: bool = False) -> None:
        """Close the connections still open first: aiosmtpd stops its loop at once, and
        a transport still closing then (a TLS shutdown, say) is left unclosed."""
        if self._thread is not None:
            self.loop.call_soon_threadsafe(self._abort_all)
            self.idle.wait(2.0)
        super().stop(no_assert)

    def _abort_all(self) -> None:
        for smtp in list(self.live):
            assert isinstance(smtp, _RecordingSMTP)
            smtp.abort()


class Authenticator:
    """Accepts ``USERNAME``/``PASSWORD`` (AUTH PLAIN or LOGIN); keeps every attempt."""

    def __init__(self, username: str = USERNAME, password: str = PASSWORD) -> None:
        self.expected = LoginPassword(username.encode(), password.encode())
        self.attempts: list[bytes] = []

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.attempts.append(auth_data.login)
        ok = auth_data == self.expected
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@dataclass
class SmtpServer:
    """A running aiosmtpd server on ``host:port``."""

    controller: _Controller
    handler: RecordingHandler
    authenticator: Authenticator | None
    host: str
    port: int

    async def quiesce(self) -> None:
        """Wait (up to 2 s), yielding to the caller's loop, until no client is connected.

        Call it from the loop the clients ran on before ``stop()``: aiosmtplib closes a
        TLS connection asynchronously (close_notify both ways), and a test loop closed
        before that completes leaves the socket unclosed (a ResourceWarning)."""
        await asyncio.to_thread(self.controller.idle.wait, 2.0)
        await asyncio.sleep(0.01)  # the client reads the server's close last

    def stop(self) -> None:
        self.controller.stop()


def start_smtpd(
    handler: RecordingHandler | None = None,
    *,
    tls_context: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    require_starttls: bool = False,
    authenticator: Authenticator | None = None,
    auth_required: bool = False,
    auth_require_tls: bool = True,
) -> SmtpServer:
    """Start aiosmtpd in its own thread on a free loopback port.

    ``tls_context`` (a server context) makes it offer STARTTLS; ``implicit_tls`` makes it
    speak TLS from the first byte (port 465 style). AUTH is offered only with an
    ``authenticator``, and by default only once the session is encrypted (aiosmtpd
    counts STARTTLS only, so AUTH over implicit TLS needs ``auth_require_tls=False``).
    Call ``stop()`` when done (the ``smtpd`` fixture does)."""
    handler = handler if handler is not None else RecordingHandler()
    port = free_port()
    controller = _Controller(
        handler,
        hostname=HOST,
        port=port,
        ssl_context=implicit_tls,
        server_hostname="mx.test",  # else aiosmtpd asks socket.getfqdn()
        tls_context=tls_context,
        require_starttls=require_starttls,
        authenticator=authenticator,
        auth_required=auth_required,
        auth_require_tls=auth_require_tls,
        ready_timeout=5.0,
    )
    controller.start()
    return SmtpServer(controller, handler, authenticator, HOST, port)


Mode = Literal["silent", "greet", "drop_mid_data"]


class ScriptedServer:
    """A raw asyncio SMTP server that misbehaves in one way (runs on the test's loop).

    * ``silent``: accept the connection and never greet.
    * ``greet``: send ``greeting`` (e.g. ``"421 4.3.2 busy"``), then wait for the client to go.
    * ``drop_mid_data``: greet 220, answer 250 to everything, 354 to DATA, read
      ``drop_after`` bytes of the message, then close: the body never ends.

    ``lines`` keeps the command lines received, ``data`` the message bytes read."""

    def __init__(
        self, mode: Mode, *, greeting: str = "220 scripted ESMTP", drop_after: int = 16384
    ) -> None:
        self.mode = mode
        self.greeting = greeting.encode() + b"\r\n"
        self.drop_after = drop_after
        self.host = HOST
        self.port = 0
        self.connections = 0
        self.connected = asyncio.Event()  # set at the first connection
        self.lines: list[bytes] = []
        self.data = b""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.connected.set()
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.mode == "silent":
                await reader.read()  # until the client gives up
                return
            writer.write(self.greeting)
            await writer.drain()
            if self.mode == "greet":
                await reader.read()
                return
            await self._converse(reader, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            self._tasks.discard(task)

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            self.lines.append(line)
            verb = line[:4].upper()
            if verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                return
            if verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                while len(self.data) < self.drop_after:
                    chunk = await reader.read(self.drop_after - len(self.data))
                    if not chunk:
                        break
                    self.data += chunk
                return  # close mid-body
            writer.write(b"250 scripted\r\n")
            await writer.drain()


# Types of the conftest fixtures, for annotating tests.


class SmtpdFactory(Protocol):
    """The ``smtpd`` fixture."""

    def __call__(
        self,
        handler: RecordingHandler | None = None,
        *,
        starttls: bool | ssl.SSLContext = True,
        implicit_tls: bool | ssl.SSLContext = False,
        auth: bool = False,
        require_starttls: bool = False,
        auth_required: bool = False,
    ) -> SmtpServer: ...


class ScriptedFactory(Protocol):
    """The ``scripted`` fixture."""

    def __call__(
        self, mode: Mode, *, greeting: str = ..., drop_after: int = ...
    ) -> Awaitable[ScriptedServer]: ...


class SettingsFactory(Protocol):
    """The ``smtp_settings`` fixture."""

    def __call__(
        self, server: SmtpServer | ScriptedServer | None = None, **overrides: Any
    ) -> SmtpSettings: ...
