"""Delivery: senders (SMTP, maildir), the failure classifier, backoff and the worker.

The worker is the only writer of delivery outcomes. Every failure is classified once,
in ``classify``: transient (retry with backoff), permanent (dead-letter) or held (a
configuration fault such as TLS, certificate or AUTH: the queue waits, attempts are
not spent, and /readyz turns red until it clears).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosmtplib
import anyio
import anyio.to_thread

from relay.compose import Draft, render
from relay.errors import (
    DeliveryError,
    HeldDelivery,
    OutboxUnavailable,
    PermanentDelivery,
    TransientDelivery,
)
from relay.metrics import Metrics
from relay.outbox import Item, SqliteOutbox
from relay.settings import DeliverySettings, Settings, SmtpSettings

log = logging.getLogger("relay.delivery")

Refused = dict[str, int]  # recipient -> SMTP reply code
MAX_YIELD = 0.5  # seconds the worker waits for a busy intake between two messages


class Sender(Protocol):
    """Deliver one item's rendered message to ``item.recipients`` (never to addresses in
    the message's headers). Return the recipients refused (empty: all accepted), or
    raise a DeliveryError when the whole attempt failed."""

    async def send(self, item: Item, message: bytes) -> Refused: ...


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
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._context = tls_context(settings.ca_file)

    async def send(self, item: Item, message: bytes) -> Refused:
        s = self._settings
        try:
            errors, _ = await aiosmtplib.send(
                message,
                sender=item.sender,
                recipients=list(item.recipients),  # from configuration, never from headers
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
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return {r.recipient: r.code for r in exc.recipients}
        except Exception as exc:
            raise classify(exc) from exc
        return {rcpt: response.code for rcpt, response in errors.items()}


class MaildirSender:
    """Writes each message to ``<dir>/new/`` the maildir way (tmp, fsync, rename).
    The file name is derived from the item id, so a retry replaces rather than doubles."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)

    async def send(self, item: Item, message: bytes) -> Refused:
        try:
            await anyio.to_thread.run_sync(self._write, item, message)
        except OSError as exc:
            raise TransientDelivery(f"maildir write failed: {exc.strerror}") from exc
        return {}

    def _write(self, item: Item, message: bytes) -> None:
        name = f"{int(item.created_at)}.{item.id}.{socket.gethostname()}.eml"
        envelope = (
            f"Return-Path: <{item.sender}>\r\nX-Envelope-To: {', '.join(item.recipients)}\r\n"
        ).encode()
        tmp = self.maildir / "tmp" / name
        with tmp.open("wb") as fh:
            fh.write(envelope + message)
            fh.flush()
            os.fsync(fh.fileno())
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


@dataclass
class Hold:
    reason: str
    since: float


