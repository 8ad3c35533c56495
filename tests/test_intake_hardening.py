"""Issue 11 items 1, 5 and 6: malformed input is a 4xx (never a 500), the anti-spam
gaps are closed, and the encodings agree. Through HTTP, in-process."""

from __future__ import annotations

import json
import sqlite3
import sys
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from relay import antispam
from relay.antispam import TOKEN_LIFETIME, FillToken, spam_signals
from relay.app import create_app
from relay.settings import Settings
from relay.submission import FORMAT_CHARACTERS

GOOD = {
    "name": "Ana Diaz",
    "email": "ana@example.com",
    "phone": "555-123-4567",
    "message": "What are your hours on Saturday?",
}
JSON = {"accept": "application/json"}
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
KEY = b"k" * 32
NOW = 1_800_000_000.0
Client = Callable[..., TestClient]


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[Client]:
    """A client on a fixed clock; keyword arguments go to the contact form."""
    made: list[TestClient] = []

    def make(clock: Callable[[], float] = lambda: NOW, **form: Any) -> TestClient:
        settings = Settings(
            storage={"data_dir": tmp_path}, limits={"rate": "1000/minute"},
            security={"signing_key": KEY.decode(), "pow_max_number": 1000},
            forms={"contact": {"recipients": ["desk@clinic.example"], **form}},
        )  # fmt: skip
        client = TestClient(
            create_app(settings, run_worker=False, clock=clock), raise_server_exceptions=False
        )
        client.__enter__()
        made.append(client)
        return client

    yield make
    for client in made:
        client.__exit__(None, None, None)


def states(tmp_path: Path) -> list[str]:
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    try:
        return [r[0] for r in db.execute("SELECT state FROM outbox ORDER BY seq")]
    finally:
        db.close()


def assert_problem(response: Any, status: int | None = None) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status
    if response.headers["content-type"].startswith("application/problem+json"):
        assert response.json()["status"] == response.status_code
    else:
        assert response.headers["content-type"].startswith("text/html")


# --- item 1: 500s from malformed input ------------------------------------------------

BAD_REFERER = {"referer": "http://["}


@pytest.mark.parametrize("accept", [JSON, BROWSER])
def test_a_broken_referer_is_no_server_error_anywhere(
    client_for: Client, accept: dict[str, str]
) -> None:
    """Referer http://[ without Origin: POST, GET /token, /challenge, OPTIONS and an HTML
    404 page all answer without a 5xx (the 404 page drops the unreadable back link)."""
    client = client_for(proof_of_work=True, allowed_origins=["https://clinic.example"])
    headers = {**BAD_REFERER, **accept}
    assert_problem(client.post("/f/contact", json=GOOD, headers=headers), 403)
    assert client.get("/f/contact/token", headers=headers).status_code == 200
    assert client.get("/f/contact/challenge", headers=headers).status_code == 200
    assert client.options("/f/contact", headers=headers).status_code == 403
    missing = client.get("/nowhere", headers=headers)
    assert_problem(missing, 404)
    assert "http://[" not in missing.text
    open_form = client_for()
    answer = open_form.post("/f/contact", json=GOOD, headers=headers, follow_redirects=False)
    assert answer.status_code in (202, 303)


@pytest.mark.parametrize("value", ["http://[", "https://clinic\uff20evil.example/", "http://a b/"])
def test_an_unreadable_next_is_a_422_naming_it(
    client_for: Client, tmp_path: Path, value: str
) -> None:
    """_next that is no URL at all is named as a field problem; nothing stored."""
    client = client_for()
    response = client.post("/f/contact", json={**GOOD, "_next": value}, headers=JSON)
    assert_problem(response, 422)
    assert [e["field"] for e in response.json()["errors"]] == ["_next"]
    page = client.post("/f/contact", data={**GOOD, "_next": value}, headers=BROWSER)
    assert_problem(page, 422)
    assert states(tmp_path) == []


