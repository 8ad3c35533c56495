"""Per-client, per-form rate limiting with the ``limits`` library.

Memory storage by default (one process); ``limits.storage = "redis://host:6379"``
shares counters between replicas. The client address is the ASGI peer, which the
proxy-headers middleware replaced by the X-Forwarded-For client only when the peer
is a configured trusted proxy. IPv6 clients are keyed by their /64, since one host
usually holds a whole /64.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

log = logging.getLogger("relay.ratelimit")


def client_key(host: str | None) -> str:
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class RateLimiter:
    def __init__(self, rate: str, storage_uri: str = "memory://") -> None:
        self.item: RateLimitItem = parse(rate)
        # The relay runs on asyncio: always take the library's async storage.
        if not storage_uri.startswith("async+"):
            storage_uri = "async+" + storage_uri
        storage = storage_from_string(storage_uri)
        assert isinstance(storage, Storage)
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, form_id: str, host: str | None) -> int:
        """Count one submission; 0 when allowed, else the seconds to wait (>= 1).
        If the counter store fails (a Redis outage), the post is let through and the
        failure logged by class: no visitor, least of all one in crisis, gets a 500
        because a counter could not be reached."""
        key = client_key(host)
        try:
            if await self._limiter.hit(self.item, form_id, key):
                return 0
            stats = await self._limiter.get_window_stats(self.item, form_id, key)
        except Exception as exc:  # the storage backend's own errors vary by library
            log.warning("rate limit storage failed", extra={"error": type(exc).__name__})
            return 0
        return max(1, math.ceil(stats.reset_time - time.time()))
