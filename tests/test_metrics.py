"""/metrics counts match a scripted run exactly, and carry no message content."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2 as httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from relay.app import create_app
from relay.settings import Settings

GOOD = {"name": "Ana Diaz", "email": "ana@example.com", "phone": "555-123-4567",
        "message": "Are you open on Saturday? CANARY-METRICS-1"}  # fmt: skip
ORIGIN = {"origin": "https://clinic.example"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_scripted_run_is_counted_exactly(tmp_path: Path) -> None:
    """Each outcome, verdict and delivery of a scripted run appears with its exact count."""
    settings = Settings(
        storage={"data_dir": tmp_path},
        limits={"rate": "9/minute"},
        delivery={"poll_interval": 0.05},
        forms={"contact": {"recipients": ["desk@clinic.example"],
                           "allowed_origins": ["https://clinic.example"]}},
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:

        def post(body: dict[str, str], headers: dict[str, str] = ORIGIN) -> httpx.Response:
            return client.post("/f/contact", json=body, headers=headers)

        for _ in range(3):
            assert post(GOOD).status_code == 202
        assert post({**GOOD, "email": "nope"}).status_code == 422
        assert post({**GOOD, "phone": ""}).status_code == 422
        medical = "I was diagnosed with epilepsy and take Keppra 500 mg twice a day."
        assert post({**GOOD, "message": medical}).status_code == 422
        crisis = "I have decided to end my life this weekend, I have the pills ready."
        assert post({**GOOD, "message": crisis}).status_code == 202
        assert post({**GOOD, "_gotcha": "x"}).status_code == 202
        assert post(GOOD, {"origin": "https://evil.example"}).status_code == 403
        assert post(GOOD).status_code == 202  # the 9th counted post
        assert post(GOOD).status_code == 429
        assert post(GOOD).status_code == 429
        maildir = tmp_path / "mail" / "new"
        deadline = time.monotonic() + 10
        while len(list(maildir.glob("*.eml"))) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        text = client.get("/metrics").text
    got = samples(text)

    def count(name: str, **labels: str) -> float:
        return got.get((name, tuple(sorted(labels.items()))), 0.0)

    outcomes = {"accepted": 5, "invalid": 2, "medical_refused": 1, "spam": 1, "forbidden": 1,
                "rate_limited": 2}  # fmt: skip
    for outcome, n in outcomes.items():
        assert count("relay_submissions_total", form="contact", outcome=outcome) == n, outcome
    # Screening runs on every post whose body could be read, before any other decision:
    # 4 accepted, 2 invalid, the honeypot, the other site and the 2 rate-limited posts.
    assert count("relay_screening_verdicts_total", form="contact", verdict="clean") == 10
    assert count("relay_screening_verdicts_total", form="contact", verdict="medical") == 1
    assert count("relay_screening_verdicts_total", form="contact", verdict="crisis") == 1
    assert count("relay_delivery_attempts_total", result="sent") == 5
    assert count("relay_outbox_depth") == 0 and count("relay_dead_letters_total") == 0
    assert count("relay_delivery_held") == 0
    assert "CANARY-METRICS" not in text and "epilepsy" not in text and "pills" not in text


def test_invented_methods_add_no_metric_series(tmp_path: Path) -> None:
    """The latency histogram labels methods from a fixed set: made-up ones are "other"."""
    from starlette.testclient import TestClient

    from relay.app import create_app
    from relay.settings import Settings

    app = create_app(Settings(storage={"data_dir": tmp_path}), run_worker=False)
    with TestClient(app) as client:
        for n in range(3):
            client.request(f"X{n}ANY", "/healthz")
        text = client.get("/metrics").text
    assert "X0ANY" not in text and 'method="other"' in text