def test_next_with_a_leading_space_redirects_cleanly(client_for: Client) -> None:
    """Surrounding spaces are dropped, not sent as %20 in front of the Location."""
    client = client_for()
    response = client.post(
        "/f/contact", data={**GOOD, "_next": "  https://clinic.example/thanks "},
        headers={**BROWSER, "origin": "https://clinic.example"}, follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "https://clinic.example/thanks"


@pytest.mark.parametrize(
    "token",
    ["v1.\u00b9\u00b2\u00b3.0123456789abcdef0123456789abcdef", "v1." + "9" * 5000 + ".ab",
     "v1.1799999999.\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
     "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
     "\u00e9\u00e9\u00e9\u00e9", "v1.-5.x", ".", "v1..", "v2.1.2"],
)  # fmt: skip
def test_malformed_fill_tokens_are_suspected_not_a_server_error(
    client_for: Client, tmp_path: Path, token: str
) -> None:
    """A superscript digit, 5,000 digits, a non-ASCII signature: kept as suspected."""
    client = client_for()
    assert client.post("/f/contact", json={**GOOD, "_ts": token}).status_code == 202
    assert states(tmp_path) == ["suspected"]


def test_deeply_nested_json_is_a_400(client_for: Client, tmp_path: Path) -> None:
    """A JSON body nested 1,000 (or 100,000) deep is a 400 problem, not a RecursionError."""
    client = client_for()
    for depth in (1000, 100_000 // 2):
        body = '{"message": ' + "[" * depth + "]" * depth + "}"
        response = client.post(
            "/f/contact", content=body.encode(),
            headers={"content-type": "application/json", **JSON},
        )  # fmt: skip
        assert_problem(response, 400 if depth == 1000 else 413)
    shallow = {**GOOD, "extra": [[["fine"]]]}
    assert client.post("/f/contact", json=shallow).status_code == 202
    assert states(tmp_path) == ["queued"]


def test_huge_integers_in_json_are_a_400(client_for: Client) -> None:
    """A 5,000-digit number (over Python's int parsing limit) is a 400, not a 500."""
    body = '{"message": ' + "9" * 5000 + "}"
    response = client_for().post(
        "/f/contact", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 400)


# --- item 6: the encodings agree ------------------------------------------------------


def test_json_duplicate_keys_are_refused_like_urlencoded_ones(
    client_for: Client, tmp_path: Path
) -> None:
    """A field given twice is a 422 naming it, in JSON as in a urlencoded form."""
    client = client_for()
    raw = b'{"name": "Ana", "email": "ana@example.com", "email": "eve@example.com",' \
          b' "phone": "555-123-4567", "message": "Hello there"}'  # fmt: skip
    as_json = client.post("/f/contact", content=raw, headers={"content-type": "application/json"})
    form = "name=Ana&email=ana%40example.com&email=eve%40example.com&phone=555-123-4567&message=Hi"
    as_form = client.post(
        "/f/contact", content=form.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    for response in (as_json, as_form):
        assert_problem(response, 422)
        assert [e["field"] for e in response.json()["errors"]] == ["email"]
    assert states(tmp_path) == []


# --- item 5: anti-spam gaps -----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["Ana\u200eDiaz", "Ana\u200fDiaz", "Ana\u061cDiaz", "Ana\u200bDiaz", "Ana\ufeff",
     "Ana\U000e0041\U000e0042", "Ana\u2066Diaz", "\u200dAna", "Ana \u200c"],
)  # fmt: skip
def test_one_line_fields_refuse_invisible_format_characters(client_for: Client, value: str) -> None:
    """Bidi marks, zero-width and tag characters cannot reach the Subject."""
    response = client_for().post("/f/contact", json={**GOOD, "name": value})
    assert_problem(response, 422)
    assert [e["field"] for e in response.json()["errors"]] == ["name"]


def test_joiners_inside_a_word_are_kept(client_for: Client) -> None:
    """A Persian name with ZWNJ and an emoji sequence with ZWJ are valid names."""
    client = client_for()
    for name in ("\u0645\u06cc\u200c\u0631\u0632\u0627", "Ana \U0001f469\u200d\U0001f4bb"):
        assert client.post("/f/contact", json={**GOOD, "name": name}).status_code == 202


def test_the_format_character_list_is_unicodes() -> None:
    """FORMAT_CHARACTERS is every category Cf character but the two joiners."""
    import re

    pattern = re.compile(f"[{FORMAT_CHARACTERS}]")
    cf = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    missed = [hex(ord(ch)) for ch in cf if not pattern.match(ch) and ch not in "\u200c\u200d"]
    assert missed == []
    assert not pattern.match("\u200c") and not pattern.match("\u200d") and not pattern.match("a")


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("Cheap \uff56\uff49\uff41\uff47\uff52\uff41 here", "pattern"),  # fullwidth
        ("We do s\u200be\u200bo for clinics", "pattern"),  # zero-width spaces
        ("ca\u00adsino bonus", "pattern"),  # soft hyphen
        ("\uff48\uff54\uff54\uff50\uff53://a \uff48\uff54\uff54\uff50\uff53://b "
         "www\u200b.c", "links"),
    ],
)  # fmt: skip
def test_spam_signals_see_through_fullwidth_and_invisible_characters(
    text: str, signal: str
) -> None:
    """The content heuristic reads NFKC text without format characters."""
    assert signal in spam_signals({"message": text})


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["SEO", "Bitcoin", "guest  Post", "HTTP://", "www.", "[URL=",
                                 "<A  HREF", "casinos", "x", " ", "\n", "_", "Unsubscribe"]),
                max_size=12).map("".join))  # fmt: skip
