"""Prometheus metrics, one registry per app (tests build several apps in one process).

Labels carry form ids, outcomes, verdicts and reasons from fixed sets; never field
values, matched terms or anything else a visitor typed.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from relay.storage import DiskReserve


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[object, ...], Any] = {}
        r = self.registry
        self.submissions = Counter(
            "relay_submissions",
            "Form posts by form and outcome (accepted, suspected, spam, invalid, "
            "medical_refused, rate_limited, forbidden, malformed, disconnected, unavailable).",
            ["form", "outcome"],
            registry=r,
        )
        self.verdicts = Counter(
            "relay_screening_verdicts",
            "Screening verdicts by form.",
            ["form", "verdict"],
            registry=r,
        )
        self.delivery_attempts = Counter(
            "relay_delivery_attempts", "Delivery attempts by result.", ["result"], registry=r
        )
        self.dead_letters = Counter("relay_dead_letters", "Outbox items dead-lettered.", registry=r)
        self.outbox_depth = Gauge(
            "relay_outbox_depth", "Items waiting for delivery (queued or sending).", registry=r
        )
        self.outbox_oldest = Gauge(
            "relay_outbox_oldest_age_seconds", "Age of the oldest undelivered item.", registry=r
        )
        self.outbox_dead = Gauge("relay_outbox_dead", "Dead items kept for review.", registry=r)
        self.outbox_suspected = Gauge(
            "relay_outbox_suspected",
            "Posts kept as suspected (failed the fill-time token or proof of work, "
            "or a possible crisis with a filled honeypot).",
            registry=r,
        )
        self.delivery_held = Gauge(
            "relay_delivery_held", "1 while delivery is held by a configuration fault.", registry=r
        )
        self.inbox_held = Gauge(
            "relay_inbox_held", "Held messages not yet marked handled (hold policy).", registry=r
        )
        self.inbox_oldest_unread = Gauge(
            "relay_inbox_oldest_unread_age_seconds",
            "Age of the oldest unread held message.",
            registry=r,
        )
        self.inbox_purged = Counter(
            "relay_inbox_purged", "Held messages deleted after their retention period.", registry=r
        )
        self.latency = Histogram(
            "relay_request_duration_seconds",
            "Request latency by route template and status.",
            ["route", "method", "status"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.storage_low = Gauge(
            "relay_storage_low",
            "1 while free space is below storage.min_free_bytes (new submissions get 503).",
            registry=r,
        )
        self.storage_free = Gauge(
            "relay_storage_free_bytes",
            "Room for new submissions: free space on the data folder's file system plus "
            "free pages inside the outbox database.",
            registry=r,
        )

    def child(self, metric: MetricWrapperBase, *values: str | int) -> Any:
        """``metric.labels(*values)``, looked up once per set of values: ``labels()``
        checks and joins its arguments on every call (about 2 us, three times a post).
        Only for values from fixed sets, as every label here is."""
        key = (metric, *values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def watch_storage(self, reserve: DiskReserve) -> None:
        """Read the disk reserve at each scrape (the figures are at most a second old)."""
        self.storage_low.set_function(lambda: 0.0 if reserve.has_room() else 1.0)
        self.storage_free.set_function(lambda: float(reserve.room))
