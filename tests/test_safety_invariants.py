"""Issue 12's safety invariants, each through HTTP against the app (in-process, real
SQLite): a crisis gets the resources and the urgent notice whatever else is wrong;
a crisis signal is never refused; nothing but a filled honeypot is dropped; the
medical refusal names its words and can be answered with "send without these words".
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from relay.antispam import FillToken
from relay.app import create_app
from relay.compose import Draft, render
from relay.settings import Settings

GOOD = {
    "name": "Ana Diaz",
    "email": "ana@example.com",
    "phone": "555-123-4567",
    "message": "What are your hours on Saturday?",
}
TEXT_PLAIN = {"content-type": "text/plain;charset=UTF-8"}
CRISIS = "I don't want to live anymore. I have saved up my pills and I plan to take them tonight."
CAPITALS = "I AM SUICIDAL AND I NEED HELP NOW. I HAVE BIPOLAR DISORDER AND TAKE LITHIUM 600 MG."
MEDICAL = "I was diagnosed with bipolar disorder last year and I take lithium 600 mg."
# A crisis stated in the first person in a light tone, beside a health word: the network
# scores it far below the soft zone; the statement makes it a crisis.
LIGHT = (
    "Sorry for the casual tone, funny week honestly, but I am currently suicidal and my "
    "psychiatrist retired last month. Do you do quick intakes or is quick like the DMV? lol"
)
# Past history and a medication: the screening asks for the resources, short of a crisis.
UNSURE = "I tried to kill myself three years ago. I take lithium 600 mg now."
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
NOW = 1_800_000_000.0
Client = Callable[..., TestClient]


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[Client]:
    """``client_for(rate="1000/minute", clock_offset=0, **contact_form)``."""
    made: list[TestClient] = []

    def make(rate: str = "1000/minute", **form: Any) -> TestClient:
        settings = Settings(
            storage={"data_dir": tmp_path, "busy_timeout": 0.05}, limits={"rate": rate},
            security={"signing_key": "k" * 32, "pow_max_number": 1000},
            forms={"contact": {"recipients": ["desk@clinic.example"],
                               "crisis_recipients": ["oncall@clinic.example"], **form}},
        )  # fmt: skip
        client = TestClient(create_app(settings, run_worker=False, clock=lambda: NOW))
        client.__enter__()
        made.append(client)
        return client

    yield make
    for client in made:
        client.__exit__(None, None, None)


def rows(tmp_path: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM outbox ORDER BY seq")]
    finally:
        db.close()


def mail(row: dict[str, Any]) -> str:
    return render(Draft.from_json(row["body"])).as_string()


def assert_crisis_answer(response: Any) -> None:
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["verdict"] == "crisis" and body["note"]
    assert any("988" in r["contact"] for r in body["resources"])


def assert_one_urgent_notice(tmp_path: Path) -> dict[str, Any]:
    (row,) = rows(tmp_path)
    assert row["kind"] == "urgent" and row["state"] == "queued"
    assert json.loads(row["recipients"]) == ["oncall@clinic.example"]
    return row


def token_at(seconds_ago: float, key: bytes = b"k" * 32) -> str:
    return FillToken(key).issue(NOW - seconds_ago)


SPAM_SIGNALS: dict[str, dict[str, Any]] = {
    "token missing where required": {"_form": {"require_fill_token": True}},
    "token forged": {"_ts": "v1.1799999000.0123456789abcdef0123456789abcdef"},
    "token garbage": {"_ts": "v1.¹²³.zz"},
    "token too fast": {"_ts": token_at(0.5)},
    "token from another key": {"_ts": token_at(60, key=b"another replica's key")},
    "token stale where required": {"_ts": token_at(3 * 86400),
                                   "_form": {"require_fill_token": True}},
    "proof of work missing": {"_form": {"proof_of_work": True}},
    "proof of work forged": {"altcha": base64.b64encode(b'{"a": 1}').decode(),
                             "_form": {"proof_of_work": True}},
    "honeypot filled": {"_gotcha": "http://spam.example"},
}  # fmt: skip


@pytest.mark.parametrize("signal", sorted(SPAM_SIGNALS))
@pytest.mark.parametrize("message", [CRISIS, CRISIS.upper()])
def test_a_crisis_gets_resources_and_the_urgent_notice_whatever_the_spam_checks_say(
    client_for: Client, tmp_path: Path, signal: str, message: str
) -> None:
    """Token, proof of work or honeypot failing: the crisis answer and a queued urgent
    notice to the crisis recipients, with the visitor's contact details."""
    extra = dict(SPAM_SIGNALS[signal])
    client = client_for(**extra.pop("_form", {}))
    assert_crisis_answer(client.post("/f/contact", json={**GOOD, "message": message, **extra}))
    assert "555-123-4567" in mail(assert_one_urgent_notice(tmp_path))


