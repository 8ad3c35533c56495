"""The event loop stays responsive while the slowest messages are screened (real uvicorn)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx2 as httpx

from tests.support import RelayProcess

LIMIT = 10_000


def _fill(unit: str) -> str:
    return (unit * (LIMIT // len(unit) + 1))[:LIMIT]


# The slowest kinds of message for screening at the length limit (bench/bench_screening.py).
SLOW = [
    _fill("DOB 01/02/1980 member 12345678 "),
    _fill("50mg "),
    _fill("me corté otra vez, quiero morir, ya no aguanto más. "),
    _fill("😢💊🔪 "),
    _fill("I take 50 mg of sertraline and my A1C was 7.2 last week, "),
    _fill("kill myself suicide overdose tonight "),
    _fill("s\u200bu\u200bi\u200bc\u200bi\u200bd\u200be "),
    _fill("don't can't won't "),
]


def test_healthz_answers_within_50_ms_while_long_messages_are_screened(tmp_path: Path) -> None:
    """Eight concurrent posts of 10,000-character messages, three rounds, while /healthz
    is polled every 10 ms: every health check answers within 50 ms."""
    relay = RelayProcess(
        tmp_path / "data",
        {"RELAY_LIMITS__RATE": "1000/minute", "RELAY_LIMITS__MAX_BODY_BYTES": "262144"},
    )
    relay.start()
    latencies: list[float] = []
    statuses: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=relay.url, timeout=5) as client:
            client.get("/healthz")  # connection set up before measuring
            while not stop.is_set():
                started = time.perf_counter()
                response = client.get("/healthz")
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200
                time.sleep(0.01)

    def post(message: str) -> None:
        with httpx.Client(base_url=relay.url, timeout=30) as client:
            response = client.post(
                "/f/contact",
                json={"name": "Loop Tester", "email": "loop@example.com", "message": message},
            )
            statuses.append(response.status_code)

    poller = threading.Thread(target=poll)
    try:
        poller.start()
        time.sleep(0.2)
        for _ in range(3):
            posters = [threading.Thread(target=post, args=(m,)) for m in SLOW]
            for thread in posters:
                thread.start()
            for thread in posters:
                thread.join()
        time.sleep(0.2)
    finally:
        stop.set()
        poller.join()
        relay.stop()
    assert len(statuses) == 24 and all(s < 500 for s in statuses), statuses
    assert len(latencies) > 20
    assert max(latencies) < 0.05, f"slowest /healthz {max(latencies) * 1000:.1f} ms"