def test_spam_signals_on_ascii_read_as_the_case_insensitive_patterns(text: str) -> None:
    """The lower-cased ASCII reading gives the signals the IGNORECASE patterns give."""
    expected = []
    if len(antispam._LINK.findall(text)) > 2:
        expected.append("links")
    if antispam._PATTERNS.search(text):
        expected.append("pattern")
    assert spam_signals({"message": text}) == expected


@pytest.mark.parametrize(
    "phrase",
    ["SEO", "Backlinks", "guest post", "First page of Google", "rank your website",
     "Ranking your site", "web design services", "Cryptocurrency invest", "crypto invest",
     "BITCOIN", "casino", "Viagra", "cialis", "loan offer", "increase your traffic",
     "Increase your sales", "lead generation", "Unsubscribe"],
)  # fmt: skip
def test_every_spam_phrase_is_seen_in_ascii_text(phrase: str) -> None:
    """Each phrase of the content heuristic marks an ASCII message (the quick word
    test in front of the patterns lets every one of them through)."""
    assert spam_signals({"message": f"Hello, {phrase} today."}) == ["pattern"]


def test_spam_marking_reaches_the_delivered_subject(client_for: Client, tmp_path: Path) -> None:
    """A disguised spam message is delivered marked [Possible spam], never dropped."""
    client = client_for()
    message = "Get your website on the \uff46\uff49\uff52\uff53\uff54 page of google with SEO"
    assert client.post("/f/contact", json={**GOOD, "message": message}).status_code == 202
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    (body,) = db.execute("SELECT body FROM outbox").fetchone()
    db.close()
    assert json.loads(body)["subject"].startswith("[Possible spam]")


# --- the fill-time token: lifetime and reuse --------------------------------------------


def test_a_fill_token_is_good_for_one_accepted_post(client_for: Client, tmp_path: Path) -> None:
    """The first accepted post spends the token; a second post with it is kept as
    suspected. A refused (422) post spends nothing, so a correction goes through."""
    client = client_for()
    token = FillToken(KEY).issue(NOW - 60)
    assert client.post("/f/contact", json={**GOOD, "email": "x", "_ts": token}).status_code == 422
    assert client.post("/f/contact", json={**GOOD, "_ts": token}).status_code == 202
    assert client.post("/f/contact", json={**GOOD, "_ts": token}).status_code == 202
    assert states(tmp_path) == ["queued", "suspected"]


