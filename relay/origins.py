"""Which sites may post to a form, and the CORS answer for ``fetch()`` from them.

A cross-site ``<form>`` post is never preflighted, so CORS alone protects nothing:
the intake itself checks ``Origin`` (falling back to ``Referer``) against the form's
exact allow-list. The relay's own hosted page (same origin) is always allowed.
Every function here takes whatever a client sent and never raises on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from relay.settings import FormSettings

# Accept-Language too: the answer (page or problem text) follows the visitor's language.
VARY = "Origin, Sec-Fetch-Site, Accept-Language"
MAX_URL = 2000


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL, lower-cased; "" when it has none or
    cannot be read (``http://[``, a fullwidth ``@`` that NFKC would turn into a real one)."""
    if len(url) > MAX_URL:
        return ""
    try:
        parts = urlsplit(url)
        _ = parts.port  # reading the port raises on a bad one
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def request_origin(headers: Mapping[str, str]) -> str:
    """The posting page's origin: ``Origin``, else the origin of ``Referer``; "" when
    neither holds a well-formed ASCII ``scheme://host[:port]`` (so nothing malformed is
    ever echoed back in Access-Control-Allow-Origin)."""
    origin = headers.get("origin", "")
    if origin and origin != "null":
        lowered = origin.lower()
        return lowered if origin.isascii() and origin_of(lowered) == lowered else ""
    referer = headers.get("referer", "")
    return origin_of(referer) if referer.isascii() else ""


@dataclass(frozen=True)
class OriginCheck:
    allowed: bool
    cors_origin: str | None  # the value for Access-Control-Allow-Origin, if any
    origin: str = ""  # the posting page's origin ("" when unknown)

    def headers(self) -> dict[str, str]:
        out = {"Vary": VARY}
        if self.cors_origin:
            out["Access-Control-Allow-Origin"] = self.cors_origin
        return out


FORBIDDEN = OriginCheck(False, None)


def check_origin(headers: Mapping[str, str], own_origin: str, form: FormSettings) -> OriginCheck:
    origin = request_origin(headers)
    if origin and origin == own_origin or headers.get("sec-fetch-site") == "same-origin":
        return OriginCheck(True, None, origin)
    if not form.allowed_origins:  # an empty list allows any site
        return OriginCheck(True, origin or None, origin)
    if origin in form.allowed_origins:  # exact match: no suffix or prefix games
        return OriginCheck(True, origin, origin)
    return FORBIDDEN


def next_url(value: object, form: FormSettings, page_origin: str) -> str | None:
    """The ``_next`` to redirect to, or None. It is honoured only when its origin is
    allowed: listed in the form's ``allowed_origins`` or, with an empty list, the origin
    of the posting page itself (never any site at all: that would be an open redirect).
    Surrounding spaces are dropped. Raises ValueError for a value that cannot be read
    as a URL at all (``http://[``, spaces or controls inside, a fullwidth ``@``), so the
    site's mistake is named; a readable URL elsewhere is simply not followed."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_URL or not value.isprintable() or any(ch.isspace() for ch in value):
        raise ValueError("not a URL")
    try:
        value.encode("utf-8")  # a lone surrogate could not go into a Location header
        parts = urlsplit(value)
        _ = parts.port  # reading the port raises on a bad one
    except (ValueError, UnicodeEncodeError):
        raise ValueError("not a URL") from None
    target = origin_of(value)
    allowed = form.allowed_origins or [page_origin]
    return value if target and target in allowed else None
