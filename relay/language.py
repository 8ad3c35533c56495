"""Which language a page speaks: pure, forgiving of whatever a client sends.

Order (PRODUCT.md): ``?lang=``, then for the pages that answer a post the language
the message was written in, then ``Accept-Language``, then the configured default.
Each step offers a tag that must be one of the configured languages; anything else
(an unknown ``?lang=``, a malformed header) is passed over quietly, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

# One range of Accept-Language (RFC 9110 12.5.4): a tag or "*", then an optional q.
_RANGE = re.compile(
    r"^\s*(?P<tag>\*|[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*)\s*"
    r"(?:;\s*q\s*=\s*(?P<q>0(?:\.\d{0,3})?|1(?:\.0{0,3})?))?\s*$"
)
# A header longer than this is cut; nobody needs more ranges than fit in it.
MAX_HEADER = 1000


def primary(tag: str) -> str:
    """``es-MX`` -> ``es``; lower case, so ``EN_us`` -> ``en``."""
    return tag.replace("_", "-").split("-", 1)[0].strip().lower()


def accepted(header: str | None) -> Iterator[str]:
    """The primary languages of an Accept-Language header, most wanted first.

    Ranges that do not parse are skipped; q=0 means "not this one"; equal weights
    keep the order the client gave (the sort is stable)."""
    if not header:
        return
    ranges: list[tuple[float, str]] = []
    for part in header[:MAX_HEADER].split(","):
        match = _RANGE.match(part)
        if match is None:
            continue
        q = float(match.group("q")) if match.group("q") else 1.0
        if q > 0 and match.group("tag") != "*":
            ranges.append((q, primary(match.group("tag"))))
    ranges.sort(key=lambda r: -r[0])
    yield from (tag for _, tag in ranges)


def choose(
    supported: Collection[str],
    default: str,
    *,
    query: str | None = None,
    written: str | None = None,
    accept: str | None = None,
) -> str:
    """The first supported language of: ``query``, ``written``, ``accept``, ``default``."""
    for candidate in (query, written):
        if candidate and primary(candidate) in supported:
            return primary(candidate)
    for tag in accepted(accept):
        if tag in supported:
            return tag
    return default
