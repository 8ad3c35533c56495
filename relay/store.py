"""The storage edge of the request path: the only place where serving a request
enters a worker thread (SQLite calls block). Everything above it is pure or async.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio.to_thread

from relay.outbox import GroupCommit, NewItem, SqliteOutbox, Stats


class Store:
    """The outbox as the intake, ``/readyz`` and ``/metrics`` use it, from async code."""

    def __init__(
        self, outbox: SqliteOutbox, *, give_up_after: float, clock: Callable[[], float]
    ) -> None:
        self.outbox = outbox
        self._clock = clock
        self._commits = GroupCommit(outbox, give_up_after=give_up_after)

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
