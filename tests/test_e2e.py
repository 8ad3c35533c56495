"""The real service under uvicorn in a subprocess: form post to mailbox, shutdown, crashes."""

from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
import pytest

from tests.support import CLEAN, RelayProcess, Sink, SinkServer, crash_soak, relay_env_for, wait_for


def test_embedded_default_delivers_to_the_maildir(tmp_path: Path) -> None:
    """With no configuration at all, a post to /f/contact ends up as an .eml in data/mail/new."""
    relay = RelayProcess(tmp_path / "data")
    relay.start()
    try:
        page = httpx.get(relay.url + "/f/contact")
        assert page.status_code == 200 and "<form" in page.text
        response = httpx.post(
            relay.url + "/f/contact", data=CLEAN, headers={"accept": "text/html"},
            follow_redirects=True,
        )  # fmt: skip
        assert response.status_code == 200 and response.url.path == "/f/contact/thanks"
        maildir = tmp_path / "data" / "mail" / "new"
        assert wait_for(lambda: len(list(maildir.glob("*.eml"))) == 1, 10)
        mail = next(maildir.glob("*.eml")).read_text()
        assert "Reply-To: soak@example.com" in mail and "X-Relay-Screening: clean" in mail
    finally:
        assert relay.stop()


def test_form_post_reaches_the_smtp_server(tmp_path: Path) -> None:
    """A JSON post is acknowledged with an id, and that id arrives at the SMTP server."""
    sink = Sink()
    server = SinkServer(sink)
    server.up()
    relay = RelayProcess(tmp_path / "data", relay_env_for(server))
    relay.start()
    try:
        response = httpx.post(relay.url + "/f/contact", json=CLEAN)
        assert response.status_code == 202
        sid = response.json()["id"]
        assert wait_for(lambda: sid in sink.submission_ids(), 10)
        (got,) = sink.received
        assert got["rcpt"] == "frontdesk@clinic.example"
        assert got["message_id"].startswith(f"<{sid}@")
    finally:
        relay.stop()
        server.down()


def test_sigterm_finishes_and_keeps_the_queue(tmp_path: Path) -> None:
    """SIGTERM exits cleanly; what was queued (SMTP down) is delivered after a restart."""
    sink = Sink()
    server = SinkServer(sink)  # not started: deliveries fail and stay queued
    relay = RelayProcess(tmp_path / "data", relay_env_for(server))
    relay.start()
    ids = [httpx.post(relay.url + "/f/contact", json=CLEAN).json()["id"] for _ in range(5)]
    assert relay.stop()
    server.up()
    relay.start()
    try:
        assert wait_for(lambda: set(ids) <= sink.submission_ids(), 20)
    finally:
        relay.stop()
        server.down()


@pytest.mark.slow
def test_no_acknowledged_submission_is_lost_across_crashes(tmp_path: Path) -> None:
    """SIGKILL the service repeatedly during a flood (16 posters, so that commits are
    shared and one group's fsync overlaps the next group's write), with an SMTP outage
    and 451s: every acknowledged submission is in the outbox file right after each
    kill, every one is delivered, and any duplicate shares its Message-ID."""
    report = crash_soak(tmp_path, submissions=600, kills=4, defer_ratio=0.2, posters=16)
    assert report.kills == 4
    assert report.acknowledged >= 600 and report.sent > report.acknowledged
    assert report.missing_after_kill == []
    assert report.lost == []
    assert report.duplicates == report.duplicates_with_same_message_id
