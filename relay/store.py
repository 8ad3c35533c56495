"""The storage edge of the request path: the only place where serving a request
enters a worker thread (SQLite calls block). Everything above it is pure or async.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio.to_thread

from relay.errors import OutboxUnavailable
from relay.inbox import InboxStore
from relay.outbox import GroupCommit, NewItem, SqliteOutbox, Stats


@dataclass(frozen=True)
class Held:
    """A message for the encrypted inbox (the ``hold`` policy)."""

    id: str
    form_id: str
    received_at: float
    fields: dict[str, str] = field(repr=False)
    reasons: list[dict[str, object]] = field(repr=False)
    language: str


class Store:
    """The outbox (and the hold inbox) as the intake, ``/readyz`` and ``/metrics`` use
    them, from async code."""

    def __init__(
        self, outbox: SqliteOutbox, *, give_up_after: float, clock: Callable[[], float],
        inbox: InboxStore | None = None,
    ) -> None:  # fmt: skip
        self.outbox = outbox
        self.inbox = inbox
        self._clock = clock
        self._commits = GroupCommit(outbox, give_up_after=give_up_after)

    async def keep_held(self, held: Held, item: NewItem) -> str:
        """Seal ``held`` into the inbox, then commit ``item`` (the notice to staff, or the
        urgent notice of a crisis); the state of ``item``. If the notice cannot be
        stored, the held message is taken back out and OutboxUnavailable raised: nothing
        was acknowledged, so nothing may stay behind half-done."""
        inbox = self.inbox
        # Urgent crisis notices are taken inside the disk reserve (see GroupCommit.add).
        if inbox is None or (item.kind != "urgent" and not self.outbox.reserve.has_room()):
            raise OutboxUnavailable("the inbox cannot take a message now")
        try:
            await anyio.to_thread.run_sync(
                lambda: inbox.add_held(
                    held.id,
                    held.form_id,
                    held.received_at,
                    held.fields,
                    held.reasons,
                    held.language,
                )  # fmt: skip
            )
        except sqlite3.Error as exc:
            raise OutboxUnavailable(f"inbox write failed: {exc.sqlite_errorname}") from exc
        try:
            return await self.keep(item)
        except OutboxUnavailable:
            await anyio.to_thread.run_sync(lambda: inbox.discard(held.id))
            raise

    async def keep(self, item: NewItem) -> str:
        """Commit one item (sharing the fsync with concurrent posts); its state,
        ``queued`` or ``suspected``. Raises OutboxUnavailable: nothing was stored."""
        return await self._commits.add(item, clock=self._clock)

    async def writable(self, *, now: float) -> bool:
        return await anyio.to_thread.run_sync(lambda: self.outbox.writable(now=now))

    async def stats(self) -> Stats:
        return await anyio.to_thread.run_sync(self.outbox.stats)

    async def purge_suspected(self, *, now: float, older_than: float) -> int:
        return await anyio.to_thread.run_sync(
            lambda: self.outbox.purge_suspected(now=now, older_than=older_than)
        )
