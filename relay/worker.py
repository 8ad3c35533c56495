"""The delivery worker: claims due items (urgent notices first), delivers them with a
``Sender``, records each outcome, and keeps the database tidy after purging bodies.

The worker is the only writer of delivery outcomes. ``WorkerThread`` runs it on an
event loop of its own, in a thread of its own, beside the intake's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread

from relay.compose import Draft, render_bytes
from relay.delivery import Sender, backoff, retry_recipient
from relay.errors import (
    DeliveryError,
    HeldDelivery,
    OutboxUnavailable,
    PermanentDelivery,
    TransientDelivery,
)
from relay.metrics import Metrics
from relay.outbox import Item, SqliteOutbox
from relay.settings import DeliverySettings

log = logging.getLogger("relay.delivery")
T = TypeVar("T")

TIDY_AFTER = 1.0  # seconds from purging a delivered body to the checkpoint that drops it
KEEP_OPEN = 5.0  # seconds an idle SMTP connection is kept for the next message


@dataclass
class Hold:
    reason: str
    since: float


class Worker:
    """Claims due items one at a time (urgent notices first) and delivers them, over
    one SMTP connection while there is a backlog. One per process; ``WorkerThread``
    runs it on a loop of its own beside the intake's."""

    def __init__(
        self,
        outbox: SqliteOutbox,
        sender: Sender,
        settings: DeliverySettings,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.hold: Hold | None = None
        self._wake = anyio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop run() is on
        self._reaped_at = float("-inf")
        self._purged_at: float | None = None  # monotonic time of the first untidied purge
        self._active_at = float("-inf")  # monotonic time of the last delivery
        # On a loop of its own (WorkerThread) the worker calls the outbox directly: that
        # loop has nothing else to run meanwhile, and each hop to a pool thread costs
        # two more turns at the interpreter lock, which a busy intake makes dear.
        self.inline_outbox = False

    async def _db(self, call: Callable[[], T]) -> T:
        """Run an outbox call: inline on the worker's own loop, else in a thread."""
        if self.inline_outbox:
            return call()
        return await anyio.to_thread.run_sync(call)

    def wake(self) -> None:
        """Called after an enqueue so new mail goes out without waiting for the poll;
        safe from any thread (the intake's loop is not the worker's)."""
        loop = self._loop
        if loop is None or _running_loop() is loop:
            self._wake.set()
        elif not self._wake.is_set():
            # The loop may be gone (shutdown): the poll or the next start finds the item.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._wake = anyio.Event()  # bound to this loop, which may not be the creator's
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    delivered = await self.step()
                    await self.tidy(idle=not delivered)
                except OutboxUnavailable as exc:
                    # A lock held past busy_timeout (a backup, a purge) or a full disk:
                    # wait and try again; the intake answers 503 meanwhile.
                    log.error("outbox unavailable; delivery paused", extra={"error": str(exc)})
                    delivered = False
                if not delivered:
                    await self._idle()
        finally:
            with anyio.CancelScope(shield=True):
                await self.sender.close()

    async def _idle(self) -> None:
        wait = self.settings.hold_interval if self.hold else self.settings.poll_interval
        if time.monotonic() - self._active_at >= KEEP_OPEN:
            await self.sender.close()  # nothing sent for a while: free the server's slot
        else:
            wait = min(wait, KEEP_OPEN)
        with anyio.move_on_after(wait):
            await self._wake.wait()
        self._wake = anyio.Event()

    async def tidy(self, *, idle: bool = False) -> None:
        """Checkpoint the WAL once delivered bodies were purged: at most TIDY_AFTER
        seconds after the first purge, at once when the queue runs dry. Below the disk
        reserve, also hand the freed pages back to the file system."""
        vacuum = not self.outbox.reserve.has_room()
        if self._purged_at is None:
            if vacuum and idle:
                await self._db(lambda: self.outbox.tidy(vacuum=True))
            return
        if not idle and time.monotonic() - self._purged_at < TIDY_AFTER:
            return
        if await self._db(lambda: self.outbox.tidy(vacuum=vacuum)):
            self._purged_at = None

    async def step(self) -> bool:
        """Reap expired leases (at most once a second), then deliver one due item.
        False when nothing was due or the queue is held."""
        now = self.clock()
        if not now - 1.0 < self._reaped_at <= now:  # also reaps after the clock jumps back
            await self._db(lambda: self.outbox.reap(now=now))
            self._reaped_at = now
        return await self._claim_and_deliver(None)

    async def deliver_now(self, item_id: str) -> bool:
        """Deliver one named queued item at once (send-test), then close the connection;
        False if it was not queued."""
        try:
            return await self._claim_and_deliver(item_id)
        finally:
            await self.tidy(idle=True)
            await self.sender.close()

    async def _claim_and_deliver(self, item_id: str | None) -> bool:
        now = self.clock()
        item = await self._db(
            lambda: self.outbox.claim(now=now, lease=self.settings.lease_seconds, item_id=item_id)
        )
        if item is None:
            return False
        try:
            return await self._deliver(item)
        except BaseException:
            # Cancelled (shutdown) or crashed mid-send: hand the claim back at once. If
            # even that fails (a full disk), the lease runs out and the item comes back.
            with anyio.CancelScope(shield=True), contextlib.suppress(OutboxUnavailable):
                await self._db(lambda: self.outbox.release(item.id, now=self.clock()))
            raise

    async def _deliver(self, item: Item) -> bool:
        try:
            message = render_bytes(Draft.from_json(item.body or b""))
        except (ValueError, TypeError, KeyError) as exc:
            # Cannot happen for drafts the intake made; if it does, keep it for review.
            await self._dead(item, f"message could not be built ({type(exc).__name__})",
                             list(item.recipients), dict(item.failed))  # fmt: skip
            return True
        try:
            refused = await self.sender.send(item, message)
        except HeldDelivery as exc:
            await self._db(lambda: self.outbox.release(item.id, now=self.clock()))
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
            await self._db(lambda: self.outbox.mark_sent(item.id, now=now))
            self._active_at = time.monotonic()
            if self._purged_at is None:
                self._purged_at = self._active_at
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
        await self._db(
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
        await self._db(
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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class WorkerThread:
    """Runs a Worker on an event loop of its own, in a thread of its own.

    On the intake's loop every await of the worker waits behind each request in
    flight, so a flood of posts starved delivery to a few messages in ten seconds.
    On its own loop the worker only shares the interpreter lock, which the intake
    gives up at every socket call and every commit."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scope: anyio.CancelScope | None = None
        self._started = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="relay-delivery", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the worker (it hands back any claim and closes its connection) and
        wait for the thread to end."""
        if self._loop is not None and self._scope is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._scope.cancel)
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        try:
            anyio.run(self._body, backend_options={"use_uvloop": _has_uvloop()})
        finally:
            self._started.set()

    async def _body(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.worker.inline_outbox = True
        with anyio.CancelScope() as scope:
            self._scope = scope
            self._started.set()
            while True:
                try:
                    await self.worker.run()
                except Exception as exc:
                    # A bug, not a delivery failure: say so, turn /readyz red, go on.
                    log.critical("delivery worker failed", extra={"error": type(exc).__name__})
                    self.worker.hold = Hold(f"worker failed ({type(exc).__name__})", time.time())
                await anyio.sleep(1)


def _has_uvloop() -> bool:
    return importlib.util.find_spec("uvloop") is not None
