"""What the lifespan hands to every request (``request.state[...]``, typed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

from relay.antispam import FillToken, ProofOfWork
from relay.metrics import Metrics
from relay.outbox import GroupCommit, SqliteOutbox
from relay.pages import PageContext
from relay.ratelimit import RateLimiter
from relay.screening import Lexicon
from relay.settings import Settings
from relay.worker import Worker


class State(TypedDict):
    settings: Settings
    outbox: SqliteOutbox
    commits: GroupCommit
    worker: Worker
    metrics: Metrics
    lexicon: Lexicon
    pages: PageContext
    clock: Callable[[], float]
    limiter: RateLimiter
    fill_token: FillToken
    pow: ProofOfWork
