"""What the lifespan hands to every request (``request.state[...]``, typed)."""

from __future__ import annotations

from typing import TypedDict

from relay.metrics import Metrics
from relay.pipeline import Pipeline
from relay.responses import Answers
from relay.store import Store
from relay.worker import Worker


class State(TypedDict):
    pipeline: Pipeline  # the intake, with the settings it was built from
    answers: Answers  # outcomes and problems into responses
    store: Store  # the outbox, for /readyz and /metrics
    worker: Worker  # delivery, for /readyz
    metrics: Metrics
