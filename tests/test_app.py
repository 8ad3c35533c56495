"""The HTTP surface in-process: negotiation, status codes, policies, nothing lost or leaked."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from relay.app import create_app
from relay.compose import Draft, render
from relay.outbox import SqliteOutbox
from relay.settings import Settings

GOOD = {
    "name": "Ana Diaz",
    "email": "ana@example.com",
    "phone": "555-123-4567",
    "message": "What are your hours on Saturday?",
}
MEDICAL = (
    "I was diagnosed with bipolar disorder last year and I take lithium 600 mg. Can I come in?"
)
CRISIS = "I don't want to live anymore. I have saved up my pills and I plan to take them tonight."
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
JSON = {"accept": "application/json"}

ClientFactory = Callable[..., TestClient]


def settings_for(tmp_path: Path, **forms: Any) -> Settings:
    contact = {"recipients": ["desk@clinic.example"], **forms}
    return Settings(
        storage={"data_dir": tmp_path, "busy_timeout": 0.05}, forms={"contact": contact}
    )


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[ClientFactory]:
    """Build a TestClient (lifespan running, delivery worker off) for given form settings."""
    clients: list[TestClient] = []

    def make(**forms: Any) -> TestClient:
        app = create_app(settings_for(tmp_path, **forms), run_worker=False)
        client = TestClient(app, base_url="http://relay.test")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_for: ClientFactory) -> TestClient:
    return client_for()


def stored(tmp_path: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    db.row_factory = sqlite3.Row
    return [dict(r) for r in db.execute("SELECT * FROM outbox ORDER BY seq")]


def mail(row: dict[str, Any]) -> str:
    """The email a stored row will be delivered as (the outbox keeps a draft)."""
    return render(Draft.from_json(row["body"])).as_string()


def test_hosted_form_page_is_served(client: TestClient) -> None:
    """GET /f/contact is the relay's own HTML form posting back to itself."""
    response = client.get("/f/contact")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'action="/f/contact"' in response.text and 'name="message"' in response.text


