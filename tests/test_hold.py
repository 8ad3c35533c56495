"""The hold policy through the real app: medical messages kept encrypted, a notice with
no content to staff, crises still answered at once; canaries never leak anywhere."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from relay.app import create_app
from relay.compose import Draft
from relay.inbox import open_inbox
from relay.settings import Settings

CANARY = "CANARYHOLD7Q"
NAME = "Zebulon Quillfeather"
MEDICAL = f"I was diagnosed with bipolar disorder and I take lithium 600 mg daily. Ref {CANARY}."
CRISIS = f"I don't want to live anymore. I have saved up my pills for tonight. {CANARY}"
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
JSON = {"accept": "application/json"}
PUBLIC = "https://forms.clinic.example"


def post(message: str) -> dict[str, str]:
    return {"name": NAME, "email": "zq@example.com", "phone": "555-010-7788", "message": message}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        storage={"data_dir": tmp_path},
        inbox={"public_url": PUBLIC},
        forms={"contact": {"recipients": ["desk@clinic.example"], "medical": "hold"}},
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://relay.test") as client:
        yield client


def drafts(tmp_path: Path, timeout: float = 10.0, count: int = 1) -> list[str]:
    """The delivered .eml files (the worker delivers to the maildir without SMTP)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted((tmp_path / "mail" / "new").glob("*.eml"))
        if len(found) >= count:
            return [p.read_text(errors="replace") for p in found]
        time.sleep(0.05)
    raise AssertionError("nothing was delivered")


def held(settings: Settings, message_id: str) -> Any:
    store, _ = open_inbox(settings, clock=time.time)
    try:
        return store.read_held(message_id, actor="test", client="")
    finally:
        store.close()


def no_canary_on_disk(tmp_path: Path) -> None:
    for path in tmp_path.glob("*.sqlite3*"):
        data = path.read_bytes()
        assert CANARY.encode() not in data, path.name
        assert NAME.encode() not in data or path.name.startswith("outbox"), path.name


def test_medical_message_is_held_and_staff_get_a_bare_notice(
    client: TestClient, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """202 held; the text is only in the encrypted inbox; the notice names the form,
    the time and the link, and nothing the visitor wrote."""
    caplog.set_level(logging.DEBUG)
    answer = client.post("/f/contact", data=post(MEDICAL), headers=JSON)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "held" and body["verdict"] == "medical"
    notice = drafts(tmp_path)[0]
    assert f"{PUBLIC}/inbox/{body['id']}" in notice
    for secret in (CANARY, NAME, "lithium", "bipolar", "zq@example.com", "555-010-7788"):
        assert secret not in notice, secret
    assert "Reply-To" not in notice
    message = held(settings, body["id"])
    assert message is not None and CANARY in message.fields["message"]
    assert message.fields["name"] == NAME
    no_canary_on_disk(tmp_path)
    assert CANARY not in caplog.text and NAME not in caplog.text
    assert CANARY not in client.get("/metrics").text


def test_browser_gets_a_private_thank_you(client: TestClient) -> None:
    """A form post is thanked with a page saying the message reached the clinic privately."""
    answer = client.post("/f/contact", data=post(MEDICAL), headers=BROWSER, follow_redirects=False)
    assert answer.status_code == 303
    assert "held=1" in answer.headers["location"]
    page = client.get(answer.headers["location"], headers=BROWSER)
    assert "privately" in page.text and CANARY not in page.text


def test_crisis_under_hold_gets_resources_and_urgent_notice_without_text(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    """A crisis is answered at once with resources; the urgent notice links to the inbox
    and carries no text; the text waits in the inbox."""
    answer = client.post("/f/contact", data=post(CRISIS), headers=JSON)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["verdict"] == "crisis" and body["resources"]
    urgent = drafts(tmp_path)[0]
    assert "URGENT" in urgent and f"{PUBLIC}/inbox/{body['id']}" in urgent
    assert CANARY not in urgent and "pills" not in urgent
    message = held(settings, body["id"])
    assert message is not None and CANARY in message.fields["message"]
    no_canary_on_disk(tmp_path)


def test_clean_message_under_hold_is_delivered_as_usual(client: TestClient, tmp_path: Path) -> None:
    """Hold changes nothing for a clean message."""
    answer = client.post("/f/contact", data=post("What time do you open on Saturday?"),
                         headers=JSON)  # fmt: skip
    assert answer.status_code == 202 and answer.json()["status"] == "accepted"
    assert "What time do you open on Saturday?" in drafts(tmp_path)[0]


def test_notice_draft_has_no_visitor_content(client: TestClient, tmp_path: Path) -> None:
    """The stored notice (before delivery) holds the link only: checked in the outbox."""
    import sqlite3

    client.post("/f/contact", data=post(MEDICAL), headers=JSON)
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    rows = db.execute("SELECT kind, body FROM outbox").fetchall()
    db.close()
    for kind, raw in rows:
        if raw is None:
            continue  # delivered and purged already
        draft = Draft.from_json(raw)
        assert kind == "notice" and draft.reply_to is None
        assert CANARY not in json.dumps(vars(draft)) and NAME not in draft.subject


def test_crisis_under_hold_inside_the_disk_reserve_still_reaches_staff(tmp_path: Path) -> None:
    """Below the disk reserve a held medical message gets 503, but a crisis is accepted
    and its urgent notice stored, as under any other policy."""
    settings = Settings(
        storage={"data_dir": tmp_path, "min_free_bytes": 1 << 62},
        inbox={"public_url": PUBLIC},
        forms={"contact": {"recipients": ["desk@clinic.example"], "medical": "hold"}},
    )
    with TestClient(create_app(settings, run_worker=False), base_url="http://relay.test") as c:
        assert c.post("/f/contact", data=post(MEDICAL), headers=JSON).status_code == 503
        crisis = c.post("/f/contact", data=post(CRISIS), headers=JSON)
        assert crisis.status_code == 202 and crisis.json()["verdict"] == "crisis"
    import sqlite3

    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    kinds = [k for (k,) in db.execute("SELECT kind FROM outbox")]
    db.close()
    assert kinds == ["urgent"]
