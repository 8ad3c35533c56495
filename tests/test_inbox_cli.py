"""The inbox's commands as an operator runs them: staff, inbox rotate-key, audit, serve."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from relay.inbox import InboxKey
from tests.test_cli import run

PASSWORD = "correct horse battery staple\n"


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"RELAY_STORAGE__DATA_DIR": str(tmp_path), **extra}


def test_staff_add_prints_the_enrolment_uri_once(tmp_path: Path) -> None:
    """staff add makes an account from stdin, prints otpauth:// once; list shows it."""
    env = env_for(tmp_path)
    done = run("staff", "add", "Nurse@Clinic.example", "--password-stdin", env=env, stdin=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^otpauth://totp/.+secret=[A-Z2-7]+", done.stdout, re.MULTILINE)
    assert "back it up" in done.stderr  # the inbox key was generated just now
    assert stat.S_IMODE((tmp_path / "inbox.key").stat().st_mode) == 0o600
    listed = run("staff", "list", env=env)
    assert listed.returncode == 0 and "nurse@clinic.example" in listed.stdout
    assert "otpauth" not in listed.stdout
    again = run("staff", "add", "nurse@clinic.example", "--password-stdin", env=env, stdin=PASSWORD)
    assert again.returncode == 1 and "exists already" in again.stderr


def test_weak_password_changes_nothing(tmp_path: Path) -> None:
    """A common password is refused with the reason, and no account appears."""
    env = env_for(tmp_path)
    done = run(
        "staff", "add", "a@clinic.example", "--password-stdin", env=env, stdin="password1234\n"
    )
    assert done.returncode == 1 and "common passwords" in done.stderr
    assert "a@clinic.example" not in run("staff", "list", env=env).stdout


def test_reset_remove_and_audit(tmp_path: Path) -> None:
    """reset and remove work on existing accounts, and every change is in the audit log."""
    env = env_for(tmp_path)
    run("staff", "add", "a@clinic.example", "--password-stdin", env=env, stdin=PASSWORD)
    reset = run("staff", "reset", "a@clinic.example", "--password-stdin", env=env,
                stdin="another long passphrase\n")  # fmt: skip
    assert reset.returncode == 0 and "otpauth://" in reset.stdout
    assert run("staff", "remove", "a@clinic.example", env=env).returncode == 0
    assert run("staff", "remove", "a@clinic.example", env=env).returncode == 1
    audit = run("audit", "--since", "2000-01-01", env=env)
    rows = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [r["action"] for r in rows] == ["staff-add", "staff-reset", "staff-remove"]
    assert all(r["at"].startswith("20") for r in rows)
    assert run("audit", "--since", "yesterday", env=env).returncode == 1


def test_rotate_key_replaces_the_key_file(tmp_path: Path) -> None:
    """inbox rotate-key writes a new key (0600) that opens what the old one sealed."""
    env = env_for(tmp_path)
    run("staff", "add", "a@clinic.example", "--password-stdin", env=env, stdin=PASSWORD)
    old = (tmp_path / "inbox.key").read_text()
    done = run("inbox", "rotate-key", env=env)
    assert done.returncode == 0, done.stderr
    assert "re-wrapped 1 data keys" in done.stdout
    new = (tmp_path / "inbox.key").read_text()
    assert new != old and stat.S_IMODE((tmp_path / "inbox.key").stat().st_mode) == 0o600
    assert run("staff", "list", env=env).returncode == 0  # opens with the new key


def test_rotate_key_from_a_secret_needs_a_target(tmp_path: Path) -> None:
    """With the key in RELAY_INBOX__KEY, rotation asks where to write the new one."""
    key = InboxKey.generate().to_text()
    env = env_for(tmp_path, RELAY_INBOX__KEY=key)
    run("staff", "add", "a@clinic.example", "--password-stdin", env=env, stdin=PASSWORD)
    refused = run("inbox", "rotate-key", env=env)
    assert refused.returncode == 1 and "--new-key-file" in refused.stderr
    target = tmp_path / "new.key"
    assert run("inbox", "rotate-key", "--new-key-file", str(target), env=env).returncode == 0
    rotated = env_for(tmp_path, RELAY_INBOX__KEY=target.read_text().strip())
    assert run("staff", "list", env=rotated).returncode == 0
    assert run("staff", "list", env=env).returncode == 1  # the old key no longer opens it


def test_serve_refuses_a_wrong_inbox_key(tmp_path: Path) -> None:
    """serve stops at once, with a message and no traceback, when the key does not match."""
    run(
        "staff",
        "add",
        "a@clinic.example",
        "--password-stdin",
        env=env_for(tmp_path),
        stdin=PASSWORD,
    )
    wrong = env_for(tmp_path, RELAY_INBOX__KEY=InboxKey.generate().to_text(),
                    RELAY_SERVER__PORT="1")  # fmt: skip
    done = run("serve", env=wrong)
    assert done.returncode == 1
    assert "not the one the held messages" in done.stderr and "Traceback" not in done.stderr


def test_hold_without_a_public_url_is_refused(tmp_path: Path) -> None:
    """A form that holds messages needs inbox.public_url for the notice's link."""
    config = tmp_path / "relay.toml"
    config.write_text('[forms.contact]\nmedical = "hold"\n')
    done = run("check-config", "--config", str(config), env=env_for(tmp_path))
    assert done.returncode == 1 and "inbox.public_url" in done.stderr
    assert "Traceback" not in done.stderr
