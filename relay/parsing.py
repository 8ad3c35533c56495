"""Read a posted body within the limits, in any of the four accepted encodings.

Starlette's parsers are given the already-bounded body, so the size limit holds
whatever the client claims (chunked, or a Content-Length that lies). The three
encodings give the same answer to the same fields: a name posted twice is reported
as repeated (urlencoded, multipart and JSON alike), and whatever the client sends
ends in a ``BadBody`` (400/413/415), never in another exception.

text/plain is accepted because browsers send it where a site cannot choose: a JSON string
posted by ``fetch(..., {mode: "no-cors"})`` or ``navigator.sendBeacon`` (no CORS
preflight), and an HTML form with ``enctype="text/plain"``. Refusing it with a 415 would
refuse every message of such a site, a crisis among them, before it was screened.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping
from typing import Any
from urllib.parse import unquote_plus

from starlette.datastructures import FormData, Headers
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from relay.antispam import POW_FIELD
from relay.errors import BadBody
from relay.i18n import Text
from relay.settings import LimitsSettings
from relay.submission import single_values

FORM_TYPES = (
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "application/json",
    "text/plain",
)
# Up to this many fields a body is read (and its text screened: a crisis comes first);
# the form's own limit, limits.max_fields, is checked at validation (a 422).
READ_MAX_FIELDS = 1000
# Deeper JSON is no form: refused before the parser's recursion could give out.
MAX_JSON_DEPTH = 32
# A line of an enctype="text/plain" body that may start a field: "name=value".
_PLAIN_FIELD = re.compile(r"([a-z_][a-z0-9_]{0,39})=(.*)", re.DOTALL)
BARE_TEXT_FIELD = "message"  # where text/plain text before any name=value line goes
_LINE_BREAK = re.compile(r"\r?\n")  # browsers send CRLF; a hand-made body may send LF


async def _read_body(headers: Mapping[str, str], stream: AsyncIterator[bytes], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BadBody(413, "Too large", Text("The form is larger than {limit} bytes.", limit=limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:  # chunked, or a Content-Length that lied
            raise BadBody(
                413, "Too large", Text("The form is larger than {limit} bytes.", limit=limit)
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its (name, value) pairs in order, duplicates kept."""


def _json_depth_ok(body: bytes) -> bool:
    """Cheap bound on nesting: brackets outside strings never exceed MAX_JSON_DEPTH.
    Counting every bracket over-counts those inside strings, so it is only a pre-check:
    a body that passes it cannot nest deeper than the limit."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return True
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def _read_json(body: bytes) -> tuple[dict[str, object], set[str]]:
    if not _json_depth_ok(body):
        raise BadBody(400, "Malformed JSON", "The body nests deeper than a form can.")
    try:
        data = json.loads(body, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadBody(400, "Malformed JSON", "The body is not valid JSON.") from None
    if not isinstance(data, _Pairs):
        raise BadBody(400, "Malformed JSON", "The body must be a JSON object of fields.")
    if len(data) > READ_MAX_FIELDS:
        raise _too_many_fields()
    # Nested objects stay pair lists; validation refuses any value that is not text.
    return single_values(data)


def _too_many_fields() -> BadBody:
    return BadBody(400, "Too many fields", Text("At most {n} fields.", n=READ_MAX_FIELDS))


def is_control(name: str) -> bool:
    """A name the relay reads itself, never a form's field: the ``_`` controls ("_ts",
    "_gotcha", "_next"...) and the proof of work."""
    return name.startswith("_") or name == POW_FIELD


def _named(name: str, fields: Collection[str]) -> bool:
    """A name a text/plain form's line may start: a form field or a control."""
    return name in fields or is_control(name)


