"""Which sites may post to a form, and the CORS answer for ``fetch()`` from them.

A cross-site ``<form>`` post is never preflighted, so CORS alone protects nothing:
the intake itself checks ``Origin`` (falling back to ``Referer``) against the form's
exact allow-list. The relay's own hosted page (same origin) is always allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from relay.settings import FormSettings

# Accept-Language too: the answer (page or problem text) follows the visitor's language.
VARY = "Origin, Sec-Fetch-Site, Accept-Language"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased; "" when it has none."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def request_origin(request: HTTPConnection[Any]) -> str:
    """The posting page's origin: ``Origin``, else the origin of ``Referer``."""
    origin = request.headers.get("origin", "")
    if origin and origin != "null":
        return origin.lower()
    return origin_of(request.headers.get("referer", ""))


@dataclass(frozen=True)
class OriginCheck:
    allowed: bool
    cors_origin: str | None  # the value for Access-Control-Allow-Origin, if any

    def headers(self) -> dict[str, str]:
        out = {"Vary": VARY}
        if self.cors_origin:
            out["Access-Control-Allow-Origin"] = self.cors_origin
        return out


def check_origin(request: HTTPConnection[Any], form: FormSettings) -> OriginCheck:
    origin = request_origin(request)
    own = origin_of(str(request.base_url))
    if origin and origin == own or request.headers.get("sec-fetch-site") == "same-origin":
        return OriginCheck(True, None)
    if not form.allowed_origins:  # an empty list allows any site
        return OriginCheck(True, origin or None)
    if origin in form.allowed_origins:  # exact match: no suffix or prefix games
        return OriginCheck(True, origin)
    return OriginCheck(False, None)


def next_url(value: object, form: FormSettings, request: HTTPConnection[Any]) -> str | None:
    """``_next`` is honoured only when its origin is allowed: listed in the form's
    ``allowed_origins`` or, with an empty list, the origin of the posting page itself
    (never any site at all: that would be an open redirect)."""
    if not isinstance(value, str) or len(value) > 2000 or not value.isprintable():
        return None
    try:
        value.encode("utf-8")  # a lone surrogate could not go into a Location header
    except UnicodeEncodeError:
        return None
    target = origin_of(value)
    allowed = form.allowed_origins or [request_origin(request)]
    return value if target and target in allowed else None