def test_browser_post_is_stored_then_redirected(client: TestClient, tmp_path: Path) -> None:
    """A browser form post gets 303 to the thank-you page after the row is stored."""
    response = client.post("/f/contact", data=GOOD, headers=BROWSER, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/f/contact/thanks?lang=en"
    rows = stored(tmp_path)
    assert len(rows) == 1 and rows[0]["state"] == "queued"
    assert json.loads(rows[0]["recipients"]) == ["desk@clinic.example"]
    assert client.get("/f/contact/thanks").status_code == 200


@pytest.mark.parametrize("encoding", ["json", "urlencoded", "multipart"])
def test_json_client_gets_202_with_the_id(
    client: TestClient, tmp_path: Path, encoding: str
) -> None:
    """fetch()/JSON clients get 202 {id, status} for all three body encodings."""
    options: dict[str, dict[str, Any]] = {
        "json": {"json": GOOD},
        "urlencoded": {"data": GOOD},
        "multipart": {"files": {k: (None, v) for k, v in GOOD.items()}},
    }
    kwargs = options[encoding]
    response = client.post("/f/contact", headers=JSON, **kwargs)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "accepted" and body["verdict"] == "clean"
    assert response.headers["cache-control"] == "no-store"
    assert [r["submission_id"] for r in stored(tmp_path)] == [body["id"]]


def test_stored_message_has_the_contract_headers(client: TestClient, tmp_path: Path) -> None:
    """The stored email names the submission id and verdict, Reply-To is the visitor."""
    sid = client.post("/f/contact", json=GOOD).json()["id"]
    body = mail(stored(tmp_path)[0])
    assert f"X-Relay-Submission-Id: {sid}" in body
    assert "X-Relay-Screening: clean" in body
    assert "Reply-To: ana@example.com" in body and "To: desk@clinic.example" in body


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        ({"content": b"<form/>", "headers": {"content-type": "application/xml"}}, 415),
        # bare text/plain text is the message: validated, and refused without the rest
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 422),
        ({"content": b"\xff=1", "headers": {"content-type": "text/plain"}}, 400),
        ({"content": b"{1, 2}", "headers": {"content-type": "text/plain"}}, 400),
        ({"content": b"name=x"}, 415),
        ({"content": b"{nope", "headers": {"content-type": "application/json"}}, 400),
        ({"content": b"[1, 2]", "headers": {"content-type": "application/json"}}, 400),
        ({"files": {"upload": ("a.txt", b"x")}, "data": GOOD}, 400),
        # A truncated multipart body parses as an empty form: every field is missing.
        (
            {
                "content": b"--x\r\nbroken",
                "headers": {"content-type": "multipart/form-data; boundary=x"},
            },
            422,
        ),
        (
            {
                "content": "&".join(f"f{i}=1" for i in range(1001)).encode(),
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
        ),
    ],
)
def test_malformed_bodies_are_refused_and_change_nothing(
    client: TestClient, tmp_path: Path, request_kwargs: dict[str, Any], status: int
) -> None:
    """Wrong content type is 415; unreadable bodies (text/plain malformed JSON or not
    UTF-8 among them), files and more fields than any form could have (1,000) are 400."""
    response = client.post(
        "/f/contact", headers=JSON | request_kwargs.pop("headers", {}), **request_kwargs
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert stored(tmp_path) == []


def test_too_large_bodies_get_413_whatever_they_claim(client: TestClient, tmp_path: Path) -> None:
    """An honest, a chunked and a lying Content-Length over the limit all get 413."""
    big = b"message=" + b"x" * 70000
    ctype = {"content-type": "application/x-www-form-urlencoded", **JSON}
    assert client.post("/f/contact", content=big, headers=ctype).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 4096

    assert client.post("/f/contact", content=chunks(), headers=ctype).status_code == 413
    assert stored(tmp_path) == []


def test_unknown_form_and_wrong_method(client: TestClient) -> None:
    """Unknown forms are 404 and other methods 405 with Allow, as problem details."""
    assert client.post("/f/nope", json=GOOD).status_code == 404
    assert client.get("/f/nope", headers=BROWSER).status_code == 404
    response = client.put("/f/contact", json=GOOD)
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_invalid_fields_json(client: TestClient, tmp_path: Path) -> None:
    """Missing and bad fields give 422 problem+json listing each field."""
    response = client.post("/f/contact", json={**GOOD, "email": "nope", "phone": ""})
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/invalid-fields") and problem["status"] == 422
    assert {e["field"] for e in problem["errors"]} == {"email", "phone"}
    assert stored(tmp_path) == []


def test_invalid_fields_html_keeps_the_text(client: TestClient) -> None:
    """A browser gets the form again with each problem named and the text kept (escaped)."""
    text = 'My question <b>"quoted"</b> & more'
    response = client.post(
        "/f/contact", data={**GOOD, "email": "", "message": text}, headers=BROWSER
    )
    assert response.status_code == 422
    assert "Please fill in your email address." in response.text
    assert "My question &lt;b&gt;&#34;quoted&#34;&lt;/b&gt; &amp; more" in response.text


def test_honeypot_looks_accepted_but_stores_nothing(client: TestClient, tmp_path: Path) -> None:
    """_gotcha filled: the same success answer, nothing stored, counted as spam."""
    response = client.post("/f/contact", json={**GOOD, "_gotcha": "http://spam.example"})
    assert response.status_code == 202 and response.json()["status"] == "accepted"
    assert stored(tmp_path) == []
    assert (
        'relay_submissions_total{form="contact",outcome="spam"} 1.0' in client.get("/metrics").text
    )


@pytest.mark.parametrize(
    ("allowed", "origin", "next_url", "expected"),
    [
        (
            [],
            "https://clinic.example",
            "https://clinic.example/thanks",
            "https://clinic.example/thanks",
        ),
        ([], "https://clinic.example", "https://evil.example/x", "/f/contact/thanks?lang=en"),
        (
            ["https://clinic.example"],
            "https://clinic.example",
            "https://clinic.example/t",
            "https://clinic.example/t",
        ),
        (
            ["https://clinic.example"],
            "https://clinic.example",
            "https://clinic.example.evil.example/t",
            "/f/contact/thanks?lang=en",
        ),
        ([], "https://clinic.example", "javascript:alert(1)", "/f/contact/thanks?lang=en"),
    ],
)
def test_next_is_honoured_only_for_allowed_origins(
    client_for: ClientFactory, allowed: list[str], origin: str, next_url: str, expected: str
) -> None:
    """_next redirects only to an allowed origin (or the posting page's own), never elsewhere."""
    client = client_for(allowed_origins=allowed)
    response = client.post(
        "/f/contact", data={**GOOD, "_next": next_url}, headers=BROWSER | {"origin": origin},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == expected


def test_medical_content_is_refused_by_default(client: TestClient, tmp_path: Path) -> None:
    """medical=reject: 422 /medical-content, kind words, nothing stored."""
    response = client.post("/f/contact", json={**GOOD, "message": MEDICAL})
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/medical-content")
    assert "private" in problem["detail"] and problem["secure_contact"]
    assert "lithium" not in response.text
    assert stored(tmp_path) == []


def test_medical_page_keeps_the_text_for_editing(client: TestClient) -> None:
    """A browser sees the medical-details page with the message kept in the form."""
    response = client.post("/f/contact", data={**GOOD, "message": MEDICAL}, headers=BROWSER)
    assert response.status_code == 422
    assert "lithium 600 mg" in response.text


def test_redact_policy_masks_spans(client_for: ClientFactory, tmp_path: Path) -> None:
    """medical=redact stores the message with the detected spans masked."""
    client = client_for(medical="redact")
    response = client.post("/f/contact", json={**GOOD, "message": MEDICAL})
    assert response.status_code == 202 and response.json()["verdict"] == "medical"
    body = mail(stored(tmp_path)[0])
    assert "[removed]" in body and "lithium" not in body and "bipolar" not in body
    assert "X-Relay-Screening: medical" in body


def test_flag_policy_delivers_unchanged_and_marked(
    client_for: ClientFactory, tmp_path: Path
) -> None:
    """medical=flag stores the message as written, marked in subject and headers."""
    client = client_for(medical="flag")
    assert client.post("/f/contact", json={**GOOD, "message": MEDICAL}).status_code == 202
    body = mail(stored(tmp_path)[0])
    assert "lithium 600 mg" in body and "[Medical details]" in body


def test_crisis_answers_with_resources_and_notifies_staff(
    client_for: ClientFactory, tmp_path: Path
) -> None:
    """A crisis gets 202 with resources at once; staff get an urgent notice without the text."""
    client = client_for(crisis_recipients=["oncall@clinic.example"])
    response = client.post("/f/contact", json={**GOOD, "message": CRISIS})
    assert response.status_code == 202
    body = response.json()
    assert body["verdict"] == "crisis"
    assert any("988" in r["contact"] for r in body["resources"])
    assert any("741741" in r["contact"] for r in body["resources"])
    (row,) = stored(tmp_path)
    assert row["kind"] == "urgent" and json.loads(row["recipients"]) == ["oncall@clinic.example"]
    email = mail(row)
    assert "555-123-4567" in email and "pills" not in email


def test_crisis_browser_goes_to_the_support_page(client: TestClient) -> None:
    """A browser posting a crisis message is sent to the resources page, not a plain thanks."""
    response = client.post("/f/contact", data={**GOOD, "message": CRISIS}, headers=BROWSER,
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/f/contact/support?lang=en"
    page = client.get("/f/contact/support").text
    assert "988" in page and "741741" in page


def test_crisis_message_included_when_configured(client_for: ClientFactory, tmp_path: Path) -> None:
    """crisis_include_message=true puts the message text in the urgent notice."""
    client = client_for(crisis_include_message=True)
    client.post("/f/contact", json={**GOOD, "message": CRISIS})
    assert "pills" in mail(stored(tmp_path)[0])


def test_outbox_failure_is_503_and_acknowledges_nothing(client: TestClient, tmp_path: Path) -> None:
    """When the commit cannot happen the visitor gets 503 + Retry-After, never a 2xx."""
    blocker = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        response = client.post("/f/contact", json=GOOD)
        assert response.status_code == 503 and response.headers["retry-after"] == "60"
        assert client.get("/readyz").status_code == 503
    finally:
        blocker.execute("ROLLBACK")
    assert stored(tmp_path) == []
    assert client.get("/readyz").status_code == 200


def test_health_metrics_and_openapi(client: TestClient) -> None:
    """healthz, readyz, metrics and openapi.json answer; metrics count outcomes."""
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    client.post("/f/contact", json=GOOD)
    client.post("/f/contact", json={**GOOD, "email": "bad"})
    text = client.get("/metrics").text
    assert 'relay_submissions_total{form="contact",outcome="accepted"} 1.0' in text
    assert 'relay_submissions_total{form="contact",outcome="invalid"} 1.0' in text
    assert "relay_outbox_depth 1.0" in text
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1") and "/f/{form_id}" in spec["paths"]


def test_delivery_reaches_the_maildir(tmp_path: Path) -> None:
    """With the worker on and no SMTP, an accepted message lands in data/mail/new as .eml."""
    import time

    app = create_app(settings_for(tmp_path))
    with TestClient(app) as client:
        sid = client.post("/f/contact", json=GOOD).json()["id"]
        deadline = time.monotonic() + 10
        while not list((tmp_path / "mail" / "new").glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
    (mail,) = (tmp_path / "mail" / "new").glob("*.eml")
    assert f"X-Relay-Submission-Id: {sid}" in mail.read_text()
    box = SqliteOutbox(tmp_path / "outbox.sqlite3")
    item = box.get(sid)
    box.close()
    assert item is not None and item.state == "sent" and item.body is None


def test_posts_taken_past_the_router_are_logged_and_counted_as_the_route(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A post to /f/{form_id} (taken straight to its handler) is logged and timed under
    the route template, and paths the route does not match still go to the router."""
    with caplog.at_level("INFO", logger="relay.access"):
        assert client.post("/f/contact", data=GOOD, headers=JSON).status_code == 202
        assert client.post("/f/nope", data=GOOD, headers=JSON).status_code == 404
        slash = client.post("/f/contact/", data=GOOD, headers=JSON, follow_redirects=False)
        assert slash.status_code == 307  # the router's redirect_slashes, as before
        assert client.post("/f/", data=GOOD, headers=JSON).status_code == 404
    access = [vars(r) for r in caplog.records if r.name == "relay.access"]
    routes = [(r["route"], r["status"]) for r in access]
    assert routes == [("/f/{form_id}", 202), ("/f/{form_id}", 404), ("unmatched", 307),
                      ("unmatched", 404)]  # fmt: skip
    metrics = client.get("/metrics").text
    assert 'route="/f/{form_id}",status="202"' in metrics