def test_a_crisis_with_invalid_fields_still_reaches_staff(
    client_for: Client, tmp_path: Path
) -> None:
    """A bad email and a missing name do not stand in front of a crisis: the crisis
    answer, and the urgent notice with the contact details that were valid."""
    client = client_for()
    posted = {**GOOD, "name": "", "email": "not an address", "message": CRISIS}
    assert_crisis_answer(client.post("/f/contact", json=posted))
    notice = mail(assert_one_urgent_notice(tmp_path))
    assert "555-123-4567" in notice and "not an address" not in notice
    assert "Reply-To" not in notice


def test_a_crisis_browser_post_with_invalid_fields_goes_to_the_support_page(
    client_for: Client,
) -> None:
    """A browser gets the crisis page, not the form with errors."""
    client = client_for()
    response = client.post(
        "/f/contact", data={**GOOD, "email": "x", "message": CRISIS}, headers=BROWSER,
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/f/contact/support?lang=en"


@pytest.mark.parametrize("message", [CAPITALS, CRISIS + " " + MEDICAL, LIGHT])
def test_a_crisis_wins_over_medical_under_reject(
    client_for: Client, tmp_path: Path, message: str
) -> None:
    """medical=reject never refuses a crisis, in capitals or beside medical details."""
    client = client_for(medical="reject")
    assert_crisis_answer(client.post("/f/contact", json={**GOOD, "message": message}))
    assert_one_urgent_notice(tmp_path)


@pytest.mark.parametrize("policy", ["reject", "redact", "flag"])
def test_an_unsure_crisis_is_delivered_flagged_with_resources_shown(
    client_for: Client, tmp_path: Path, policy: str
) -> None:
    """The screening asks for resources short of a crisis: never refused; the answer
    shows the resources, and the delivered message is marked for staff."""
    client = client_for(medical=policy)
    response = client.post("/f/contact", json={**GOOD, "message": UNSURE})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["verdict"] == "medical" and body["resources"]
    (row,) = rows(tmp_path)
    assert row["kind"] == "submission" and row["state"] == "queued"
    email = mail(row)
    assert "Subject: [Possible crisis]" in email and "X-Relay-Crisis: possible" in email
    assert "kill myself" in email  # the words that worried the screening stay
    assert ("lithium" in email) == (policy == "flag")
    page = client.post("/f/contact", data={**GOOD, "message": UNSURE}, headers=BROWSER,
                       follow_redirects=False)  # fmt: skip
    assert page.headers["location"] == "/f/contact/thanks?resources=1&lang=en"


@pytest.mark.parametrize("plea", ["help me", "Socorro", "AYÚDENME"])
def test_a_bare_plea_gets_the_resources_and_reaches_staff_flagged(
    client_for: Client, tmp_path: Path, plea: str
) -> None:
    """A message that is only a plea for help is never answered with a plain thank-you:
    the visitor sees the resources and staff get it marked (or as a crisis)."""
    response = client_for().post("/f/contact", json={**GOOD, "message": plea})
    assert response.status_code == 202, response.text
    assert response.json()["resources"]
    (row,) = rows(tmp_path)
    assert row["id"].endswith(".urgent") or "X-Relay-Crisis: possible" in mail(row)


@pytest.mark.parametrize("policy", ["reject", "redact", "flag"])
def test_a_possible_crisis_with_invalid_fields_reaches_staff_with_the_valid_ones(
    client_for: Client, tmp_path: Path, policy: str
) -> None:
    """Not sent back for corrections (a visitor may leave the page with the errors on
    it): the answer shows the resources, and staff get the message marked as a possible
    crisis, with the fields that were valid and nothing of the invalid ones."""
    client = client_for(medical=policy)
    posted = {**GOOD, "name": "", "email": "not an address", "message": UNSURE}
    response = client.post("/f/contact", json=posted)
    assert response.status_code == 202, response.text
    assert response.json()["resources"]
    (row,) = rows(tmp_path)
    assert row["state"] == "queued" and row["id"] == response.json()["id"]
    email = mail(row)
    assert "X-Relay-Crisis: possible" in email and "555-123-4567" in email
    assert "not an address" not in email and "Reply-To" not in email
    page = client.post("/f/contact", data=posted, headers=BROWSER, follow_redirects=False)
    assert page.status_code == 303 and "resources=1" in page.headers["location"]
    assert len(rows(tmp_path)) == 2
    plain = client.post("/f/contact", json={**posted, "message": GOOD["message"]})
    assert plain.status_code == 422 and "resources" not in plain.json()
    assert len(rows(tmp_path)) == 2


def test_a_crisis_goes_past_the_rate_limit_and_the_origin_check(
    client_for: Client, tmp_path: Path
) -> None:
    """Over the rate limit (429) or from another site (403), a crisis message is still
    answered with the resources and stored as an urgent notice; other posts are refused."""
    client = client_for(rate="1/minute", allowed_origins=["https://clinic.example"])
    other_site = {"origin": "https://evil.example"}
    from_elsewhere = client.post("/f/contact", json={**GOOD, "message": CRISIS},
                                 headers=other_site)  # fmt: skip
    assert_crisis_answer(from_elsewhere)
    assert_one_urgent_notice(tmp_path)
    assert client.post("/f/contact", json=GOOD, headers=other_site).status_code == 403
    ok = {"origin": "https://clinic.example"}
    assert client.post("/f/contact", json=GOOD, headers=ok).status_code == 202
    assert client.post("/f/contact", json=GOOD, headers=ok).status_code == 429
    limited = client.post("/f/contact", json={**GOOD, "message": CRISIS}, headers=ok)
    assert_crisis_answer(limited)
    page = client.post("/f/contact", data={**GOOD, "message": CRISIS}, headers={**ok, **BROWSER},
                       follow_redirects=False)  # fmt: skip
    assert page.status_code == 303 and "/support" in page.headers["location"]
    urgent = [r for r in rows(tmp_path) if r["kind"] == "urgent"]
    assert len(urgent) == 3


@pytest.mark.parametrize(
    "signal", ["token forged", "token too fast", "token from another key", "proof of work forged"]
)
def test_a_post_failing_the_token_or_proof_of_work_is_kept_as_suspected(
    client_for: Client, tmp_path: Path, signal: str
) -> None:
    """Not delivered, not dropped: stored as suspected, with the answer of an accepted post."""
    extra = dict(SPAM_SIGNALS[signal])
    client = client_for(**extra.pop("_form", {}))
    response = client.post("/f/contact", json={**GOOD, **extra})
    assert response.status_code == 202 and response.json() == {
        "id": response.json()["id"], "status": "accepted", "verdict": "clean",
    }  # fmt: skip
    (row,) = rows(tmp_path)
    assert row["state"] == "suspected" and row["id"] == response.json()["id"]
    assert "suspected" in client.get("/metrics").text


def test_only_a_filled_honeypot_drops_a_post(client_for: Client, tmp_path: Path) -> None:
    """The honeypot is the one signal that stores nothing (for a message that is no crisis)."""
    client = client_for()
    response = client.post("/f/contact", json={**GOOD, "_gotcha": "x"})
    assert response.status_code == 202 and rows(tmp_path) == []


def test_a_possible_crisis_with_a_filled_honeypot_is_kept_as_suspected(
    client_for: Client, tmp_path: Path
) -> None:
    """A message the screening shows the resources for is not dropped by the honeypot
    (a browser's autofill fills hidden fields too): the visitor sees the resources, and
    the text is kept as suspected, not delivered, for staff to release."""
    client = client_for()
    response = client.post("/f/contact", json={**GOOD, "_gotcha": "x", "message": UNSURE})
    assert response.status_code == 202 and response.json()["resources"]
    (row,) = rows(tmp_path)
    assert row["state"] == "suspected" and row["id"] == response.json()["id"]


# --- the medical refusal: which words, and "send without these words" -------------


def test_medical_refusal_names_the_words_as_spans(client_for: Client, tmp_path: Path) -> None:
    """The 422 carries spans {start, end, category, field} into the visitor's text."""
    client = client_for()
    response = client.post("/f/contact", json={**GOOD, "message": MEDICAL})
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/medical-content")
    words = {MEDICAL[s["start"] : s["end"]] for s in problem["spans"]}
    assert all(s["field"] == "message" and s["category"] for s in problem["spans"])
    assert {"lithium", "600 mg"} <= words
    assert "lithium" not in json.dumps({k: v for k, v in problem.items() if k != "spans"})
    assert rows(tmp_path) == []


def test_medical_page_highlights_the_words_and_offers_to_send_without_them(
    client_for: Client,
) -> None:
    """The browser's 422 page marks the words and has the send-without button."""
    client = client_for()
    page = client.post("/f/contact", data={**GOOD, "message": MEDICAL}, headers=BROWSER)
    assert page.status_code == 422
    assert '<mark data-category="medication">lithium</mark>' in page.text
    assert 'name="_send_redacted" value="1"' in page.text


def test_send_redacted_delivers_with_the_words_masked(client_for: Client, tmp_path: Path) -> None:
    """_send_redacted=1: re-screened and delivered with the medical spans masked, the
    rest intact; spans a client posts are ignored."""
    client = client_for()
    posted = {**GOOD, "message": MEDICAL, "_send_redacted": "1", "spans": "[]"}
    response = client.post("/f/contact", data=posted, headers=BROWSER, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/f/contact/thanks?lang=en"
    (row,) = rows(tmp_path)
    email = mail(row)
    assert "[removed]" in email and "lithium" not in email and "bipolar" not in email
    assert "I was" in email and "last year" in email
    assert "X-Relay-Screening: medical" in email and "X-Relay-Medical-Policy: redact" in email


def test_spanish_answers_carry_the_language(client_for: Client) -> None:
    """A 303 to a built-in page carries ?lang= of the message's language."""
    client = client_for()
    es = {**GOOD, "message": "Hola, ¿tienen citas disponibles el sábado por la mañana?"}
    response = client.post("/f/contact", data=es, headers=BROWSER, follow_redirects=False)
    assert response.headers["location"] == "/f/contact/thanks?lang=es"


def test_a_crisis_that_cannot_be_stored_still_gets_the_resources(
    client_for: Client, tmp_path: Path
) -> None:
    """The outbox is locked: 503 with Retry-After (nothing acknowledged), and the crisis
    resources in the JSON problem and on the browser's page."""
    client = client_for()
    client.get("/healthz")
    blocker = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None, timeout=0.05)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        response = client.post("/f/contact", json={**GOOD, "message": CRISIS})
        page = client.post("/f/contact", data={**GOOD, "message": CRISIS}, headers=BROWSER)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert response.status_code == 503 and response.headers["retry-after"] == "60"
    assert any("988" in r["contact"] for r in response.json()["resources"])
    assert page.status_code == 503 and "988" in page.text and "741741" in page.text
    assert rows(tmp_path) == []


def test_a_failing_rate_limit_store_lets_posts_through(
    client_for: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the rate limiter's storage fails (a Redis outage), posts are not answered
    with a 500: a crisis still gets its resources and its urgent notice."""
    from limits.aio.strategies import MovingWindowRateLimiter

    from relay.ratelimit import MemoryWindow

    async def down(*args: object, **kwargs: object) -> bool:
        raise ConnectionError("redis is down")

    def memory_down(*args: object, **kwargs: object) -> float:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(MovingWindowRateLimiter, "hit", down)
    monkeypatch.setattr(MemoryWindow, "hit", memory_down)  # memory:// counts here
    client = client_for()
    assert_crisis_answer(client.post("/f/contact", json={**GOOD, "message": CRISIS}))
    assert_one_urgent_notice(tmp_path)


def test_a_crisis_in_a_repeated_field_is_still_read(client_for: Client, tmp_path: Path) -> None:
    """A message field posted twice is refused as such, but a crisis in either copy is
    answered with the resources and reaches staff."""
    client = client_for()
    body = "&".join(f"{k}={v}" for k, v in {**GOOD, "message": CRISIS}.items())
    body += "&message=hello"
    answer = client.post("/f/contact", content=body.encode(),
                         headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert_crisis_answer(answer)
    assert_one_urgent_notice(tmp_path)


@pytest.mark.parametrize("signal", ["token forged", "token too fast"])
def test_a_possible_crisis_failing_the_token_is_delivered_not_parked(
    client_for: Client, tmp_path: Path, signal: str
) -> None:
    """A message the screening is unsure about is never kept as suspected, whatever the
    token says: staff get it flagged, the visitor sees the resources."""
    extra = dict(SPAM_SIGNALS[signal])
    client = client_for(**extra.pop("_form", {}))
    response = client.post("/f/contact", json={**GOOD, **extra, "message": UNSURE})
    assert response.status_code == 202 and response.json()["resources"]
    (row,) = rows(tmp_path)
    assert row["state"] == "queued"


def test_too_many_fields_is_a_422_after_screening(client_for: Client, tmp_path: Path) -> None:
    """More fields than limits.max_fields (30) is refused as invalid (422, nothing stored),
    but the text is read first: a crisis in such a post still reaches staff."""
    client = client_for()
    extra = {f"f{i}": "x" for i in range(40)}
    plain = client.post("/f/contact", json={**GOOD, **extra})
    assert plain.status_code == 422
    assert [e["field"] for e in plain.json()["errors"]] == ["_fields"]
    assert rows(tmp_path) == []
    crisis = client.post("/f/contact", json={**GOOD, **extra, "message": CRISIS})
    assert_crisis_answer(crisis)
    assert_one_urgent_notice(tmp_path)


SPANISH_CRISIS = "Ya no quiero vivir. Tengo guardadas mis pastillas y pienso tomarlas esta noche."


@pytest.mark.parametrize(
    ("message", "query", "headers", "listed", "not_listed"),
    [
        (SPANISH_CRISIS, "", {}, "Llame al 988 y marque 2", "Call or text 988"),
        (SPANISH_CRISIS, "?lang=en", {}, "Call or text 988", "Llame al 988"),
        (CRISIS, "", {"accept-language": "es-MX,es;q=0.9"}, "Llame al 988", "Call or text 988"),
        (CRISIS, "", {}, "Call or text 988", "Llame al 988"),
    ],
    ids=["written es", "written es, ?lang=en", "written en, Accept-Language es", "written en"],
)
def test_the_urgent_notice_lists_the_resources_the_visitor_was_shown(
    client_for: Client, tmp_path: Path, message: str, query: str,
    headers: dict[str, str], listed: str, not_listed: str,
) -> None:  # fmt: skip
    """The notice tells staff which resources the visitor saw: those of the answer's
    language (``?lang=``, the message's language, Accept-Language), not always those of
    the language the message was written in."""
    client = client_for()
    response = client.post(f"/f/contact{query}", json={**GOOD, "message": message},
                           headers=headers)  # fmt: skip
    assert_crisis_answer(response)
    shown = [r["contact"] for r in response.json()["resources"]]
    notice = render(Draft.from_json(assert_one_urgent_notice(tmp_path)["body"]))
    body = notice.get_content()
    assert listed in body and not_listed not in body
    assert any(listed in contact or contact in listed for contact in shown)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({**GOOD, "message": CRISIS}),  # fetch(..., {mode: "no-cors"}), sendBeacon
        "".join(f"{k}={v}\r\n" for k, v in {**GOOD, "message": CRISIS}.items()),  # HTML form
        CRISIS,  # a script posting the bare message
    ],
    ids=["json", "form lines", "bare text"],
)
def test_a_crisis_sent_as_text_plain_is_read(client_for: Client, tmp_path: Path, body: str) -> None:
    """text/plain is what a site's script must send to skip the CORS preflight, and what
    an HTML form with enctype="text/plain" sends: a crisis in it gets the resources and
    the urgent notice (it was a 415 before screening)."""
    client = client_for()
    response = client.post("/f/contact", content=body.encode(), headers=TEXT_PLAIN)
    assert_crisis_answer(response)
    notice = mail(assert_one_urgent_notice(tmp_path))
    assert body == CRISIS or "555-123-4567" in notice  # the bare message has no phone


def test_a_crisis_sent_as_bare_text_to_a_form_without_a_message_field_is_read(
    client_for: Client, tmp_path: Path
) -> None:
    """The bare text of a form whose fields hold no "message" is screened as an unlisted
    field: a crisis still gets the resources and the urgent notice."""
    client = client_for(fields=["name", "email", "phone"], required=["name", "email"])
    response = client.post("/f/contact", content=CRISIS.encode(), headers=TEXT_PLAIN)
    assert_crisis_answer(response)
    assert_one_urgent_notice(tmp_path)


def test_bare_text_plain_that_is_no_crisis_is_refused_by_validation(
    client_for: Client, tmp_path: Path
) -> None:
    """Bare text read as the message is validated like any post: no email, a 422 that
    names the missing fields, and nothing stored."""
    client = client_for()
    response = client.post(
        "/f/contact", content=b"What are your opening hours?", headers=TEXT_PLAIN
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} >= {"name", "email"}
    assert rows(tmp_path) == []


def test_a_crisis_in_a_field_the_form_does_not_list_is_not_dropped(
    client_for: Client, tmp_path: Path
) -> None:
    """A site's own box ("comments") that the form's configuration does not list is not
    delivered, but a crisis typed into it gets the resources and the urgent notice."""
    client = client_for()
    response = client.post("/f/contact", json={**GOOD, "comments": CRISIS.upper()})
    assert_crisis_answer(response)
    assert "555-123-4567" in mail(assert_one_urgent_notice(tmp_path))


def test_a_crisis_under_an_empty_field_name_is_read(client_for: Client, tmp_path: Path) -> None:
    """A field posted with an empty name (the OpenAPI fuzz sent one: it was a 500) is
    screened like any unlisted field."""
    response = client_for().post("/f/contact", json={**GOOD, "": CRISIS})
    assert_crisis_answer(response)
    assert_one_urgent_notice(tmp_path)


@pytest.mark.parametrize("other", [MEDICAL, UNSURE])
def test_unlisted_fields_stop_nothing_but_a_possible_crisis_shows_the_resources(
    client_for: Client, tmp_path: Path, other: str
) -> None:
    """Medical details in an unlisted field are never delivered, so they refuse nothing;
    a possible crisis there still shows the resources and flags the message for staff."""
    client = client_for()
    response = client.post("/f/contact", json={**GOOD, "notes": other})
    assert response.status_code == 202, response.text
    (row,) = rows(tmp_path)
    assert row["kind"] == "submission"
    unsure = other == UNSURE
    assert ("resources" in response.json()) == unsure
    assert ("X-Relay-Crisis: possible" in mail(row)) == unsure
