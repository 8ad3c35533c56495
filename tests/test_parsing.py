"""relay.parsing: the direct reading of plain urlencoded bodies agrees with Starlette's;
text/plain bodies (JSON, or an HTML form's name=value lines) read as their fields."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.datastructures import Headers
from starlette.formparsers import FormParser

from relay.errors import BadBody
from relay.parsing import _plain_pairs, read_posted
from relay.settings import LimitsSettings

LIMITS = LimitsSettings()
HEADERS = Headers({"content-type": "application/x-www-form-urlencoded"})
# Bytes that matter to the format (separators, escapes, plus) among a few ordinary ones,
# and raw non-ASCII bytes, which both readings take as Latin-1.
PIECES = st.sampled_from(
    [b"a", b"name", b"=", b"&", b"&&", b"+", b"%20", b"%C3%A9", b"%E9", b"%", b"%2", b"%zz",
     b"\xc3\xa9", b"\xff", b";", b" ", b"%26", b"%3D"]
)  # fmt: skip


def starlette_pairs(body: bytes) -> list[tuple[str, str]]:
    async def once() -> AsyncGenerator[bytes, None]:
        yield body

    async def parse() -> list[tuple[str, str]]:
        parser = FormParser(HEADERS, once(), max_fields=LIMITS.max_fields,
                            max_part_size=LIMITS.max_body_bytes)  # fmt: skip
        form = await parser.parse()
        return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]

    return asyncio.run(parse())


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=16).map(b"".join))
def test_plain_reading_agrees_with_starlettes_form_parser(body: bytes) -> None:
    """Whenever the direct reading takes a body, it gives Starlette's pairs exactly."""
    pairs = _plain_pairs(body, LIMITS)
    if pairs is not None:
        assert pairs == starlette_pairs(body)


def test_unusual_shapes_are_left_to_starlette() -> None:
    """Empty names, names without a value, empty segments and too many fields are not
    read directly (Starlette's parser answers them, limits and messages included)."""
    for body in (b"", b"=x", b"a", b"a=1&&b=2", b"a=1&", b"&a=1"):
        assert _plain_pairs(body, LIMITS) is None
    many = b"&".join(b"f%d=1" % i for i in range(LIMITS.max_fields + 1))
    assert _plain_pairs(many, LIMITS) is None
    assert _plain_pairs(b"name=Ana+D%C3%ADaz&message=hi", LIMITS) == [
        ("name", "Ana Díaz"), ("message", "hi")
    ]  # fmt: skip


TEXT_PLAIN = Headers({"content-type": "text/plain;charset=UTF-8"})


def read_plain_text(
    body: bytes, fields: tuple[str, ...] = ("name", "email", "message")
) -> tuple[dict[str, object], set[str]]:
    async def once() -> AsyncGenerator[bytes, None]:
        yield body

    return asyncio.run(read_posted(TEXT_PLAIN, once(), LIMITS, fields))


def test_text_plain_json_reads_as_json() -> None:
    """A JSON object sent as text/plain (fetch with mode "no-cors", sendBeacon)."""
    body = b' {"name": "Ana", "message": "hola"}'
    assert read_plain_text(body) == ({"name": "Ana", "message": "hola"}, set())


def test_text_plain_form_lines_keep_a_messages_own_lines() -> None:
    """An enctype="text/plain" form: "name=value" lines with CRLF. A line starts a field
    only with a form field or control name not posted yet, so a message's own lines,
    "dose=5" and a repeated "name=" among them, stay in the message."""
    body = (
        "name=Ana\r\nemail=ana@example.com\r\nmessage=first line\r\ndose=5\r\n"
        "name=again\r\n\r\nlast, año\r\n_gotcha=\r\naltcha=eyJ9\r\n"
    ).encode()
    posted, repeated = read_plain_text(body)
    assert posted == {
        "name": "Ana",
        "email": "ana@example.com",
        "message": "first line\ndose=5\nname=again\n\nlast, año",
        "_gotcha": "",
        "altcha": "eyJ9",
    }
    assert repeated == set()
    assert read_plain_text(b"name=Ana\nmessage=a\nb\n")[0] == {"name": "Ana", "message": "a\nb"}


def test_text_plain_bare_text_is_read_as_the_message() -> None:
    """A script posting the bare message as text/plain: the text before the first field
    line is the message (so it is screened), and field lines after it still count."""
    assert read_plain_text(b"\r\nI need help\r\ndose=5\r\n") == (
        {"message": "I need help\ndose=5"}, set()
    )  # fmt: skip
    body = b"hello there\r\nemail=ana@example.com\r\n"
    assert read_plain_text(body) == ({"message": "hello there", "email": "ana@example.com"}, set())
    # A form without a message field: still "message", which the intake screens for a
    # crisis as a field the form does not list.
    assert read_plain_text(b"help", ("name", "email")) == ({"message": "help"}, set())


def test_text_plain_that_is_neither_is_refused() -> None:
    """Malformed JSON or not UTF-8: 400, naming no text."""
    cases = [(b"{secretword", ("message",)), (b"\xff\xfe", ("message",))]
    for body, fields in cases:
        try:
            read_plain_text(body, fields)
        except BadBody as exc:
            assert exc.status == 400 and "secretword" not in str(exc.detail)
        else:
            raise AssertionError(body)
