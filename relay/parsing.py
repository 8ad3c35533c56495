"""Read a posted body within the limits, in any of the three accepted encodings.

Starlette's parsers are given the already-bounded body, so the size limit holds
whatever the client claims (chunked, or a Content-Length that lies).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request

from relay.errors import BadBody
from relay.i18n import Text
from relay.settings import LimitsSettings
from relay.submission import single_values

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "application/json")


async def _read_body(request: Request[Any], limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadBody(413, "Too large", Text("The form is larger than {limit} bytes.", limit=limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked, or a Content-Length that lied
            raise BadBody(
                413, "Too large", Text("The form is larger than {limit} bytes.", limit=limit)
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def read_posted(
    request: Request[Any], limits: LimitsSettings
) -> tuple[dict[str, object], set[str]]:
    """The posted (name -> value) map and the names posted twice; raises BadBody."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in FORM_TYPES:
        raise BadBody(
            415, "Unsupported content type",
            "Send the form as application/x-www-form-urlencoded, multipart/form-data or "
            "application/json.",
        )  # fmt: skip
    body = await _read_body(request, limits.max_body_bytes)
    if ctype == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadBody(400, "Malformed JSON", "The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise BadBody(400, "Malformed JSON", "The body must be a JSON object of fields.")
        if len(data) > limits.max_fields:
            raise BadBody(400, "Too many fields", Text("At most {n} fields.", n=limits.max_fields))
        return data, set()
    try:
        parser: FormParser | MultiPartParser
        if ctype == "multipart/form-data":
            parser = MultiPartParser(
                request.headers, _once(body), max_files=0, max_fields=limits.max_fields,
                max_part_size=limits.max_body_bytes,
            )  # fmt: skip
        else:
            parser = FormParser(
                request.headers, _once(body), max_fields=limits.max_fields,
                max_part_size=limits.max_body_bytes,
            )  # fmt: skip
        form: FormData = await parser.parse()
    except MultiPartException as exc:
        raise BadBody(400, "Malformed form", exc.message) from None
    except (ValueError, KeyError):  # e.g. a multipart body without a boundary
        raise BadBody(400, "Malformed form", "The form body could not be read.") from None
    pairs = [(k, v if isinstance(v, str) else None) for k, v in form.multi_items()]
    return single_values(pairs)
