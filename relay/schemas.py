"""The JSON bodies the relay answers with, as pydantic models.

The same models serialise the responses (``model_dump_json(exclude_none=True)``) and
give the OpenAPI components (``relay.openapi``), so the document cannot drift from
what is sent. Field values from a visitor never appear here except as offsets. Optional fields are
left out of a body when unset (never sent as null).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["clean", "medical", "crisis"]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Resource(_Body):
    """A crisis service: who, how to reach it, what for, and a tel:/sms: link."""

    name: str
    contact: str
    purpose: str
    href: str = ""
    checked: str = ""  # when someone last confirmed it works as written (YYYY-MM-DD)


class Span(_Body):
    """Words the screening found, as offsets into the named field's text."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    category: str
    field: str


class FieldProblem(_Body):
    """One field that needs attention, said kindly; never repeats what was typed."""

    field: str
    detail: str
    pointer: str


class Accepted(_Body):
    """202: stored (or, for a bot, looks so). A crisis, or a message the screening is
    unsure about, carries the resources to show at once."""

    id: str
    status: Literal["accepted", "held"]
    verdict: Verdict
    resources: list[Resource] | None = None
    note: str | None = None
    language: Literal["en", "es"] | None = None  # of resources and note, when present


class Problem(_Body):
    """RFC 9457 problem details, with the relay's extensions."""

    type: str = Field(description="A URI under /problems/, or about:blank.")
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None
    secure_contact: str | None = None
    phone: str | None = None
    spans: list[Span] | None = None
    resources: list[Resource] | None = None
    note: str | None = None


class FillToken(_Body):
    """A fill-time token and the field to post it in."""

    field: Literal["_ts"]
    value: str


class Challenge(_Body):
    """An ALTCHA v1 proof-of-work challenge."""

    algorithm: str
    challenge: str
    maxNumber: int  # the protocol's name
    salt: str
    signature: str


COMPONENTS: tuple[type[BaseModel], ...] = (
    Accepted, Problem, FieldProblem, Span, Resource, FillToken, Challenge,
)  # fmt: skip
