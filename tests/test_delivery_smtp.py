"""SmtpSender and classify against a real SMTP server (aiosmtpd, or a scripted one for
faults aiosmtpd cannot make), one test per fault in RELIABILITY.md section 2."""

from __future__ import annotations

import inspect
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from typing import Any

import aiosmtplib
import aiosmtplib.errors
import pytest
import trustme

from relay.compose import Draft, render
from relay.delivery import SmtpSender, classify
from relay.errors import DeliveryError, HeldDelivery, PermanentDelivery, TransientDelivery
from relay.outbox import Item, NewItem, SqliteOutbox
from relay.settings import SmtpSettings
from tests.smtpd import (
    HOST,
    PASSWORD,
    USERNAME,
    RecordingHandler,
    ScriptedFactory,
    SettingsFactory,
    SmtpdFactory,
    free_port,
    server_context,
)

A = "frontdesk@clinic.example"
B = "billing@clinic.example"


@dataclass(frozen=True)
class Claimed:
    item: Item
    message: bytes  # what the worker renders from the item's draft


@pytest.fixture
def claim(outbox: SqliteOutbox, new_item: Callable[..., NewItem]) -> Callable[..., Claimed]:
    """``claim(**new_item_kwargs)``: enqueue an item and claim it, as the worker would."""

    def make(**kwargs: Any) -> Claimed:
        outbox.add([new_item(**kwargs)], now=1000.0, give_up_after=3600)
        item = outbox.claim(now=1000.0, lease=300)
        assert item is not None and item.body is not None
        return Claimed(item, render(Draft.from_json(item.body)).as_bytes())

    return make


async def send(settings: SmtpSettings, claimed: Claimed) -> dict[str, int]:
    return await SmtpSender(settings).send(claimed.item, claimed.message)


def nothing_sent(handler: RecordingHandler) -> bool:
    """No message, envelope or credentials reached the server."""
    verbs = {verb for verb, _ in handler.commands}
    return not handler.received and not verbs & {"AUTH", "MAIL", "RCPT", "DATA"}


# --- delivered ------------------------------------------------------------------------


