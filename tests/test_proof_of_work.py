"""The self-hosted proof-of-work check (ALTCHA v1 protocol) with replay protection."""

from __future__ import annotations

import base64
import json
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


def test_solved_challenge_is_accepted_once(client_at: Callable[[float], TestClient]) -> None:
    """A solved challenge lets the post through; the same solution again is refused."""
    client = client_at(0)
    challenge = client.get("/f/contact/challenge").json()
    assert challenge["maxNumber"] == 2000 and challenge["algorithm"] == "SHA-256"
    payload = solved(challenge)
    assert client.post("/f/contact", json={**GOOD, "altcha": payload}).status_code == 202
    again = client.post("/f/contact", json={**GOOD, "altcha": payload})
    assert again.status_code == 403 and again.json()["type"].endswith("/proof-of-work")


@pytest.mark.parametrize("payload", ["", "not base64!", base64.b64encode(b"{}").decode()])
def test_missing_or_forged_solutions_are_refused(
    client_at: Callable[[float], TestClient], payload: str
) -> None:
    """No solution, garbage, or a payload without the signed fields: 403, nothing stored."""
    client = client_at(0)
    body = {**GOOD, "altcha": payload} if payload else GOOD
    assert client.post("/f/contact", json=body).status_code == 403


def test_tampered_and_expired_solutions_are_refused(
    client_at: Callable[[float], TestClient],
) -> None:
    """A solution for another number, or for a challenge past its expiry, is refused."""
    client = client_at(0)
    challenge = client.get("/f/contact/challenge").json()
    payload = json.loads(base64.b64decode(solved(challenge)))
    payload["number"] += 1
    forged = base64.b64encode(json.dumps(payload).encode()).decode()
    assert client.post("/f/contact", json={**GOOD, "altcha": forged}).status_code == 403
    old = client_at(-3600).get("/f/contact/challenge").json()  # expired an hour ago
    assert client.post("/f/contact", json={**GOOD, "altcha": solved(old)}).status_code == 403


def test_forms_without_the_check_need_no_solution(client_at: Callable[[float], TestClient]) -> None:
    """Forms that do not ask for proof of work accept posts as before and offer no challenge."""
    client = client_at(0)
    assert client.post("/f/plain", json=GOOD).status_code == 202
    assert client.get("/f/plain/challenge").status_code == 404
    page = client.get("/f/contact", headers={"accept": "text/html"}).text
    assert 'data-pow="/f/contact/challenge"' in page and "<noscript>" in page
