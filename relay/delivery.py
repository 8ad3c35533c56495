"""Delivery: senders (SMTP, maildir), the failure classifier and backoff.

Every failure is classified once, in ``classify``: transient (retry with backoff),
permanent (dead-letter) or held (a configuration fault such as TLS, certificate or
AUTH: the queue waits, attempts are not spent, and /readyz turns red until it clears).
The worker that uses them is in ``relay.worker``.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import aiosmtplib
import anyio
import anyio.to_thread

from relay.errors import (
    ConfigError,
    DeliveryError,
    HeldDelivery,
    PermanentDelivery,
    TransientDelivery,
)
from relay.outbox import Item
from relay.settings import Settings, SmtpSettings
from relay.storage import private_dir, unusable_folder, write_private

log = logging.getLogger("relay.delivery")

Refused = dict[str, int]  # recipient -> SMTP reply code


class Sender(Protocol):
    """Deliver one item's rendered message to ``item.recipients`` (never to addresses in
    the message's headers). Return the recipients refused (empty: all accepted), or
    raise a DeliveryError when the whole attempt failed. ``close()`` ends any
    connection kept open between messages (the worker calls it when idle)."""

    async def send(self, item: Item, message: bytes) -> Refused: ...

    async def close(self) -> None: ...


def make_sender(settings: Settings) -> Sender:
    """SMTP when ``smtp.host`` is set; otherwise the local maildir under the data dir."""
    if settings.smtp.enabled:
        return SmtpSender(settings.smtp)
    return MaildirSender(settings.storage.maildir)


def tls_context(ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class SmtpSender:
    """One SMTP connection, kept open across a backlog (a connection with TLS and AUTH
    costs several round trips and a handshake; a message on an open one, four).

    Any failure drops the connection, so the next message starts on a fresh one. A
    reused connection that turns out to be gone (the server timed it out while we
    were idle) is replaced once at once rather than counted as a failed attempt."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._context = tls_context(settings.ca_file)
        self._smtp: aiosmtplib.SMTP | None = None

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username or None,
            password=s.password.get_secret_value() or None,
            use_tls=s.security == "tls",
            # Explicit True: the default (None) silently falls back to plaintext.
            start_tls=s.security == "starttls",
            validate_certs=True,
            tls_context=self._context if s.security != "none" else None,
            timeout=s.timeout,
        )
        await smtp.connect()  # greeting, EHLO, STARTTLS and AUTH as configured
        return smtp

    async def send(self, item: Item, message: bytes) -> Refused:
        for fresh_retry in (False, True):
            reused = self.connected
            try:
                if not reused:
                    await self.close()
                    self._smtp = await self._connect()
                assert self._smtp is not None
                errors, _ = await self._smtp.sendmail(
                    item.sender,
                    list(item.recipients),
                    message,  # recipients from config only
                )
            except aiosmtplib.SMTPRecipientsRefused as exc:
                return {r.recipient: r.code for r in exc.recipients}  # envelope was reset
            except Exception as exc:
                await self._abort()
                stale = isinstance(exc, aiosmtplib.SMTPServerDisconnected | ConnectionError)
                if reused and stale and not fresh_retry:
                    continue
                raise classify(exc) from exc
            return {rcpt: response.code for rcpt, response in errors.items()}
        raise AssertionError("unreachable: the second pass returns or raises")

    async def close(self) -> None:
        """QUIT politely (a short wait), else drop the connection."""
        smtp, self._smtp = self._smtp, None
        if smtp is None or not smtp.is_connected:
            return
        try:
            with anyio.fail_after(2):
                await smtp.quit()
        except Exception:
            smtp.close()

    async def _abort(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


class MaildirSender:
    """Writes each message to ``<dir>/new/`` the maildir way (tmp, fsync, rename).
    The file name is derived from the item id, so a retry replaces rather than doubles."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        try:
            for sub in ("tmp", "new", "cur"):
                private_dir(maildir / sub)
        except OSError as exc:
            raise ConfigError(unusable_folder(maildir, exc)) from None

    async def send(self, item: Item, message: bytes) -> Refused:
        try:
            await anyio.to_thread.run_sync(self._write, item, message)
        except OSError as exc:
            raise TransientDelivery(f"maildir write failed: {exc.strerror}") from exc
        return {}

    async def close(self) -> None:
        """Nothing is kept open between messages."""

    def _write(self, item: Item, message: bytes) -> None:
        name = f"{int(item.created_at)}.{item.id}.{socket.gethostname()}.eml"
        envelope = (
            f"Return-Path: <{item.sender}>\r\nX-Envelope-To: {', '.join(item.recipients)}\r\n"
        ).encode()
        tmp = self.maildir / "tmp" / name
        write_private(tmp, envelope + message)  # 0600: the message is health data
        tmp.replace(self.maildir / "new" / name)
        directory = os.open(self.maildir / "new", os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def retry_recipient(code: int) -> bool:
    """A refused recipient worth retrying: any 4xx, and 552 at RCPT, which there means
    too many recipients (RFC 5321 4.5.3.1.10), not a message too large."""
    return 400 <= code < 500 or code == 552


def _by_code(code: int, reason: str) -> DeliveryError:
    if 400 <= code < 500:
        return TransientDelivery(reason, code=code)
    return PermanentDelivery(reason, code=code)


def classify(exc: BaseException) -> DeliveryError:
    """Map any exception from one SMTP attempt to transient, permanent or held.

    Order matters: aiosmtplib's classes overlap (a connect timeout is both a timeout
    and a connect error), so the most specific cases come first.
    """
    name = type(exc).__name__
    if isinstance(exc, DeliveryError):
        return exc
    # A bad certificate at STARTTLS arrives as a raw ssl error, not an SMTPException.
    if isinstance(exc, ssl.SSLError | ssl.CertificateError) or isinstance(
        exc.__cause__, ssl.SSLError | ssl.CertificateError
    ):
        return HeldDelivery(f"TLS failure ({type(exc.__cause__ or exc).__name__})")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        if exc.code == 454:  # temporary authentication failure
            return TransientDelivery(name, code=exc.code)
        return HeldDelivery("authentication refused", code=exc.code)
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError | aiosmtplib.SMTPHeloError):
        # A 5xx greeting or HELO refusal turns every message away: configuration.
        if exc.code >= 500:
            return HeldDelivery(f"server refused us ({name})", code=exc.code)
        return TransientDelivery(name, code=exc.code)
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        # Our envelope sender is the same for every message, so a 5xx here would
        # dead-letter the whole queue; hold instead (except size, which is per message).
        if exc.code >= 500 and exc.code != 552:
            return HeldDelivery("sender address refused", code=exc.code)
        return _by_code(exc.code, name)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        # SmtpSender handles this per recipient; classified whole, the mildest code wins.
        codes = [r.code for r in exc.recipients] or [550]
        if any(retry_recipient(c) for c in codes):
            return TransientDelivery(name, code=min(codes))
        return PermanentDelivery(name, code=min(codes))
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentDelivery(name)  # e.g. SMTPUTF8 needed but not offered
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(exc.code, name)
    if isinstance(
        exc,
        aiosmtplib.SMTPServerDisconnected
        | aiosmtplib.SMTPTimeoutError
        | aiosmtplib.SMTPConnectError,
    ):
        return TransientDelivery(name)
    if isinstance(exc, aiosmtplib.SMTPException):
        # What remains is the client refusing to go on: STARTTLS or AUTH not offered.
        return HeldDelivery(f"server lacks a required feature ({name})")
    if isinstance(exc, OSError | TimeoutError):
        return TransientDelivery(name)
    return TransientDelivery(f"unexpected {name}")


def backoff(
    attempt: int,
    *,
    initial: float,
    maximum: float,
    jitter: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait before try ``attempt + 1``: ``min(max, initial * 2**(n-1))``
    plus up to 10% jitter so a backlog does not retry in lock-step."""
    try:
        base = min(maximum, initial * 2 ** (attempt - 1))
    except OverflowError:
        base = maximum
    return float(min(maximum, base + jitter(0, base / 10)))
