"""What the intake pipeline decided about one post: the only thing the HTTP handlers
translate into a response (``relay.responses``), and the one thing metrics count.

Every outcome has a ``label`` from a fixed set (the ``outcome`` label of
``relay_submissions_total``); none holds anything a visitor typed except the values
to show back to that same visitor in a 422 page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from relay.screening import Language, Reason, Verdict

AcceptedLabel = Literal["accepted", "suspected", "spam", "held"]


@dataclass(frozen=True)
class Accepted:
    """202/303. Also the answer to a post kept as ``suspected`` or dropped for a filled
    honeypot (``label`` tells them apart; the visitor sees the same answer)."""

    label: AcceptedLabel
    submission_id: str
    verdict: Verdict
    resources: bool  # show the crisis resources (at once for a crisis, gently otherwise)
    language: Language
    redirect: str | None  # an honoured _next, else the form's redirect, else None


@dataclass(frozen=True)
class Refused:
    """A problem answer that changed nothing: 400 403 413 415 429 503."""

    label: Literal[
        "malformed", "disconnected", "forbidden", "rate_limited", "unavailable"
    ]  # fmt: skip
    status: int
    title: str
    detail: str
    type: str = ""
    retry_after: int | None = None
    # The post read as a crisis: the answer carries the resources all the same.
    resources: bool = False
    language: Language | None = None  # of the message, once it was read


@dataclass(frozen=True)
class Invalid:
    """422: fields to correct. ``values`` and ``carried`` re-fill the form. Never for a
    crisis or a possible crisis (relay.policy.decide): no crisis resources here."""

    problems: Mapping[str, str]
    values: Mapping[str, str] = field(repr=False)
    carried: Mapping[str, str] = field(repr=False)
    language: Language
    label: Literal["invalid"] = "invalid"


@dataclass(frozen=True)
class MedicalRefused:
    """422 under ``medical = "reject"``: the detected spans, the text kept for editing."""

    spans: tuple[Reason, ...] = field(repr=False)
    values: Mapping[str, str] = field(repr=False)
    carried: Mapping[str, str] = field(repr=False)
    language: Language
    label: Literal["medical_refused"] = "medical_refused"


Outcome = Accepted | Refused | Invalid | MedicalRefused
