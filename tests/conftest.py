"""Shared fixtures: real SMTP servers on loopback, TLS certificates, settings, outbox.

* ``ca``: a trustme certificate authority (one per session). The client trusts it via
  ``smtp_settings().ca_file``; a server certificate from any other ``trustme.CA()`` is
  a "bad certificate".
* ``smtpd``: starts aiosmtpd servers (STARTTLS offered by default), stopped at teardown.
* ``scripted``: starts ``tests.smtpd.ScriptedServer`` for faults aiosmtpd cannot make.
* ``smtp_settings``: ``SmtpSettings`` pointing at the last server started in the test.
* ``outbox``: a real ``SqliteOutbox`` in ``tmp_path``; ``new_item``: an outbox item
  holding a real draft from ``relay.compose``, as the intake stores it.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from relay.compose import draft_submission, envelope_sender
from relay.outbox import NewItem, SqliteOutbox
from relay.settings import SmtpSettings
from tests.smtpd import (
    Authenticator,
    Mode,
    RecordingHandler,
    ScriptedFactory,
    ScriptedServer,
    SettingsFactory,
    SmtpdFactory,
    SmtpServer,
    server_context,
    start_smtpd,
)

FROM_ADDRESS = "Clinic website <no-reply@clinic.example>"
RECIPIENTS = ("frontdesk@clinic.example",)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The certificate authority the client trusts (``smtp_settings().ca_file``)."""
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    """The ``ca`` certificate as a PEM file, as an operator would configure it."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


class _Servers:
    """The servers started in one test; the latest is the default target."""

    def __init__(self) -> None:
        self.all: list[SmtpServer | ScriptedServer] = []

    @property
    def latest(self) -> SmtpServer | ScriptedServer:
        if not self.all:
            raise LookupError("start a server (smtpd or scripted) before asking for settings")
        return self.all[-1]


@pytest.fixture
def _servers() -> _Servers:
    return _Servers()


@pytest.fixture
async def smtpd(ca: trustme.CA, _servers: _Servers) -> AsyncIterator[SmtpdFactory]:
    """Start an aiosmtpd server: ``smtpd(handler=None, *, starttls=True, implicit_tls=False,
    auth=False, require_starttls=False, auth_required=False)``.

    ``starttls``/``implicit_tls``: True for a certificate from ``ca`` (trusted), or a
    server ``ssl.SSLContext`` of your own (e.g. ``server_context(trustme.CA())``
    for an untrusted one); False for none. ``auth``: offer AUTH (after STARTTLS) for
    ``tests.smtpd.USERNAME``/``PASSWORD``. Every server is stopped at teardown, after
    the test's loop has let its clients finish closing (so request it from async tests)."""
    started: list[SmtpServer] = []

    def context(value: bool | ssl.SSLContext) -> ssl.SSLContext | None:
        if isinstance(value, ssl.SSLContext):
            return value
        return server_context(ca) if value else None

    def make(
        handler: RecordingHandler | None = None,
        *,
        starttls: bool | ssl.SSLContext = True,
        implicit_tls: bool | ssl.SSLContext = False,
        auth: bool = False,
        require_starttls: bool = False,
        auth_required: bool = False,
    ) -> SmtpServer:
        implicit = context(implicit_tls)
        server = start_smtpd(
            handler,
            tls_context=None if implicit else context(starttls),
            implicit_tls=implicit,
            require_starttls=require_starttls,
            authenticator=Authenticator() if auth or auth_required else None,
            auth_required=auth_required,
        )
        started.append(server)
        _servers.all.append(server)
        return server

    yield make
    for server in started:
        await server.quiesce()
        server.stop()


@pytest.fixture
async def scripted(_servers: _Servers) -> AsyncIterator[ScriptedFactory]:
    """Start a misbehaving server: ``await scripted(mode, **kwargs)`` with the arguments
    of ``tests.smtpd.ScriptedServer``. Closed at teardown."""
    started: list[ScriptedServer] = []

    async def make(mode: Mode, **kwargs: Any) -> ScriptedServer:
        server = await ScriptedServer(mode, **kwargs).start()
        started.append(server)
        _servers.all.append(server)
        return server

    yield make
    for server in started:
        await server.close()


@pytest.fixture
def smtp_settings(ca_file: Path, _servers: _Servers) -> SettingsFactory:
    """``smtp_settings(server=None, **overrides)``: SmtpSettings for ``server`` (default:
    the last one started in this test) with security="starttls", the ``ca`` PEM as
    ``ca_file`` and a 5 s timeout; keyword overrides win (e.g. ``security="tls"``,
    ``username=USERNAME``, ``timeout=0.5``)."""

    def make(server: SmtpServer | ScriptedServer | None = None, **overrides: Any) -> SmtpSettings:
        target = server if server is not None else _servers.latest
        values: dict[str, Any] = {
            "host": target.host,
            "port": target.port,
            "security": "starttls",
            "ca_file": str(ca_file),
            "timeout": 5.0,
            "from_address": FROM_ADDRESS,
        }
        values.update(overrides)
        return SmtpSettings(**values)

    return make


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[SqliteOutbox]:
    """A real SQLite outbox (WAL, synchronous=FULL) in ``tmp_path``; closed at teardown."""
    box = SqliteOutbox(tmp_path / "outbox.sqlite3")
    yield box
    box.close()


def compose_item(
    *,
    recipients: Sequence[str] = RECIPIENTS,
    header_recipients: Sequence[str] | None = None,
    sender: str | None = None,
    message: str = "Please call me back about my appointment.",
    submission_id: str | None = None,
) -> NewItem:
    """An outbox item holding a draft made by ``relay.compose`` (as the intake stores it).

    ``header_recipients`` puts other addresses in the To header than in the envelope
    (``recipients``), so a test can tell where a delivery took its addresses from."""
    submission_id = submission_id or uuid.uuid4().hex
    draft = draft_submission(
        fields={"name": "Ada Lovelace", "email": "ada@example.org", "message": message},
        field_order=["name", "email", "message"],
        multiline={"message"},
        form_id="contact",
        subject_template="Website contact from {name}",
        from_address=FROM_ADDRESS,
        recipients=list(header_recipients or recipients),
        submission_id=submission_id,
        verdict="clean",
        medical_policy="reject",
        reply_to="ada@example.org",
        now=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )
    return NewItem(
        id=submission_id,
        submission_id=submission_id,
        form_id="contact",
        kind="submission",
        verdict="clean",
        message_id=draft.message_id,
        sender=sender or envelope_sender(FROM_ADDRESS),
        recipients=list(recipients),
        body=draft.to_json(),
    )


@pytest.fixture
def new_item() -> Callable[..., NewItem]:
    """``new_item(**kwargs)``: see ``compose_item`` (recipients, header_recipients,
    sender, message, submission_id)."""
    return compose_item
