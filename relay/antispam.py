"""Spam defences beyond the honeypot: a signed fill-time token, a self-hosted
proof-of-work check and a content heuristic. None of them drops a post: a post that
fails the token or the proof of work is stored as ``suspected`` (kept, not delivered;
see relay.outbox), and the content heuristic only marks a message for staff. Only a
filled honeypot drops a post, and screening runs before all of these (relay.pipeline).

Fill-time token: ``v1.<issued unix seconds>.<HMAC-SHA256, 32 hex>``, issued with the
hosted form and by ``GET /f/{id}/token``. It is good for ``TOKEN_LIFETIME`` (24 hours)
and for one accepted post: the outbox spends it in the commit that stores the post,
so a second post with the same token is kept as suspected. A post refused with a 422
spends nothing, so the visitor can correct it and send again. An older token counts as
no token at all (a page left open overnight still sends). Replicas must share the
signing key (``security.signing_key``); spent tokens are recorded per outbox.

Proof of work follows the ALTCHA protocol (PyPI ``altcha``, no third party): the page
fetches a signed, expiring challenge, its script finds the number whose SHA-256 with
the salt matches, and the post carries the solution in ``altcha``. The library keeps
no record of used solutions, so each one is spent like a token, and only when its post
is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from altcha import v1 as altcha_v1

from relay.submission import FORMAT_CHARACTERS

TOKEN_FIELD = "_ts"  # noqa: S105 (a form field name, not a secret)
TOKEN_LIFETIME = 86400  # seconds a fill-time token is good for (one accepted post)

TokenCheck = Literal["ok", "missing", "too_fast", "invalid", "stale"]


@dataclass(frozen=True)
class TokenResult:
    verdict: TokenCheck
    once: tuple[str, float] | None = None  # the key to spend with the post, and its expiry


def load_or_create_key(configured: str, data_dir: Path) -> bytes:
    """The signing key: configured (env or *_FILE), else a random one kept in the data
    directory so tokens survive restarts."""
    if configured:
        return configured.encode()
    path = data_dir / "signing.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


class FillToken:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, issued: int) -> str:
        return hmac.new(self._key, f"v1.{issued}".encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, now: float) -> str:
        issued = int(now)
        return f"v1.{issued}.{self._sign(issued)}"

    def check(self, token: object, *, now: float, min_seconds: float) -> TokenResult:
        """Any value a client may post, checked without raising."""
        if not isinstance(token, str) or not token:
            return TokenResult("missing")
        match = _TOKEN.fullmatch(token)
        if match is None:
            return TokenResult("invalid")
        issued = int(match[1])
        if not hmac.compare_digest(match[2], self._sign(issued)):
            return TokenResult("invalid")
        age = now - issued
        if age > TOKEN_LIFETIME:
            return TokenResult("stale")
        if age < min_seconds:
            return TokenResult("too_fast")
        return TokenResult("ok", (f"ts:{match[2]}", issued + TOKEN_LIFETIME))


# ASCII digits only (str.isdigit() takes superscripts), bounded, and a hex signature.
_TOKEN = re.compile(r"v1\.([0-9]{1,12})\.([0-9a-f]{32})", re.ASCII)


POW_FIELD = "altcha"
POW_LIFETIME = 600  # seconds a challenge may be solved and used


class ProofOfWork:
    def __init__(self, key: bytes, max_number: int) -> None:
        self._key = key.hex()
        self._max_number = max_number

    def challenge(self, now: float) -> dict[str, Any]:
        expires = datetime.fromtimestamp(now + POW_LIFETIME, UTC)
        made = altcha_v1.create_challenge(
            altcha_v1.ChallengeOptions(
                hmac_key=self._key, max_number=self._max_number, expires=expires
            )
        )
        return dict(made.to_dict())

    def verify(self, payload: object, *, now: float) -> tuple[str, float] | None:
        """The solution's one-time key and its expiry when the solution is valid and
        unexpired, else None. Any value a client may post is checked without raising."""
        if not isinstance(payload, str) or not payload or len(payload) > 2048:
            return None
        try:
            decoded = json.loads(base64.b64decode(payload, validate=True))
        except (ValueError, RecursionError):
            return None
        if not isinstance(decoded, dict) or not _solution_shape(decoded):
            return None
        try:
            ok, _ = altcha_v1.verify_solution(payload, self._key, True)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return (f"pow:{decoded['signature']}", now + POW_LIFETIME) if ok else None


def _solution_shape(payload: dict[str, Any]) -> bool:
    """The fields of an ALTCHA v1 solution, with the types the library assumes."""
    return (
        all(
            isinstance(payload.get(k), str) for k in ("algorithm", "challenge", "salt", "signature")
        )
        and isinstance(payload.get("number"), int)
        and not isinstance(payload.get("number"), bool)
    )


_LINK_SOURCE = r"https?://|www\.|\[url[=\]]|<a\s+href"
# Phrases of bulk offers, one regex each; the content heuristic matches any as a whole word.
_SPAM_PHRASES = (
    r"seo", r"backlinks?", r"guest\s+post", r"first\s+page\s+of\s+google",
    r"rank(?:ing)?\s+your\s+(?:website|site)", r"web\s+design\s+services",
    r"crypto(?:currency)?\s+invest", r"bitcoin", r"casino", r"viagra", r"cialis",
    r"loan\s+offer", r"increase\s+your\s+(?:traffic|sales)", r"lead\s+generation",
    r"unsubscribe",
)  # fmt: skip
_PATTERNS_SOURCE = r"\b(?:" + "|".join(_SPAM_PHRASES) + r")\b"
_LINK = re.compile(_LINK_SOURCE, re.IGNORECASE)
_PATTERNS = re.compile(_PATTERNS_SOURCE, re.IGNORECASE)
# ASCII text, lower-cased, is read by the same patterns without IGNORECASE: the same
# answer (for ASCII, IGNORECASE is exactly ASCII lower-casing), a quarter of the time
# (re only skips quickly over positions whose first letter cannot start a branch when
# the branch literals are case-sensitive: 76 -> 21 us for a 1 KB message).
_LINK_LOWER = re.compile(_LINK_SOURCE)
_PATTERNS_LOWER = re.compile(_PATTERNS_SOURCE)
# The letters every phrase starts with (up to its first optional part: "backlink" of
# "backlinks?"), derived so a new phrase cannot be forgotten here; and a string every
# link form holds. Lower-cased text holding none cannot match, and a substring test
# costs less than the regex (21 -> 12 us for a 1 KB message holding none).
_PATTERN_STARTS = tuple(
    start.group() for p in _SPAM_PHRASES if (start := re.match(r"[a-z]+(?![?*{])", p))
)
_LINK_PARTS = ("://", "www.", "[url", "<a")


def spam_signals(fields: Mapping[str, str], *, max_links: int = 2) -> list[str]:
    """Cheap signals that a message is marketing spam; empty for ordinary messages.
    Read after NFKC folding with invisible format characters removed, so fullwidth
    letters and zero-width spaces do not hide a link or a phrase."""
    text = "\n".join(fields.values())[:20000]
    links: re.Pattern[str] | None = _LINK
    patterns: re.Pattern[str] | None = _PATTERNS
    if text.isascii():
        text = text.lower()
        links = _LINK_LOWER if any(part in text for part in _LINK_PARTS) else None
        patterns = _PATTERNS_LOWER if any(w in text for w in _PATTERN_STARTS) else None
    else:
        text = unicodedata.normalize("NFKC", _FORMAT.sub("", text))
    signals = []
    if links is not None and len(links.findall(text)) > max_links:
        signals.append("links")
    if patterns is not None and patterns.search(text):
        signals.append("pattern")
    return signals


# Unicode format characters (category Cf: zero-width spaces and joiners, bidi marks,
# soft hyphen, tag characters, the BOM), removed before the patterns are read.
_FORMAT = re.compile(f"[{FORMAT_CHARACTERS}\u200c\u200d]")