async def test_delivered_with_starttls_and_auth(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """STARTTLS + AUTH delivery: exact bytes, envelope from the item, never from headers."""
    server = smtpd(auth_required=True, require_starttls=True)
    claimed = claim(
        recipients=[A, B], header_recipients=["someone@elsewhere.example"],
        sender="bounces@clinic.example",
    )  # fmt: skip

    refused = await send(smtp_settings(username=USERNAME, password=PASSWORD), claimed)

    assert refused == {}
    [got] = server.handler.received
    assert got.content == claimed.message
    assert got.mail_from == "bounces@clinic.example"
    assert got.rcpt_tos == [A, B]
    assert got.tls is True
    assert got.login == USERNAME.encode()
    headers = message_from_bytes(got.content, policy=policy.SMTP)
    assert headers["To"] == "someone@elsewhere.example"
    assert headers["Message-ID"] == claimed.item.message_id
    assert ("MAIL", False) not in server.handler.commands  # nothing in plaintext


async def test_security_none_delivers_in_plaintext_when_configured(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """security="none" sends in plaintext even where STARTTLS is offered; only when set."""
    server = smtpd(starttls=True)
    claimed = claim()

    assert await send(smtp_settings(security="none"), claimed) == {}
    assert await send(smtp_settings(), claimed) == {}

    plain, default = server.handler.received
    assert plain.tls is False
    assert default.tls is True
    assert plain.content == default.content == claimed.message


async def test_implicit_tls_delivers(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """security="tls" speaks TLS from the first byte and delivers."""
    server = smtpd(implicit_tls=True)
    claimed = claim()

    assert await send(smtp_settings(security="tls"), claimed) == {}

    [got] = server.handler.received
    assert got.tls is True
    assert all(encrypted for _, encrypted in server.handler.commands)


# --- connection and greeting ------------------------------------------------------------


async def test_connection_refused_is_transient(
    smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """Nobody listening on the port: TransientDelivery."""
    settings = SmtpSettings(host=HOST, port=free_port(), timeout=2)
    with pytest.raises(TransientDelivery) as caught:
        await send(settings, claim())
    assert isinstance(caught.value.__cause__, aiosmtplib.SMTPConnectError)


async def test_no_greeting_times_out_as_transient(
    scripted: ScriptedFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """Connected, but no 220 ever comes: TransientDelivery after the timeout."""
    server = await scripted("silent")
    with pytest.raises(TransientDelivery) as caught:
        await send(smtp_settings(timeout=0.5), claim())
    assert isinstance(caught.value.__cause__, aiosmtplib.SMTPTimeoutError)
    assert server.connections == 1


async def test_greeting_421_is_transient(
    scripted: ScriptedFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """A 421 greeting (busy, closing): TransientDelivery with code 421."""
    await scripted("greet", greeting="421 4.3.2 too busy, try later")
    with pytest.raises(TransientDelivery) as caught:
        await send(smtp_settings(), claim())
    assert caught.value.code == 421


async def test_greeting_554_is_held(
    scripted: ScriptedFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """A 554 greeting refuses every message: HeldDelivery (configuration), code 554."""
    await scripted("greet", greeting="554 5.7.1 no service for you")
    with pytest.raises(HeldDelivery) as caught:
        await send(smtp_settings(), claim())
    assert caught.value.code == 554


# --- sender --------------------------------------------------------------------------------


async def test_sender_refused_451_is_transient(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """451 at MAIL FROM: TransientDelivery with code 451."""
    smtpd(RecordingHandler(mail_reply="451 4.3.0 try later"))
    with pytest.raises(TransientDelivery) as caught:
        await send(smtp_settings(), claim())
    assert caught.value.code == 451


async def test_sender_refused_550_is_held(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """550 at MAIL FROM: HeldDelivery (our one sender would kill every message)."""
    server = smtpd(RecordingHandler(mail_reply="550 5.7.1 sender not allowed"))
    with pytest.raises(HeldDelivery) as caught:
        await send(smtp_settings(), claim())
    assert caught.value.code == 550
    assert server.handler.received == []


# --- recipients ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "code"), [("451 4.2.0 mailbox busy", 451), ("550 5.1.1 no such user", 550)]
)
async def test_only_recipient_refused_returns_refused(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    claim: Callable[..., Claimed],
    reply: str,
    code: int,
) -> None:
    """The only recipient refused at RCPT: no exception, {rcpt: code}, nothing delivered."""
    server = smtpd(RecordingHandler(rcpt_replies={A: reply}))
    refused = await send(smtp_settings(), claim(recipients=[A]))
    assert refused == {A: code}
    assert server.handler.received == []


@pytest.mark.parametrize("code", [451, 550])
async def test_one_of_two_recipients_refused(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed], code: int
) -> None:
    """One of two refused at RCPT: the other is delivered, the refused one returned."""
    server = smtpd(RecordingHandler(rcpt_replies={B: f"{code} refused"}))
    refused = await send(smtp_settings(), claim(recipients=[A, B]))
    assert refused == {B: code}
    [got] = server.handler.received
    assert got.rcpt_tos == [A]


# --- DATA -------------------------------------------------------------------------------


async def test_451_after_data_is_transient(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """451 to the final dot: TransientDelivery with code 451."""
    smtpd(RecordingHandler(data_reply="451 4.3.0 try later"))
    with pytest.raises(TransientDelivery) as caught:
        await send(smtp_settings(), claim())
    assert caught.value.code == 451


@pytest.mark.parametrize("reply", ["550 5.7.1 no", "554 5.6.0 content rejected"])
async def test_5xx_after_data_is_permanent(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed], reply: str
) -> None:
    """550/554 to the final dot: PermanentDelivery with that code."""
    smtpd(RecordingHandler(data_reply=reply))
    with pytest.raises(PermanentDelivery) as caught:
        await send(smtp_settings(), claim())
    assert caught.value.code == int(reply[:3])


async def test_drop_mid_data_is_transient(
    scripted: ScriptedFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """The server closes half-way through the message body: TransientDelivery."""
    server = await scripted("drop_mid_data", drop_after=16384)
    claimed = claim(message="\n".join(["A line of a long message."] * 40000))
    assert len(claimed.message) > 500_000
    with pytest.raises(TransientDelivery):
        await send(smtp_settings(security="none"), claimed)
    assert 0 < len(server.data) <= 16384
    assert not server.data.endswith(b"\r\n.\r\n")


async def test_drop_after_final_dot_is_transient(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """The server reads the whole message then drops without a reply: TransientDelivery
    (ambiguous: it may have queued the message)."""
    server = smtpd(RecordingHandler(drop_after_data=True))
    claimed = claim()
    with pytest.raises(TransientDelivery) as caught:
        await send(smtp_settings(), claimed)
    assert isinstance(caught.value.__cause__, aiosmtplib.SMTPServerDisconnected)
    [got] = server.handler.received
    assert got.content == claimed.message


async def test_no_reply_after_final_dot_is_transient(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """No reply to the final dot within the timeout: TransientDelivery."""
    smtpd(RecordingHandler(data_delay=3.0))
    with pytest.raises(TransientDelivery) as caught:
        await send(smtp_settings(timeout=0.5), claim())
    assert isinstance(caught.value.__cause__, aiosmtplib.SMTPReadTimeoutError)


# --- TLS and AUTH: configuration faults hold the queue ------------------------------------


async def test_bad_certificate_at_starttls_is_held(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """STARTTLS to a certificate from a CA we do not trust: HeldDelivery, nothing sent."""
    server = smtpd(starttls=server_context(trustme.CA()), auth=True)
    with pytest.raises(HeldDelivery) as caught:
        await send(smtp_settings(username=USERNAME, password=PASSWORD), claim())
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    assert nothing_sent(server.handler)


async def test_bad_certificate_with_implicit_tls_is_held(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """security="tls" to a certificate from a CA we do not trust: HeldDelivery."""
    server = smtpd(implicit_tls=server_context(trustme.CA()))
    with pytest.raises(HeldDelivery):
        await send(smtp_settings(security="tls"), claim())
    assert nothing_sent(server.handler)


async def test_certificate_for_another_host_is_held(
    smtpd: SmtpdFactory,
    smtp_settings: SettingsFactory,
    claim: Callable[..., Claimed],
    ca: trustme.CA,
) -> None:
    """A certificate from the trusted CA, but for another host name: HeldDelivery."""
    server = smtpd(starttls=server_context(ca, "mx.elsewhere.example"))
    with pytest.raises(HeldDelivery):
        await send(smtp_settings(), claim())
    assert nothing_sent(server.handler)


async def test_auth_535_is_held(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """Wrong password (535): HeldDelivery with code 535, no message sent."""
    server = smtpd(auth_required=True)
    with pytest.raises(HeldDelivery) as caught:
        await send(smtp_settings(username=USERNAME, password="wrong"), claim())
    assert caught.value.code == 535
    assert server.authenticator is not None
    assert server.authenticator.attempts  # PLAIN, then LOGIN: all refused
    assert set(server.authenticator.attempts) == {USERNAME.encode()}
    assert server.handler.received == []
    assert not {verb for verb, _ in server.handler.commands} & {"MAIL", "RCPT", "DATA"}


async def test_starttls_not_offered_is_held_and_nothing_sent(
    smtpd: SmtpdFactory, smtp_settings: SettingsFactory, claim: Callable[..., Claimed]
) -> None:
    """security="starttls" but the server offers no STARTTLS: HeldDelivery, and nothing
    (no credentials, no envelope, no message) goes out in plaintext."""
    server = smtpd(starttls=False, auth=True)
    with pytest.raises(HeldDelivery):
        await send(smtp_settings(username=USERNAME, password=PASSWORD), claim())
    assert [verb for verb, _ in server.handler.commands] == ["EHLO"]
    assert nothing_sent(server.handler)


# --- classify: every aiosmtplib exception is mapped ------------------------------------------

_ARGS: dict[str, object] = {
    "message": "reason",
    "sender": "no-reply@clinic.example",
    "recipient": A,
}


def _instances(cls: type[BaseException]) -> list[BaseException]:
    """Instances of an aiosmtplib exception class, with a 4xx and a 5xx code if it has one."""
    params = list(inspect.signature(cls).parameters)
    if params == ["recipients"]:
        refused = aiosmtplib.SMTPRecipientRefused(550, "no", A)
        return [cls([refused])]
    out = []
    for code in (451, 535, 550, 554) if "code" in params else (None,):
        args = [code if p == "code" else _ARGS[p] for p in params]
        out.append(cls(*args))
    return out


@pytest.mark.parametrize("name", aiosmtplib.errors.__all__)
def test_classify_maps_every_aiosmtplib_exception(name: str) -> None:
    """Every exception aiosmtplib exports (any code) maps to a DeliveryError subclass."""
    cls = getattr(aiosmtplib.errors, name)
    for exc in _instances(cls):
        result = classify(exc)
        assert isinstance(result, DeliveryError)
        assert type(result) in (TransientDelivery, PermanentDelivery, HeldDelivery)


@pytest.mark.parametrize(
    ("exc", "expected", "code"),
    [
        (aiosmtplib.SMTPConnectError("refused"), TransientDelivery, None),
        (aiosmtplib.SMTPConnectTimeoutError("no greeting"), TransientDelivery, None),
        (aiosmtplib.SMTPReadTimeoutError("no reply"), TransientDelivery, None),
        (aiosmtplib.SMTPServerDisconnected("EOF"), TransientDelivery, None),
        (aiosmtplib.SMTPConnectResponseError(421, "busy"), TransientDelivery, 421),
        (aiosmtplib.SMTPConnectResponseError(554, "go away"), HeldDelivery, 554),
        (aiosmtplib.SMTPHeloError(501, "bad helo"), HeldDelivery, 501),
        (aiosmtplib.SMTPSenderRefused(451, "later", "s@x.example"), TransientDelivery, 451),
        (aiosmtplib.SMTPSenderRefused(550, "no", "s@x.example"), HeldDelivery, 550),
        (aiosmtplib.SMTPSenderRefused(552, "too big", "s@x.example"), PermanentDelivery, 552),
        (aiosmtplib.SMTPDataError(451, "later"), TransientDelivery, 451),
        (aiosmtplib.SMTPDataError(552, "too big"), PermanentDelivery, 552),
        (aiosmtplib.SMTPDataError(554, "no"), PermanentDelivery, 554),
        (aiosmtplib.SMTPAuthenticationError(535, "bad"), HeldDelivery, 535),
        (aiosmtplib.SMTPAuthenticationError(454, "later"), TransientDelivery, 454),
        (aiosmtplib.SMTPNotSupported("SMTPUTF8"), PermanentDelivery, None),
        (aiosmtplib.SMTPException("STARTTLS not supported"), HeldDelivery, None),
        (ssl.SSLCertVerificationError("bad cert"), HeldDelivery, None),
        (ConnectionResetError("reset"), TransientDelivery, None),
        (TimeoutError(), TransientDelivery, None),
        (RuntimeError("surprise"), TransientDelivery, None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_classify_table(
    exc: BaseException, expected: type[DeliveryError], code: int | None
) -> None:
    """classify follows RELIABILITY.md section 2, code by code."""
    result = classify(exc)
    assert type(result) is expected
    assert result.code == code


def test_classify_passes_delivery_errors_through() -> None:
    """A DeliveryError is returned as it is."""
    exc = PermanentDelivery("already classified", code=550)
    assert classify(exc) is exc


def test_classify_tls_failure_wrapped_in_connect_error_is_held() -> None:
    """Implicit TLS reports a bad certificate as SMTPConnectError caused by an SSL error."""
    exc = aiosmtplib.SMTPConnectError("connect failed")
    exc.__cause__ = ssl.SSLCertVerificationError("bad cert")
    assert type(classify(exc)) is HeldDelivery