class Worker:
    """Claims due items one at a time and delivers them. One per process."""

    def __init__(
        self,
        outbox: SqliteOutbox,
        sender: Sender,
        settings: DeliverySettings,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.busy = busy
        self.hold: Hold | None = None
        self._wake = anyio.Event()
        self._reaped_at = float("-inf")

    def wake(self) -> None:
        """Called after an enqueue so new mail goes out without waiting for the poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                delivered = await self.step()
            except OutboxUnavailable as exc:
                # A lock held past busy_timeout (a backup, a purge) or a full disk: wait
                # and try again; the intake answers 503 meanwhile, nothing is lost.
                log.error("outbox unavailable; delivery paused", extra={"error": str(exc)})
                delivered = False
            if delivered:
                await self._yield_to_intake()
                continue
            wait = self.settings.hold_interval if self.hold else self.settings.poll_interval
            with anyio.move_on_after(wait):
                await self._wake.wait()
            self._wake = anyio.Event()

    async def _yield_to_intake(self) -> None:
        """Acknowledging a visitor comes before delivering a stored message: while the
        intake is busy, wait (up to MAX_YIELD per message, so delivery never stops)."""
        waited = 0.0
        while self.busy() and waited < MAX_YIELD:
            await anyio.sleep(0.01)
            waited += 0.01

    async def step(self) -> bool:
        """Reap expired leases (at most once a second), then deliver one due item.
        False when nothing was due or the queue is held."""
        now = self.clock()
        if not now - 1.0 < self._reaped_at <= now:  # also reaps after the clock jumps back
            await anyio.to_thread.run_sync(lambda: self.outbox.reap(now=now))
            self._reaped_at = now
        return await self._claim_and_deliver(None)

    async def deliver_now(self, item_id: str) -> bool:
        """Deliver one named queued item at once (send-test); False if it was not queued."""
        return await self._claim_and_deliver(item_id)

    async def _claim_and_deliver(self, item_id: str | None) -> bool:
        now = self.clock()
        item = await anyio.to_thread.run_sync(
            lambda: self.outbox.claim(now=now, lease=self.settings.lease_seconds, item_id=item_id)
        )
        if item is None:
            return False
        try:
            return await self._deliver(item)
        except BaseException:
            # Cancelled (shutdown) or crashed mid-send: hand the claim back at once.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    lambda: self.outbox.release(item.id, now=self.clock())
                )
            raise

    async def _deliver(self, item: Item) -> bool:
        try:
            message = render(Draft.from_json(item.body or b"")).as_bytes()
        except (ValueError, TypeError, KeyError) as exc:
            # Cannot happen for drafts the intake made; if it does, keep it for review.
            await self._dead(item, f"message could not be built ({type(exc).__name__})",
                             list(item.recipients), dict(item.failed))  # fmt: skip
            return True
        try:
            refused = await self.sender.send(item, message)
        except HeldDelivery as exc:
            await anyio.to_thread.run_sync(lambda: self.outbox.release(item.id, now=self.clock()))
            if self.hold is None:
                log.error("delivery held", extra={"reason": exc.reason, "code": exc.code})
                self.hold = Hold(exc.reason, self.clock())
            self.metrics.delivery_attempts.labels(result="held").inc()
            return False
        except DeliveryError as exc:
            self._clear_hold()
            await self._failed(item, exc, list(item.recipients), dict(item.failed))
            return True
        self._clear_hold()
        failed = dict(item.failed)
        retry = [r for r, code in refused.items() if retry_recipient(code)]
        failed.update({r: code for r, code in refused.items() if not retry_recipient(code)})
        if retry:
            worst = min(refused[r] for r in retry)
            await self._failed(
                item, TransientDelivery("recipient deferred", code=worst), retry, failed
            )
        elif failed:
            await self._dead(item, "recipient refused", list(failed), failed)
        else:
            now = self.clock()
            await anyio.to_thread.run_sync(lambda: self.outbox.mark_sent(item.id, now=now))
            self.metrics.delivery_attempts.labels(result="sent").inc()
            log.info("delivered", extra=_meta(item))
        return True

    async def _failed(
        self, item: Item, exc: DeliveryError, recipients: Sequence[str], failed: dict[str, int]
    ) -> None:
        error = f"{exc.reason}" + (f" {exc.code}" if exc.code else "")
        if isinstance(exc, PermanentDelivery):
            await self._dead(item, error, recipients, failed)
            return
        now = self.clock()
        delay = backoff(
            item.attempts + 1,
            initial=self.settings.retry_initial,
            maximum=self.settings.retry_max,
        )
        if now + delay > item.deadline:
            await self._dead(item, f"gave up after {item.attempts + 1} attempts: {error}",
                             recipients, failed)  # fmt: skip
            return
        await anyio.to_thread.run_sync(
            lambda: self.outbox.mark_retry(
                item.id, now=now, next_attempt_at=now + delay, error=error,
                recipients=recipients, failed=failed,
            )
        )  # fmt: skip
        self.metrics.delivery_attempts.labels(result="retry").inc()
        log.warning(
            "delivery deferred", extra={**_meta(item), "error": error, "retry_in": round(delay)}
        )

    async def _dead(
        self, item: Item, error: str, recipients: Sequence[str], failed: dict[str, int]
    ) -> None:
        now = self.clock()
        await anyio.to_thread.run_sync(
            lambda: self.outbox.mark_dead(
                item.id, now=now, error=error, recipients=recipients, failed=failed
            )
        )
        self.metrics.delivery_attempts.labels(result="dead").inc()
        self.metrics.dead_letters.inc()
        log.error(
            "delivery failed for good; item kept as dead", extra={**_meta(item), "error": error}
        )

    def _clear_hold(self) -> None:
        if self.hold is not None:
            log.warning(
                "delivery resumed", extra={"held_for": round(self.clock() - self.hold.since)}
            )
            self.hold = None


def _meta(item: Item) -> dict[str, object]:
    return {"item": item.id, "form": item.form_id, "kind": item.kind, "attempts": item.attempts + 1}
