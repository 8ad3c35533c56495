"""The self-hosted proof-of-work check (ALTCHA v1 protocol) with replay protection."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from altcha import v1 as altcha_v1
from starlette.testclient import TestClient

from relay.app import create_app
from relay.settings import Settings

GOOD = {"name": "Ana Diaz", "email": "ana@example.com", "phone": "555-123-4567",
        "message": "Is there parking near the clinic?"}  # fmt: skip


def solved(challenge: dict[str, Any]) -> str:
    """Solve a challenge the way the page's script does and encode the payload."""
    made = altcha_v1.Challenge(
        challenge["algorithm"], challenge["challenge"], challenge["maxNumber"],
        challenge["salt"], challenge["signature"],
    )  # fmt: skip
    solution = altcha_v1.solve_challenge(made)
    assert solution is not None
    payload = {**{k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")},
               "number": solution.number}  # fmt: skip
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.fixture
def client_at(tmp_path: Path) -> Iterator[Callable[[float], TestClient]]:
    """A client whose app clock is offset by the given seconds (to make old challenges)."""
    clients: list[TestClient] = []

    def make(offset: float = 0.0) -> TestClient:
        settings = Settings(
            storage={"data_dir": tmp_path},
            security={"pow_max_number": 2000},
            forms={
                "contact": {"recipients": ["desk@clinic.example"], "proof_of_work": True},
                "plain": {"recipients": ["desk@clinic.example"]},
            },
        )
        client = TestClient(create_app(settings, run_worker=False,
                                       clock=lambda: time.time() + offset))  # fmt: skip
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def state_of(tmp_path: Path, response: Any) -> str:
    """The outbox state of the post a 202 answered."""
    assert response.status_code == 202, response.text
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    try:
        row = db.execute("SELECT state FROM outbox WHERE id=?", (response.json()["id"],)).fetchone()
    finally:
        db.close()
    return str(row[0])


def test_solved_challenge_is_accepted_once(
    client_at: Callable[[float], TestClient], tmp_path: Path
) -> None:
    """A solved challenge lets the post through; the same solution again is kept as
    suspected (stored, not delivered), with the same answer."""
    client = client_at(0)
    challenge = client.get("/f/contact/challenge").json()
    assert challenge["maxNumber"] == 2000 and challenge["algorithm"] == "SHA-256"
    payload = solved(challenge)
    assert state_of(tmp_path, client.post("/f/contact", json={**GOOD, "altcha": payload})) == (
        "queued"
    )
    again = client.post("/f/contact", json={**GOOD, "altcha": payload})
    assert again.json().keys() == {"id", "status", "verdict"}
    assert state_of(tmp_path, again) == "suspected"


def test_a_solution_is_spent_only_when_its_post_is_accepted(
    client_at: Callable[[float], TestClient], tmp_path: Path
) -> None:
    """A post refused for a bad field or for medical details does not use the solution
    up: the corrected post with the same solution is delivered."""
    client = client_at(0)
    payload = solved(client.get("/f/contact/challenge").json())
    bad = client.post("/f/contact", json={**GOOD, "email": "nope", "altcha": payload})
    assert bad.status_code == 422
    medical = {**GOOD, "message": "I take lithium 600 mg for bipolar disorder.", "altcha": payload}
    assert client.post("/f/contact", json=medical).status_code == 422
    fixed = client.post("/f/contact", json={**GOOD, "altcha": payload})
    assert state_of(tmp_path, fixed) == "queued"


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "not base64!",
        base64.b64encode(b"{}").decode(),
        base64.b64encode(b"[1, 2]").decode(),  # a JSON list
        base64.b64encode(json.dumps({"algorithm": "SHA-256", "challenge": "x", "number": 1,
                                     "salt": 7, "signature": "y"}).encode()).decode(),
        base64.b64encode(b"[" * 5000).decode()[:2000],
    ],
)  # fmt: skip
def test_missing_or_forged_solutions_are_kept_as_suspected(
    client_at: Callable[[float], TestClient], tmp_path: Path, payload: str
) -> None:
    """No solution, garbage, a JSON list, a non-string salt, or a payload without the
    signed fields: the same 202 answer, the post kept as suspected."""
    client = client_at(0)
    body = {**GOOD, "altcha": payload} if payload else GOOD
    assert state_of(tmp_path, client.post("/f/contact", json=body)) == "suspected"


def test_tampered_and_expired_solutions_are_kept_as_suspected(
    client_at: Callable[[float], TestClient], tmp_path: Path
) -> None:
    """A solution for another number, or for a challenge past its expiry, is suspected."""
    client = client_at(0)
    challenge = client.get("/f/contact/challenge").json()
    payload = json.loads(base64.b64decode(solved(challenge)))
    payload["number"] += 1
    forged = base64.b64encode(json.dumps(payload).encode()).decode()
    assert state_of(tmp_path, client.post("/f/contact", json={**GOOD, "altcha": forged})) == (
        "suspected"
    )
    old = client_at(-3600).get("/f/contact/challenge").json()  # expired an hour ago
    late = client.post("/f/contact", json={**GOOD, "altcha": solved(old)})
    assert state_of(tmp_path, late) == "suspected"


def test_forms_without_the_check_need_no_solution(client_at: Callable[[float], TestClient]) -> None:
    """Forms that do not ask for proof of work accept posts as before and offer no challenge."""
    client = client_at(0)
    assert client.post("/f/plain", json=GOOD).status_code == 202
    assert client.get("/f/plain/challenge").status_code == 404
    page = client.get("/f/contact", headers={"accept": "text/html"}).text
    assert 'data-pow="/f/contact/challenge"' in page and "<noscript>" in page
