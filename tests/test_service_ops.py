"""The real service (uvicorn subprocess) as an operator runs it: what it leaves on disk
(modes, delivered text), how it stops, and how it rides out a full disk (a real small
tmpfs, when this process may mount one)."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.support import RelayProcess, Sink, SinkServer, relay_env_for, wait_for

CRISIS = "I don't want to live anymore. I have saved up my pills to take them tonight."


def visitor(message: str) -> dict[str, str]:
    return {"name": "Ana Diaz", "email": "ana@example.com", "phone": "555-123-4567",
            "message": message}  # fmt: skip


def post(url: str, message: str) -> httpx.Response:
    return httpx.post(
        url + "/f/contact", json=visitor(message), headers={"accept": "application/json"}
    )


def database_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith("outbox.sqlite3")]


def holding(folder: Path, canary: bytes) -> list[str]:
    return [p.name for p in database_files(folder) if canary in p.read_bytes()]


def test_delivered_text_leaves_every_database_file_within_seconds(tmp_path: Path) -> None:
    """Once a message is delivered, its text is gone from outbox.sqlite3, -wal and -shm
    within a few seconds, while the service keeps running (no purge, no shutdown)."""
    sink = Sink()
    server = SinkServer(sink)
    server.up()
    relay = RelayProcess(tmp_path / "data", relay_env_for(server))
    relay.start()
    canary = f"CANARY-{secrets.token_hex(8)}"
    try:
        answer = post(relay.url, f"What are your opening hours? {canary}")
        assert answer.status_code == 202
        assert wait_for(lambda: len(sink.received) == 1, 10)
        delivered = time.monotonic()
        assert wait_for(lambda: not holding(relay.data_dir, canary.encode()), 5, 0.05), holding(
            relay.data_dir, canary.encode()
        )
        assert time.monotonic() - delivered < 5
        assert relay.proc is not None and relay.proc.poll() is None  # still serving
    finally:
        assert relay.stop()
        server.down()


def test_data_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """Under umask 000, the folders the relay makes are 0700 and its files (database,
    WAL, SHM, delivered .eml, signing key) 0600."""
    store = tmp_path / "run" / "store"  # the relay creates it, and mail/ below it
    relay = RelayProcess(tmp_path / "run", {"RELAY_STORAGE__DATA_DIR": str(store)})
    relay.start(umask=0o000)
    try:
        assert post(relay.url, "Do you have appointments on Saturday?").status_code == 202
        assert wait_for(lambda: any((store / "mail" / "new").glob("*.eml")), 10)
        files = {p.relative_to(store).as_posix(): p for p in store.rglob("*")}
        assert {"outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm",
                "signing.key"} <= set(files)  # fmt: skip
    finally:
        assert relay.stop()
    files = {p.relative_to(store).as_posix(): p for p in store.rglob("*")}
    files["."] = store
    assert any(name.endswith(".eml") for name in files)
    for name, path in files.items():
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (name, oct(mode))


def test_serve_uses_uvicorns_standard_extras_when_installed(tmp_path: Path) -> None:
    """serve runs on uvloop and httptools when they are installed (they are pinned),
    and says which loop and HTTP parser it runs at start."""
    relay = RelayProcess(tmp_path / "data")
    relay.start()
    assert relay.stop()
    [server] = [json.loads(line) for line in relay.log.read_text().splitlines()
                if '"event": "server"' in line]  # fmt: skip
    assert (server["loop"], server["http"]) == (
        "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "httptools" if importlib.util.find_spec("httptools") else "h11",
    )
    assert importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")


def test_request_cut_off_at_shutdown_is_not_an_error(tmp_path: Path) -> None:
    """A client still sending its body when the graceful shutdown runs out is cut off:
    logged at info level, no error-level CancelledError, and the stop stays clean."""
    relay = RelayProcess(tmp_path / "data")
    relay.start()
    with socket.create_connection(("127.0.0.1", relay.port)) as slow:
        slow.sendall(
            b"POST /f/contact HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
            b'Accept: application/json\r\nContent-Length: 1000\r\n\r\n{"name": '
        )
        time.sleep(0.3)
        assert relay.stop(30)
    lines = [json.loads(line) for line in relay.log.read_text().splitlines() if line.strip()]
    assert any(line["event"] == "request cut off at shutdown" for line in lines)
    errors = [line for line in lines if line["level"] in ("error", "critical")]
    assert errors == []


# --- a full disk, on a real 12 MiB file system ------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 12 MiB tmpfs mounted at a fresh folder (skipped where mounting is not allowed)."""
    mount = tmp_path / "vol"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write a filler file until the file system is full; return it."""
    filler = folder / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_full_disk_keeps_a_reserve_for_delivery_and_reopens(small_disk: Path) -> None:
    """With the SMTP server down, posts are accepted until the disk reserve, then get
    503 with Retry-After, /readyz is red, and a log line and a metric say why; crisis
    notices are still taken. Once the server is back every acknowledged post is
    delivered, the intake reopens by itself, and the shutdown is clean."""
    sink = Sink()
    server = SinkServer(sink)  # down for now
    data = small_disk / "data"
    relay = RelayProcess(
        data, relay_env_for(server, RELAY_STORAGE__MIN_FREE_BYTES=str(3 * 1024 * 1024))
    )
    relay.start()
    long_text = "Could you tell me about your opening hours and parking? " * 150  # ~8.5 KB
    acknowledged: list[str] = []
    try:
        with httpx.Client(base_url=relay.url, headers={"accept": "application/json"}) as client:
            for _ in range(3000):
                answer = client.post("/f/contact", json=visitor(long_text))
                if answer.status_code != 202:
                    break
                acknowledged.append(answer.json()["id"])
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"].isdigit()
            assert len(acknowledged) > 100
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["disk"] != "ok"
            assert "relay_storage_low 1.0" in client.get("/metrics").text
            crisis = client.post("/f/contact", json=visitor(CRISIS))
            assert crisis.status_code == 202 and crisis.json()["verdict"] == "crisis"
            acknowledged.append(crisis.json()["id"])

            server.up()
            assert wait_for(lambda: sink.submission_ids() >= set(acknowledged), 120, 0.2), (
                f"{len(sink.submission_ids())} of {len(acknowledged)} delivered"
            )

            def reopened() -> bool:
                return client.post("/f/contact", json=visitor("Hello again")).status_code == 202

            assert wait_for(reopened, 30, 0.5)
            assert client.get("/readyz").status_code == 200
        log = relay.log.read_text()
        assert "disk reserve reached" in log and "intake open" in log
    finally:
        clean = relay.stop()
        server.down()
    log = relay.log.read_text()
    assert clean and "Traceback" not in log and "shutdown failed" not in log


def test_close_on_a_full_disk_does_not_raise(small_disk: Path) -> None:
    """Closing the outbox when its checkpoint cannot write (ENOSPC) still closes it,
    without an exception (which ended the service's shutdown in a traceback)."""
    from relay.outbox import SqliteOutbox
    from tests.conftest import compose_item

    box = SqliteOutbox(small_disk / "outbox.sqlite3")
    box.add([compose_item(message="x" * 5000) for _ in range(300)], now=1.0, give_up_after=60)
    filler = fill(small_disk)
    try:
        box.close()
    finally:
        filler.unlink()
    again = SqliteOutbox(small_disk / "outbox.sqlite3")
    assert again.stats().counts["queued"] == 300  # nothing lost: the WAL was replayed
    again.close()
    assert os.stat(small_disk / "outbox.sqlite3").st_size > 0
