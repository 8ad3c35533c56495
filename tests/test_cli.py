"""The command line as operators use it: check-config, screen, outbox, send-test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, Sink, SinkServer, clean_env, relay_env_for


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
        cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "relay", *args], capture_output=True, text=True, input=stdin,
        env=clean_env(env or {}), cwd=cwd, timeout=60,
    )  # fmt: skip


def test_check_config_prints_masked_settings() -> None:
    """check-config prints the effective configuration with the password masked."""
    done = run("check-config", env={"RELAY_SMTP__PASSWORD": "hunter2-secret"})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["smtp"]["password"] == "**********"
    assert "hunter2-secret" not in done.stdout + done.stderr
    assert data["forms"]["contact"]["medical"] == "reject"


def test_check_config_names_the_mistake(tmp_path: Path) -> None:
    """A bad value exits 1 with a message naming the key, no traceback."""
    bad = tmp_path / "relay.toml"
    bad.write_text('[forms.contact]\nmedical = "shred"\n')
    done = run("check-config", "--config", str(bad))
    assert done.returncode == 1
    assert "forms.contact.medical" in done.stderr and "Traceback" not in done.stderr


def test_screen_one_text_is_readable() -> None:
    """screen TEXT prints the verdict and the reasons for a person to read."""
    done = run("screen", "I have been diagnosed with diabetes and take metformin.")
    assert done.returncode == 0
    assert done.stdout.startswith("verdict: medical")


def test_screen_jsonl_follows_the_contract() -> None:
    """screen --jsonl - writes one {id, verdict, reasons[category,start,end]} per input line."""
    lines = [
        {"id": "a", "message": "What are your hours on Saturday?"},
        {"id": "b", "message": "I want to end my life tonight.", "name": "X"},
        {"id": "c", "message": "My DOB is 04/12/1980, can you find my chart?"},
    ]
    done = run("screen", "--jsonl", "-", stdin="".join(json.dumps(x) + "\n" for x in lines))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(o["id"], o["verdict"]) for o in out] == [
        ("a", "clean"),
        ("b", "crisis"),
        ("c", "medical"),
    ]
    for o in out:
        for reason in o["reasons"]:
            assert {"category", "start", "end"} <= set(reason)
            assert isinstance(reason["start"], int) and reason["start"] < reason["end"]


def test_screen_jsonl_reports_bad_lines_without_stopping() -> None:
    """A malformed line is reported by number on stderr; the others are still screened."""
    done = run("screen", "--jsonl", "-", stdin='not json\n{"id": 1, "message": "hi"}\n')
    assert done.returncode == 1
    assert "line 1" in done.stderr
    assert json.loads(done.stdout)["verdict"] == "clean"


@pytest.mark.parametrize("smtp_up", [True, False])
def test_send_test_and_outbox_commands(tmp_path: Path, smtp_up: bool) -> None:
    """send-test delivers through the real path (or says why not); outbox status, list,
    retry and purge report and manage what is stored."""
    sink = Sink()
    server = SinkServer(sink)
    if smtp_up:
        server.up()
    env = {**relay_env_for(server), "RELAY_STORAGE__DATA_DIR": str(tmp_path)}
    try:
        done = run("send-test", env=env)
    finally:
        server.down()
    if smtp_up:
        assert done.returncode == 0, done.stderr
        assert "sent" in done.stdout and len(sink.received) == 1
    else:
        assert done.returncode == 1 and "not sent" in done.stderr
    status = run("outbox", "status", env=env)
    assert status.returncode == 0
    counts = dict(line.split()[:2] for line in status.stdout.splitlines()[:5])
    assert counts == ({"queued": "0", "sending": "0", "sent": "1", "dead": "0", "suspected": "0"}
                      if smtp_up else
                      {"queued": "1", "sending": "0", "sent": "0", "dead": "0", "suspected": "0"}
                      )  # fmt: skip
    listing = run("outbox", "list", env=env)
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 1
    assert run("outbox", "retry", "nope", env=env).returncode == 1
    assert run("outbox", "release", "nope", env=env).returncode == 1
    purge = run("outbox", "purge", "--older-than-days", "0", env=env)
    assert purge.returncode == 0 and purge.stdout.startswith("purged " + ("1" if smtp_up else "0"))


def test_serve_refuses_a_damaged_outbox(tmp_path: Path) -> None:
    """A corrupt outbox stops start-up with exit 1 and a clear message; the file is kept."""
    db = tmp_path / "outbox.sqlite3"
    db.write_bytes(b"garbage" * 1000)
    done = run("serve", "--port", "0", env={"RELAY_STORAGE__DATA_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert "left as it is" in done.stderr
    assert db.read_bytes() == b"garbage" * 1000


def test_outbox_list_and_release_suspected(tmp_path: Path) -> None:
    """outbox list --state suspected shows a kept post; outbox release ID queues it."""
    from relay.outbox import NewItem, SqliteOutbox

    box = SqliteOutbox(tmp_path / "outbox.sqlite3")
    box.add(
        [NewItem(id="s1", submission_id="s1", form_id="contact", kind="submission",
                 verdict="clean", message_id="<s1@x>", sender="a@x", recipients=["b@x"],
                 body=b"{}", suspected=True)],
        now=1e9, give_up_after=86400,
    )  # fmt: skip
    box.close()
    env = {"RELAY_STORAGE__DATA_DIR": str(tmp_path)}
    listing = run("outbox", "list", "--state", "suspected", env=env)
    assert listing.returncode == 0 and listing.stdout.startswith("s1  suspected")
    released = run("outbox", "release", "s1", env=env)
    assert released.returncode == 0 and "released" in released.stdout
    assert run("outbox", "list", "--state", "suspected", env=env).stdout == ""
    assert run("outbox", "list", "--state", "queued", env=env).stdout.startswith("s1  queued")
    assert run("outbox", "release", "s1", env=env).returncode == 1
