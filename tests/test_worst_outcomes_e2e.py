"""Issue 12's four worst outcomes, against the real service (``python -m relay serve``
under uvicorn, real sockets, real SQLite, delivery to the maildir)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from relay.antispam import FillToken
from tests.support import RelayProcess, wait_for

KEY = "a-signing-key-shared-by-the-replicas-0123"
VISITOR = {"name": "Sam Lee", "email": "sam@example.com", "phone": "555-010-2000"}
JSON = {"accept": "application/json"}


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    process = RelayProcess(
        tmp_path_factory.mktemp("relay"),
        {"RELAY_LIMITS__RATE": "1000/minute", "RELAY_SECURITY__SIGNING_KEY": KEY},
    )
    process.start()
    yield process
    process.stop()


def urgent_notices(relay: RelayProcess) -> list[str]:
    """The urgent call-back notices delivered to the maildir so far."""
    return [
        text
        for path in (relay.data_dir / "mail" / "new").glob("*.eml")
        if "URGENT: please call back" in (text := path.read_text())
    ]


def assert_crisis_answer(response: httpx.Response) -> None:
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["verdict"] == "crisis"
    assert any("988" in r["contact"] for r in body["resources"])


def test_capitals_suicidal_message_gets_resources_never_a_422(relay: RelayProcess) -> None:
    """(1) A message in capitals saying the writer is suicidal: 202 with the resources,
    and staff get the urgent notice."""
    before = len(urgent_notices(relay))
    message = "I AM SUICIDAL AND I NEED HELP NOW. PLEASE SOMEONE CALL ME."
    response = httpx.post(relay.url + "/f/contact", json={**VISITOR, "message": message})
    assert_crisis_answer(response)
    assert wait_for(lambda: len(urgent_notices(relay)) == before + 1, 10)


def test_spanish_self_harm_message_is_a_crisis(relay: RelayProcess) -> None:
    """(2) A Spanish message saying the writer cut themselves again last night and
    cannot stop: the crisis answer (resources), and the urgent notice."""
    before = len(urgent_notices(relay))
    message = "Me corté otra vez anoche y no puedo parar. No sé qué hacer."
    response = httpx.post(relay.url + "/f/contact", json={**VISITOR, "message": message})
    assert_crisis_answer(response)
    assert wait_for(lambda: len(urgent_notices(relay)) == before + 1, 10)


@pytest.mark.parametrize("token", ["another key", "too fast", "forged"])
def test_crisis_with_a_failing_fill_token_still_reaches_staff(
    relay: RelayProcess, token: str
) -> None:
    """(3) A crisis posted with a token from another replica's key, less than 3 s after
    the token was issued, or forged: resources in the answer, urgent notice delivered."""
    if token == "another key":
        value = FillToken(b"another replica's key").issue(time.time() - 60)
    elif token == "too fast":
        value = httpx.get(relay.url + "/f/contact/token").json()["value"]
    else:
        value = f"v1.{int(time.time()) - 60}.{'0' * 32}"
    before = len(urgent_notices(relay))
    message = "I have decided to end my life this weekend, I have the pills ready."
    response = httpx.post(
        relay.url + "/f/contact", json={**VISITOR, "message": message, "_ts": value}
    )
    assert_crisis_answer(response)
    assert wait_for(lambda: len(urgent_notices(relay)) == before + 1, 10)


def test_medical_refusal_says_which_words_and_can_send_without_them(relay: RelayProcess) -> None:
    """(4) The medical 422 names the words it found (spans into the text); posting again
    with _send_redacted=1 delivers the message with those words masked."""
    message = "Can I book for next week? I was diagnosed with epilepsy and take Keppra 500 mg."
    posted = {**VISITOR, "message": message}
    refused = httpx.post(relay.url + "/f/contact", json=posted, headers=JSON)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"].endswith("/medical-content")
    words = {message[s["start"] : s["end"]] for s in problem["spans"]}
    assert "Keppra" in words and all(s["field"] == "message" for s in problem["spans"])
    sent = httpx.post(relay.url + "/f/contact", json={**posted, "_send_redacted": "1"})
    assert sent.status_code == 202 and sent.json()["verdict"] == "medical"
    sid = sent.json()["id"]
    maildir = relay.data_dir / "mail" / "new"

    def delivered() -> list[str]:
        return [t for p in maildir.glob("*.eml") if sid in (t := p.read_text())]

    assert wait_for(lambda: len(delivered()) == 1, 10)
    (mail,) = delivered()
    assert "Keppra" not in mail and "[removed]" in mail and "Can I book for next week?" in mail


def test_the_service_logs_no_message_text(relay: RelayProcess) -> None:
    """After the posts above, the log holds none of their words."""
    log = relay.log.read_text()
    for word in ("SUICIDAL", "corté", "pills", "Keppra", "epilepsy"):
        assert word not in log
