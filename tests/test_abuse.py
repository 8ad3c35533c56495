"""Abuse resistance: rate limits, trusted proxies, origin checks and CORS, bot traps,
body limits and clients that hang up. In-process unless a real socket is needed."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from relay.app import create_app
from relay.settings import Settings
from tests.support import RelayProcess, wait_for

GOOD = {
    "name": "Ana Diaz",
    "email": "ana@example.com",
    "phone": "555-123-4567",
    "message": "What are your hours on Saturday?",
}
JSON = {"accept": "application/json"}
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
CLINIC = "https://clinic.example"
Factory = Callable[..., TestClient]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Factory]:
    """``make(peer="10.0.0.1", trusted=[], rate="5/minute", **contact_form)``: a client."""
    clients: list[TestClient] = []

    def build(
        peer: str = "10.0.0.1", trusted: list[str] | None = None, rate: str = "5/minute",
        **form: Any,
    ) -> TestClient:  # fmt: skip
        settings = Settings(
            storage={"data_dir": tmp_path}, limits={"rate": rate},
            server={"trusted_proxies": trusted or []},
            forms={"contact": {"recipients": ["desk@clinic.example"], **form},
                   "other": {"recipients": ["desk@clinic.example"]}},
        )  # fmt: skip
        client = TestClient(
            create_app(settings, run_worker=False), base_url="http://relay.test", client=(peer, 5)
        )
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def stored(data_dir: Path) -> int:
    db = sqlite3.connect(data_dir / "outbox.sqlite3")
    try:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        db.close()


def assert_429(response: Any) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["cache-control"] == "no-store"


def test_flood_is_429_after_the_limit_for_that_client_and_form_only(
    make: Factory, tmp_path: Path
) -> None:
    """At 5/minute, posts 6..30 are each 429 with Retry-After and no-store; another form
    and another client (via a trusted proxy) are unaffected; floods store nothing."""
    client = make(peer="10.0.0.1", trusted=["10.0.0.1"])
    flooder = {"x-forwarded-for": "203.0.113.7", **JSON}
    answers = [client.post("/f/contact", json=GOOD, headers=flooder) for _ in range(30)]
    assert [r.status_code for r in answers[:5]] == [202] * 5
    for response in answers[5:]:
        assert_429(response)
    html = client.post("/f/contact", data=GOOD, headers={"x-forwarded-for": "203.0.113.7",
                                                         **BROWSER})  # fmt: skip
    assert html.status_code == 429 and html.headers["retry-after"]
    assert html.headers["content-type"].startswith("text/html")
    assert client.post("/f/other", json=GOOD, headers=flooder).status_code == 202
    other = {"x-forwarded-for": "198.51.100.9", **JSON}
    assert client.post("/f/contact", json=GOOD, headers=other).status_code == 202
    assert stored(tmp_path) == 7


def test_ipv6_clients_share_a_limit_per_64(make: Factory) -> None:
    """Addresses in one IPv6 /64 count as one client; another /64 is separate."""
    client = make(peer="10.0.0.1", trusted=["10.0.0.1"])
    for i in range(5):
        xff = {"x-forwarded-for": f"2001:db8:1:2::{i + 1}", **JSON}
        assert client.post("/f/contact", json=GOOD, headers=xff).status_code == 202
    assert_429(client.post("/f/contact", json=GOOD,
                           headers={"x-forwarded-for": "2001:db8:1:2::99", **JSON}))  # fmt: skip
    elsewhere = {"x-forwarded-for": "2001:db8:1:3::1", **JSON}
    assert client.post("/f/contact", json=GOOD, headers=elsewhere).status_code == 202


def test_forwarded_for_is_ignored_from_an_untrusted_peer(make: Factory) -> None:
    """Without a trusted proxy, a fresh X-Forwarded-For per post does not escape the limit."""
    client = make(peer="10.0.0.9", trusted=["10.0.0.1"])
    codes = [
        client.post("/f/contact", json=GOOD,
                    headers={"x-forwarded-for": f"198.51.100.{i}", **JSON}).status_code
        for i in range(10)
    ]  # fmt: skip
    assert codes == [202] * 5 + [429] * 5


def test_forwarded_for_is_honoured_from_a_trusted_proxy(make: Factory) -> None:
    """Behind a trusted proxy every X-Forwarded-For client has its own allowance."""
    client = make(peer="10.0.0.1", trusted=["10.0.0.0/8"])
    codes = [
        client.post("/f/contact", json=GOOD,
                    headers={"x-forwarded-for": f"198.51.100.{i}", **JSON}).status_code
        for i in range(10)
    ]  # fmt: skip
    assert codes == [202] * 10


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"origin": CLINIC}, 202),
        ({"origin": "HTTPS://Clinic.Example"}, 202),
        ({"origin": "https://clinic.example.evil.example"}, 403),
        ({"origin": "https://evil.example"}, 403),
        ({"origin": "https://clinic.example:8443"}, 403),
        ({"origin": "http://clinic.example"}, 403),
        ({}, 403),  # neither Origin nor Referer
        ({"origin": "null"}, 403),
        ({"referer": "https://clinic.example/contact-us?x=1"}, 202),
        ({"origin": "null", "referer": "https://clinic.example/contact"}, 202),
        ({"referer": "https://clinic.example.evil.example/contact"}, 403),
        ({"referer": "not a url"}, 403),
        ({"origin": "http://relay.test"}, 202),  # the relay's own hosted form
        ({"sec-fetch-site": "same-origin"}, 202),
        ({"origin": "https://evil.example", "sec-fetch-site": "cross-site"}, 403),
    ],
)
def test_origin_allow_list_is_exact(
    make: Factory, tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    """Only exactly listed origins (Origin, else Referer) or the relay itself may post."""
    client = make(rate="1000/minute", allowed_origins=[CLINIC])
    response = client.post("/f/contact", json=GOOD, headers={**JSON, **headers})
    assert response.status_code == status
    assert "Origin" in response.headers["vary"] and "Sec-Fetch-Site" in response.headers["vary"]
    assert stored(tmp_path) == (1 if status == 202 else 0)
    if status == 403:
        assert "access-control-allow-origin" not in response.headers


def test_cors_preflight_only_for_allowed_origins(make: Factory) -> None:
    """OPTIONS answers 204 with Access-Control-Allow-Origin for a listed origin, else 403."""
    client = make(allowed_origins=[CLINIC])
    ask = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    ok = client.options("/f/contact", headers={"origin": CLINIC, **ask})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == CLINIC
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "Origin" in ok.headers["vary"]
    for origin in ("https://clinic.example.evil.example", "https://evil.example", None):
        hdrs = {**ask, **({"origin": origin} if origin else {})}
        refused = client.options("/f/contact", headers=hdrs)
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers
        assert "Origin" in refused.headers["vary"]
    assert client.options("/f/nope", headers={"origin": CLINIC, **ask}).status_code == 403


def suspected(data_dir: Path) -> int:
    db = sqlite3.connect(data_dir / "outbox.sqlite3")
    try:
        return int(db.execute("SELECT count(*) FROM outbox WHERE state='suspected'").fetchone()[0])
    finally:
        db.close()


def test_bot_traps_look_like_success(make: Factory, tmp_path: Path) -> None:
    """A filled honeypot, a too-fast or forged fill token: the same answer as a real
    success (202 JSON with the same keys, or 303 to the same page). The honeypot post
    is dropped; the token failures are kept as suspected, never delivered."""
    client = make(rate="1000/minute", min_fill_seconds=3)
    token = client.get("/f/contact/token").json()
    traps = [
        ({"_gotcha": "http://spam.example"}, 0),
        ({token["field"]: token["value"]}, 2),  # back at once: faster than a person types
        ({"_ts": "v1.1700000000.00000000000000000000000000000000"}, 2),  # forged
        ({"_ts": "garbage"}, 2),
    ]
    for extra, kept in traps:
        before = stored(tmp_path)
        bot = client.post("/f/contact", json={**GOOD, **extra}, headers=JSON)
        assert bot.status_code == 202, extra
        assert bot.json().keys() == {"id", "status", "verdict"} and bot.json()["verdict"] == "clean"
        page = client.post("/f/contact", data={**GOOD, **extra}, headers=BROWSER,
                           follow_redirects=False)  # fmt: skip
        assert page.status_code == 303 and page.headers["location"] == "/f/contact/thanks?lang=en"
        assert stored(tmp_path) == before + kept
    assert stored(tmp_path) == suspected(tmp_path) == 6
    real = client.post("/f/contact", json=GOOD, headers=JSON)
    assert real.status_code == 202 and real.json().keys() == {"id", "status", "verdict"}
    assert stored(tmp_path) == 7 and suspected(tmp_path) == 6


def test_oversized_bodies_are_413(make: Factory, tmp_path: Path) -> None:
    """Over max_body_bytes is 413 with an honest Content-Length and chunked, storing nothing."""
    client = make(rate="1000/minute")
    big = {**GOOD, "message": "x" * 70_000}
    assert client.post("/f/contact", json=big, headers=JSON).status_code == 413
    assert client.post("/f/contact", data=big, headers=JSON).status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(40):
            yield b"x" * 4096
        yield b'"}'

    chunked = client.post("/f/contact", content=chunks(),
                          headers={"content-type": "application/json", **JSON})  # fmt: skip
    assert chunked.status_code == 413
    assert stored(tmp_path) == 0


# --- against the real service (uvicorn, real sockets) ---------------------------


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    process = RelayProcess(tmp_path_factory.mktemp("relay"), {"RELAY_LIMITS__RATE": "1000/minute"})
    process.start()
    yield process
    process.stop()


def raw_exchange(relay: RelayProcess, data: bytes, *, close_after: bool = False) -> bytes:
    """Send raw bytes; return what the server answers (b"" when we hang up first)."""
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        sock.sendall(data)
        if close_after:
            return b""
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def head(length: int | str) -> bytes:
    return (
        b"POST /f/contact HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode()
    )


def test_lying_content_length_is_413(relay: RelayProcess) -> None:
    """Content-Length 1e9 with 10 bytes sent is refused at once with 413."""
    started = time.monotonic()
    answer = raw_exchange(relay, head(1_000_000_000) + b"name=x&a=b")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert time.monotonic() - started < 5
    assert stored(relay.data_dir) == 0


def test_disconnect_mid_body_stores_nothing_and_logs_no_traceback(relay: RelayProcess) -> None:
    """A client that sends 10 of 1000 promised bytes and hangs up leaves no row and no
    traceback or error in the logs; the service keeps answering."""
    mark = len(relay.log.read_bytes())
    for _ in range(5):
        raw_exchange(relay, head(1000) + b"name=Ana&e", close_after=True)
    assert wait_for(lambda: b'"status": 400' in relay.log.read_bytes()[mark:], 5)
    time.sleep(0.3)
    assert stored(relay.data_dir) == 0
    logs = relay.log.read_bytes()[mark:]
    assert b"Traceback" not in logs and b'"level": "error"' not in logs, logs[-2000:]
    answer = raw_exchange(relay, head(len(b"name=x")) + b"name=x")
    assert answer.startswith(b"HTTP/1.1 422")