def _read_text(body: bytes, fields: Collection[str]) -> tuple[dict[str, object], set[str]]:
    """A text/plain body: a JSON object, or the lines of an HTML form posted with
    enctype="text/plain" ("name=value" each, CRLF after each). That encoding cannot mark
    where a value with line breaks ends (the HTML standard calls it not reliably
    interpretable), so a line starts a field only as "name=" with a name of the form's
    ``fields``, a control ("_ts", "_gotcha"...) or the proof of work, not posted yet; any
    other line continues the value before it: a message's own lines ("dose=5" among them)
    stay in it. Text before the first field (a script posting the bare message) is read
    as "message", so that it is screened (as an unlisted field, for a crisis, where the
    form has no such field): a crisis typed into such a site gets the resources, anything
    else the usual 422 naming the missing fields."""
    if body.lstrip()[:1] == b"{":
        return _read_json(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody(400, "Malformed form", "Send text/plain bodies as UTF-8.") from None
    pairs: list[tuple[str, list[str]]] = []  # a value as its lines
    names: set[str] = set()
    for line in _LINE_BREAK.split(text.removesuffix("\n").removesuffix("\r")):
        field = _PLAIN_FIELD.fullmatch(line)
        if field and field[1] not in names and _named(field[1], fields):
            names.add(field[1])
            if len(pairs) == READ_MAX_FIELDS:
                raise _too_many_fields()
            pairs.append((field[1], [field[2]]))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            names.add(BARE_TEXT_FIELD)
            pairs.append((BARE_TEXT_FIELD, [line]))
    return single_values((name, "\n".join(lines)) for name, lines in pairs)


def _plain_pairs(body: bytes, limits: LimitsSettings) -> list[tuple[str, str]] | None:
    """The (name, value) pairs of an urlencoded body in the shape every browser sends
    (``name=value`` joined by single ``&``, within the limits), decoded as Starlette's
    FormParser decodes them; None for any other shape, which the FormParser reads (and
    refuses with its own message). Splitting the bytes directly saves the callback
    parser's per-field events and its async generator: 24 -> 6 us for the benchmark's
    forms."""
    segments = body.split(b"&")
    if len(segments) > limits.max_fields:  # more than a form takes: the FormParser reads it
        return None
    pairs = []
    for segment in segments:
        name, equals, value = segment.partition(b"=")
        if not name or not equals or len(segment) - 1 > limits.max_body_bytes:
            return None
        pairs.append((unquote_plus(name.decode("latin-1")), unquote_plus(value.decode("latin-1"))))
    return pairs


async def read_posted(
    headers: Headers,
    stream: AsyncIterator[bytes],
    limits: LimitsSettings,
    fields: Collection[str] = (),
) -> tuple[dict[str, object], set[str]]:
    """The posted (name -> value) map and the names posted twice; raises BadBody.
    ``fields``: the form's field names (where a text/plain form's lines start a field)."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in FORM_TYPES:
        raise BadBody(
            415, "Unsupported content type",
            "Send the form as application/x-www-form-urlencoded, multipart/form-data, "
            "application/json or text/plain.",
        )  # fmt: skip
    body = await _read_body(headers, stream, limits.max_body_bytes)
    if ctype == "application/json":
        return _read_json(body)
    if ctype == "text/plain":
        return _read_text(body, fields)
    if ctype == "application/x-www-form-urlencoded" and (plain := _plain_pairs(body, limits)):
        return single_values(plain)
    try:
        parser: FormParser | MultiPartParser
        if ctype == "multipart/form-data":
            parser = MultiPartParser(
                headers, _once(body), max_files=0, max_fields=READ_MAX_FIELDS,
                max_part_size=limits.max_body_bytes,
            )  # fmt: skip
        else:
            parser = FormParser(
                headers, _once(body), max_fields=READ_MAX_FIELDS,
                max_part_size=limits.max_body_bytes,
            )  # fmt: skip
        form: FormData = await parser.parse()
    except MultiPartException as exc:
        raise BadBody(400, "Malformed form", exc.message) from None
    except (ValueError, KeyError, LookupError):  # no boundary, an unknown charset
        raise BadBody(400, "Malformed form", "The form body could not be read.") from None
    pairs = [(k, v if isinstance(v, str) else None) for k, v in form.multi_items()]
    return single_values(pairs)
