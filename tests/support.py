"""Helpers to run the real service (the CLI under uvicorn) in a subprocess, and a
fault-injecting SMTP sink, for end-to-end tests and the crash soak (bench/)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
from aiosmtpd.controller import Controller

from tests.smtpd import free_port

ROOT = Path(__file__).resolve().parents[1]


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(extra)
    return env


class RelayProcess:
    """``python -m relay serve`` on a free port with the given RELAY_* environment."""

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = clean_env({"RELAY_STORAGE__DATA_DIR": str(data_dir), **(env or {})})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "relay.log"

    def start(self, timeout: float = 20.0, *, umask: int | None = None) -> None:
        """Start and wait for /healthz; ``umask`` sets the service's (e.g. 0o000)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "relay", "serve", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=None if umask is None else (lambda: os.umask(umask) and None),
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"relay exited with {self.proc.returncode}; see {self.log}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"relay did not answer within {timeout} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 15.0) -> bool:
        """SIGTERM, as ``docker stop`` sends; True when the shutdown was clean (uvicorn
        re-raises the signal after a graceful shutdown, so the exit status is -15)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return False
        return (
            self.proc.returncode in (0, -signal.SIGTERM)
            and b"relay stopped" in (self.log.read_bytes().rsplit(b"relay started", 1)[-1])
        )


@dataclass
class Sink:
    """Received messages by Message-ID and submission id, with fault knobs."""

    defer_ratio: float = 0.0  # share of DATA commands answered 451
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    received: list[dict[str, str]] = field(default_factory=list)
    deferred: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.rng.random() < self.defer_ratio:
                self.deferred += 1
                return "451 4.3.0 Please try again later"
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.received.append(
                {
                    "message_id": str(msg["Message-ID"]),
                    "submission_id": str(msg["X-Relay-Submission-Id"]),
                    "screening": str(msg["X-Relay-Screening"]),
                    "rcpt": ",".join(envelope.rcpt_tos),
                }
            )
        return "250 2.0.0 Queued"

    def submission_ids(self) -> set[str]:
        with self.lock:
            return {r["submission_id"] for r in self.received}


class _ClosingController(Controller):
    """aiosmtpd's Controller, closing every session's socket when it stops: its stop()
    cancels the sessions' tasks but leaves the sockets of clients still connected (the
    relay keeps one connection across a backlog) to the garbage collector, whose
    ResourceWarning fails the test that happens to be running (seen in the crash test)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: list[Any] = []

    def factory(self) -> Any:
        session = super().factory()  # type: ignore[no-untyped-call]
        self.sessions.append(session)
        return session

    def stop(self, no_assert: bool = False) -> None:
        async def close_all() -> None:
            for session in self.sessions:
                if session.transport is not None:
                    session.transport.close()
            await asyncio.sleep(0.05)  # their connection_lost callbacks run

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout=5)
        super().stop(no_assert)


