"""Spam defences beyond the honeypot: a signed fill-time token, a self-hosted
proof-of-work check and a content heuristic.

The token is issued with the hosted form (and by ``GET /f/{id}/token`` for other
sites' forms): ``v1.<issued unix seconds>.<HMAC-SHA256>``. A post that comes back
faster than a person can type is treated like a filled honeypot (same-looking
success, nothing stored). The content heuristic only marks a message for staff; it
never drops one, because a false positive there would lose a real patient's note.

The proof of work follows the ALTCHA protocol (PyPI ``altcha``, no third party): the
page fetches a signed, expiring challenge, its script finds the number whose SHA-256
with the salt matches, and the post carries the solution in ``altcha``. The library
keeps no record of used solutions, so the relay spends each one in its database
(``SqliteOutbox.spend``): a solution replayed is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from altcha import v1 as altcha_v1

TOKEN_FIELD = "_ts"  # noqa: S105 (a form field name, not a secret)
MAX_TOKEN_AGE = 2 * 86400  # an older page still posts; its token is simply not used

TokenCheck = Literal["ok", "missing", "too_fast", "invalid", "stale"]


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

    def check(self, token: object, *, now: float, min_seconds: float) -> TokenCheck:
        if not isinstance(token, str) or not token:
            return "missing"
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit():
            return "invalid"
        issued = int(parts[1])
        if not hmac.compare_digest(parts[2], self._sign(issued)):
            return "invalid"
        age = now - issued
        if age > MAX_TOKEN_AGE:
            return "stale"
        if age < min_seconds:
            return "too_fast"
        return "ok"


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

    def verify(self, payload: object) -> str | None:
        """The solution's signature (the key to spend) when valid and unexpired, else None."""
        if not isinstance(payload, str) or not payload or len(payload) > 2048:
            return None
        ok, _ = altcha_v1.verify_solution(payload, self._key, True)
        if not ok:
            return None
        try:
            signature = json.loads(base64.b64decode(payload))["signature"]
        except (ValueError, KeyError, TypeError):
            return None
        return signature if isinstance(signature, str) else None


_LINK = re.compile(r"https?://|www\.|\[url[=\]]|<a\s+href", re.IGNORECASE)
_PATTERNS = re.compile(
    r"\b(?:seo|backlinks?|guest\s+post|first\s+page\s+of\s+google|rank(?:ing)?\s+your\s+"
    r"(?:website|site)|web\s+design\s+services|crypto(?:currency)?\s+invest|bitcoin|casino|"
    r"viagra|cialis|loan\s+offer|increase\s+your\s+(?:traffic|sales)|lead\s+generation|"
    r"unsubscribe)\b",
    re.IGNORECASE,
)


def spam_signals(fields: Mapping[str, str], *, max_links: int = 2) -> list[str]:
    """Cheap signals that a message is marketing spam; empty for ordinary messages."""
    text = "\n".join(fields.values())[:20000]
    signals = []
    if len(_LINK.findall(text)) > max_links:
        signals.append("links")
    if _PATTERNS.search(text):
        signals.append("pattern")
    return signals
