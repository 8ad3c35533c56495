"""The relay's exceptions, all of them (the screening package keeps its one public
``LexiconError`` beside the lexicons it names).

No exception message ever carries a field value or message text: they name fields,
ids, codes and classes only, because message text is health data.

    Exception
    +-- ConfigError                 bad configuration: the CLI exits 1, serve does not start
    |   +-- InboxKeyError           the inbox key is missing, malformed or not the one the
    |                               held messages were sealed with; nothing is changed
    +-- OutboxCorrupt               the outbox database failed its integrity check; left alone
    +-- RelayError
        +-- BadBody                 400/413/415: the body is not a readable form
        +-- InvalidSubmission       422 at intake; carries per-field problems
        +-- OutboxUnavailable       503: the outbox could not commit; nothing acknowledged
        +-- DeliveryError           one delivery attempt failed
            +-- TransientDelivery   retry later with backoff (4xx, refused, timeout, drop)
            +-- PermanentDelivery   dead-letter (5xx)
            +-- HeldDelivery        configuration fault (TLS, certificate, AUTH): hold the
                                    queue, do not spend attempts
"""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(Exception):
    """The configuration is wrong; the message says where and how to fix it."""


class InboxKeyError(ConfigError):
    """The inbox key cannot open what is stored; the message says how to recover."""


class OutboxCorrupt(Exception):
    """The database failed its integrity check; it is left untouched for inspection."""


class RelayError(Exception):
    """Base of the errors met while handling a submission or a delivery."""


class InvalidSubmission(RelayError):
    """The submission was refused; ``problems`` maps field name to a kind explanation."""

    def __init__(self, problems: Mapping[str, str], *, status: int = 422) -> None:
        self.problems = dict(problems)
        self.status = status
        super().__init__(f"invalid submission: fields {sorted(self.problems)}")


class BadBody(RelayError):
    """The body could not be read as a form: 400, 413 or 415 with a short reason."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status, self.title, self.detail = status, title, detail
        super().__init__(title)


class OutboxUnavailable(RelayError):
    """The outbox could not store a submission right now."""


class DeliveryError(RelayError):
    """A delivery attempt failed. ``code`` is the SMTP reply code when there was one."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        self.reason = reason
        self.code = code
        super().__init__(f"{reason} (code {code})" if code else reason)


class TransientDelivery(DeliveryError):
    """Worth another try later."""


class PermanentDelivery(DeliveryError):
    """The server refused for good: dead-letter the item."""


class HeldDelivery(DeliveryError):
    """A configuration fault: hold the queue without spending attempts."""
