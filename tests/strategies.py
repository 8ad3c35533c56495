"""Hypothesis strategies for what a client controls besides the form's own fields:
request headers (Origin, Referer, Accept, Content-Type, Accept-Language) and the
reserved fields (_next, _ts, _gotcha, altcha, _send_redacted). Shared by the intake
property test and the schemathesis run, so that the class of malformed input is
covered, not the known cases alone."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

from relay.antispam import FillToken

KEY = b"property-test-signing-key-0123456789"
NOW = 1_800_000_000.0
CLINIC = "https://clinic.example"

# Header values must be latin-1 for the HTTP client; printable, no CR/LF.
_LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
_header_text = st.text(_LATIN1, max_size=40)
_URLISH = [
    "http://[", "https://[::1", "http://]", "https://clinic.example", "https://CLINIC.example",
    "https://clinic.example/contact?x=1", "https://clinic.example:99999", "https://evil.example",
    "null", "", " https://clinic.example", "https://user@clinic.example", "file:///etc/passwd",
    "javascript:alert(1)", "//clinic.example", "http://a\xa0b", "https://clinic.example:x",
]  # fmt: skip
origin_values = st.one_of(st.sampled_from(_URLISH), _header_text)
accept_values = st.one_of(
    st.sampled_from(["application/json", "text/html", "*/*", "text/html;q=0",
                     "text/html,application/xhtml+xml,*/*;q=0.8", "application/problem+json", ""]),
    _header_text,
)  # fmt: skip
language_values = st.one_of(
    st.sampled_from(["es", "en-US,en;q=0.9", "es-MX, es;q=0.8", "*", "xx", "es;q=abc", ",,,", ""]),
    _header_text,
)  # fmt: skip
CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=nonsense", "multipart/form-data",
    "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\"", "text/plain",
    "text/plain; charset=UTF-8", "application/xml", "",
    "application/json; charset=utf-16",
]  # fmt: skip


@st.composite
def headers(draw: st.DrawFn) -> dict[str, str]:
    """Any mix of the five headers, each absent, ordinary or malformed."""
    out: dict[str, str] = {}
    for name, values in (
        ("origin", origin_values), ("referer", origin_values), ("accept", accept_values),
        ("accept-language", language_values),
    ):  # fmt: skip
        if draw(st.booleans()):
            out[name] = draw(values)
    return out


def _b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


_TOKENS = st.one_of(
    st.builds(lambda age: FillToken(KEY).issue(NOW - age),
              st.sampled_from([0, 1, 5, 3600, 86400 - 1, 86400 + 1, 10 * 86400, -60])),
    st.builds(lambda age: FillToken(b"another key").issue(NOW - age), st.just(60)),
    st.sampled_from(["v1.\u00b9\u00b2\u00b3." + "0" * 32, "v1." + "9" * 5000 + ".ab",
                     "v1.1799999999." + "\u00e9" * 32, "v1..", ".", "v1.-1.x", "garbage"]),
    st.text(max_size=30),
)  # fmt: skip
_SOLUTIONS = st.one_of(
    st.sampled_from([_b64([1, 2]), _b64({"algorithm": "SHA-256", "challenge": "c", "number": 1,
                                         "salt": 5, "signature": "s"}),
                     _b64({"number": True}), _b64("text"), "not base64!",
                     base64.b64encode(b"\xff").decode(),
                     "", _b64({"algorithm": 1, "challenge": [], "number": "1", "salt": {},
                               "signature": None})]),
    st.text(max_size=30),
)  # fmt: skip
_NEXTS = st.one_of(
    st.sampled_from(["http://[", "https://clinic\uff20evil.example/", " https://clinic.example/t ",
                     "https://clinic.example/thanks", "https://evil.example/",
                     "javascript:alert(1)",
                     "/relative", "https://clinic.example/a b", "https://clinic.example/\ud800",
                     "https://clinic.example:70000/", "http://\u0430pple.example/"]),
    st.text(max_size=30),
)  # fmt: skip
_JSONISH = st.one_of(st.integers(), st.lists(st.integers(), max_size=3), st.booleans(), st.none())


@st.composite
def reserved_fields(draw: st.DrawFn, *, as_json: bool) -> dict[str, Any]:
    """Any mix of the reserved fields, each absent, ordinary or malformed (and, in a
    JSON body, of another type than text)."""
    out: dict[str, Any] = {}
    for name, values in (
        ("_next", _NEXTS), ("_ts", _TOKENS), ("altcha", _SOLUTIONS),
        ("_gotcha", st.sampled_from(["", "x", "http://spam.example"])),
        ("_send_redacted", st.sampled_from(["1", "0", "", "yes"])),
    ):  # fmt: skip
        if draw(st.integers(0, 3)) == 0:
            continue
        out[name] = draw(st.one_of(values, _JSONISH) if as_json else values)
    return out