def test_a_fill_token_lives_a_day(tmp_path: Path, client_for: Client) -> None:
    """Within TOKEN_LIFETIME a token counts; after it, it counts as no token at all
    (accepted on a form that does not require one, suspected on one that does)."""
    assert TOKEN_LIFETIME == 86400
    token = FillToken(KEY).issue(NOW - TOKEN_LIFETIME + 60)
    client = client_for()
    assert client.post("/f/contact", json={**GOOD, "_ts": token}).status_code == 202
    stale = FillToken(KEY).issue(NOW - TOKEN_LIFETIME - 60)
    assert client.post("/f/contact", json={**GOOD, "_ts": stale}).status_code == 202
    strict = client_for(require_fill_token=True)
    assert strict.post("/f/contact", json={**GOOD, "_ts": stale}).status_code == 202
    assert states(tmp_path) == ["queued", "queued", "suspected"]


def test_replicas_sharing_the_signing_key_accept_each_others_tokens(
    tmp_path: Path,
) -> None:
    """Two apps (replicas) with the same security.signing_key: a token issued by one is
    good on the other; with different keys it is suspected, not lost."""

    def replica(name: str, key: str) -> TestClient:
        settings = Settings(
            storage={"data_dir": tmp_path / name}, security={"signing_key": key},
            forms={"contact": {"recipients": ["desk@clinic.example"]}},
        )  # fmt: skip
        return TestClient(create_app(settings, run_worker=False, clock=lambda: NOW))

    with (
        replica("a", "shared" * 6) as a,
        replica("b", "shared" * 6) as b,
        replica("c", "other" * 7) as c,
    ):
        token = FillToken(("shared" * 6).encode()).issue(NOW - 30)
        assert a.get("/f/contact/token").json()["value"] == FillToken(
            ("shared" * 6).encode()
        ).issue(NOW)
        assert b.post("/f/contact", json={**GOOD, "_ts": token}).status_code == 202
        assert c.post("/f/contact", json={**GOOD, "_ts": token}).status_code == 202
    assert states(tmp_path / "b") == ["queued"]
    assert states(tmp_path / "c") == ["suspected"]


@pytest.mark.parametrize(
    ("scheme", "host", "server", "root"),
    [
        ("http", "127.0.0.1:8000", ("127.0.0.1", 8000), ""),
        ("https", "Forms.Clinic.Example", ("10.0.0.5", 443), "/relay"),
        ("http", None, ("127.0.0.1", 80), ""),
        ("https", None, ("::1", 8443), "/x/"),
        ("http", "bad host:99999", ("127.0.0.1", 8000), ""),
        ("http", "[::1", None, ""),
        ("http", None, None, ""),
        ("http", None, ["testserver", 80], ""),  # the TestClient's server is a list
        ("https", "\u00e9xample.test", ("127.0.0.1", 8000), "/" + "r" * 3000),
    ],
)
def test_the_cached_page_origin_is_starlettes(
    scheme: str, host: str | None, server: tuple[str, int] | list[object] | None, root: str
) -> None:
    """``own_origin`` (cached per scheme, Host, server and root path) is exactly
    ``origin_of(str(request.base_url))``, also for Host headers it cannot read."""
    from starlette.requests import Request

    from relay.intake import own_origin
    from relay.origins import origin_of

    headers = [] if host is None else [(b"host", host.encode("latin-1"))]
    scope = {"type": "http", "method": "POST", "scheme": scheme, "server": server,
             "root_path": root, "path": root + "/f/contact", "query_string": b"lang=es",
             "headers": headers}  # fmt: skip
    request: Request[Any] = Request(scope)
    assert own_origin(request) == origin_of(str(request.base_url))
    assert own_origin(request) == own_origin(Request(dict(scope)))