class SinkServer:
    """A plain aiosmtpd server around a Sink that can be taken down and brought back."""

    def __init__(self, sink: Sink, port: int | None = None) -> None:
        self.sink = sink
        self.port = port or free_port()
        self.controller: _ClosingController | None = None

    def up(self) -> None:
        self.controller = _ClosingController(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def relay_env_for(sink: SinkServer, **extra: str) -> dict[str, str]:
    """Environment for a relay delivering to the sink quickly (short retries)."""
    return {
        "RELAY_SMTP__HOST": "127.0.0.1",
        "RELAY_SMTP__PORT": str(sink.port),
        "RELAY_SMTP__SECURITY": "none",
        "RELAY_SMTP__TIMEOUT": "5",
        "RELAY_DELIVERY__RETRY_INITIAL": "0.2",
        "RELAY_DELIVERY__RETRY_MAX": "1",
        "RELAY_DELIVERY__POLL_INTERVAL": "0.2",
        "RELAY_DELIVERY__LEASE_SECONDS": "3",
        "RELAY_LIMITS__RATE": "100000/minute",
        **extra,
    }


CLEAN = {
    "name": "Soak Tester",
    "email": "soak@example.com",
    "phone": "555-010-0000",
    "message": "Do you have appointments on Saturday morning?",
}


def post_one(client: httpx.Client, url: str) -> str | None:
    """One submission; the id when acknowledged (202), None on any failure."""
    try:
        response = client.post(
            url + "/f/contact", json=CLEAN, headers={"accept": "application/json"}
        )
    except httpx.TransportError:
        return None
    if response.status_code == 202:
        return str(response.json()["id"])
    return None


def wait_for(condition: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


@dataclass
class SoakReport:
    sent: int  # posts tried, including those refused or cut off by a kill
    acknowledged: int
    delivered: int
    lost: list[str]
    duplicates: int
    duplicates_with_same_message_id: int
    kills: int
    # acknowledged before a SIGKILL yet not in the outbox file right after it
    missing_after_kill: list[str]
    deferred_by_sink: int
    drain_seconds: float
    seconds: float


def stored_submissions(outbox: Path) -> set[str]:
    """The submissions an outbox file holds, read as the next start would (SQLite
    recovers the WAL a killed process left)."""
    db = sqlite3.connect(outbox)
    try:
        return {row[0] for row in db.execute("SELECT submission_id FROM outbox")}
    finally:
        db.close()


def crash_soak(
    work: Path,
    *,
    submissions: int,
    kills: int,
    defer_ratio: float = 0.2,
    outage: tuple[float, float] = (0.3, 0.5),
    posters: int = 4,
    drain_timeout: float = 120.0,
) -> SoakReport:
    """Post ``submissions`` from ``posters`` threads while SIGKILLing the relay ``kills``
    times mid-burst; take the SMTP sink down between the ``outage`` fractions of the run;
    the sink answers 451 to ``defer_ratio`` of DATA commands. After each kill, check the
    outbox file for every id acknowledged so far. Then wait until every acknowledged id
    has arrived, and report."""
    sink = Sink(defer_ratio=defer_ratio)
    server = SinkServer(sink)
    server.up()
    relay = RelayProcess(work / "relay", relay_env_for(server))
    relay.start()
    acknowledged: list[str] = []
    missing: set[str] = set()
    attempts = [0]
    progress = [0]
    lock = threading.Lock()

    def poster() -> None:
        # Like a visitor whose post failed, a poster tries again until it has its
        # share of acknowledgements; only a 202 counts.
        with httpx.Client(timeout=10) as client:
            while True:
                with lock:
                    if progress[0] >= submissions:
                        return
                    attempts[0] += 1
                sid = post_one(client, relay.url)
                with lock:
                    if sid is not None:
                        acknowledged.append(sid)
                        progress[0] += 1
                if sid is None:
                    time.sleep(0.02)  # the relay is restarting

    threads = [threading.Thread(target=poster) for _ in range(posters)]
    started = time.monotonic()
    kill_points = [submissions * (i + 1) // (kills + 1) for i in range(kills)]
    done_kills = 0
    sink_down = False
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            done = progress[0]
            if not sink_down and outage[0] * submissions <= done < outage[1] * submissions:
                server.down()
                sink_down = True
            elif sink_down and done >= outage[1] * submissions:
                server.up()
                sink_down = False
            if done_kills < kills and done >= kill_points[done_kills]:
                relay.kill()  # while the posters are mid-request
                done_kills += 1
                with lock:
                    answered = set(acknowledged)
                missing.update(answered - stored_submissions(relay.data_dir / "outbox.sqlite3"))
                relay.start()
            time.sleep(0.01)
        if sink_down:
            server.up()
        drain_start = time.monotonic()
        wanted = set(acknowledged)
        wait_for(lambda: wanted <= sink.submission_ids(), drain_timeout, 0.25)
        drain = time.monotonic() - drain_start
    finally:
        relay.stop()
        server.down()
    with sink.lock:
        by_submission: dict[str, list[str]] = {}
        for r in sink.received:
            by_submission.setdefault(r["submission_id"], []).append(r["message_id"])
    lost = sorted(set(acknowledged) - set(by_submission))
    dupes = {k: v for k, v in by_submission.items() if len(v) > 1}
    return SoakReport(
        sent=attempts[0],
        acknowledged=len(acknowledged),
        delivered=len(set(acknowledged) & set(by_submission)),
        lost=lost,
        duplicates=sum(len(v) - 1 for v in dupes.values()),
        duplicates_with_same_message_id=sum(len(v) - 1 for v in dupes.values() if len(set(v)) == 1),
        kills=done_kills,
        missing_after_kill=sorted(missing),
        deferred_by_sink=sink.deferred,
        drain_seconds=round(drain, 1),
        seconds=round(time.monotonic() - started, 1),
    )
