"""Configuration traps, met where an operator meets them: ``check-config`` and ``serve``
run as subprocesses. Each mistake is named with what to do; none ends in a traceback,
and none is silently taken for something else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from tests.support import ROOT, RelayProcess, clean_env


def run(*args: str, env: dict[str, str] | None = None, user: int | None = None
        ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``python -m relay ARGS`` with only the given RELAY_* variables (as ``user``)."""
    prefix = []
    if user is not None:
        prefix = [shutil.which("setpriv") or "setpriv", f"--reuid={user}", f"--regid={user}",
                  "--clear-groups"]  # fmt: skip
    return subprocess.run(
        [*prefix, sys.executable, "-m", "relay", *args], capture_output=True, text=True,
        env=clean_env(env or {}), cwd=ROOT, timeout=60,
    )  # fmt: skip


def refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


@pytest.fixture
def ca_pem(tmp_path: Path) -> Path:
    path = tmp_path / "private-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def test_ca_file_is_an_ordinary_setting(ca_pem: Path) -> None:
    """RELAY_SMTP__CA_FILE names the CA bundle (it is not taken for a secret file)."""
    done = run("check-config", env={"RELAY_SMTP__CA_FILE": str(ca_pem)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["smtp"]["ca_file"] == str(ca_pem)


def test_a_non_secret_from_a_file_is_still_refused(tmp_path: Path) -> None:
    """RELAY_SMTP__HOST_FILE is refused, naming the variables that may come from files."""
    refused(run("check-config", env={"RELAY_SMTP__HOST_FILE": str(tmp_path / "h")}),
            "RELAY_SMTP__HOST_FILE", "RELAY_SMTP__PASSWORD_FILE")  # fmt: skip


def test_check_config_masks_the_password_in_the_limits_storage_url() -> None:
    """limits.storage is printed with its password masked (user and host kept)."""
    url = "redis://relay:hunter2-secret@cache.lan:6379/0"
    done = run("check-config", env={"RELAY_LIMITS__STORAGE": url})
    assert done.returncode == 0, done.stderr
    assert "hunter2-secret" not in done.stdout + done.stderr
    assert (
        json.loads(done.stdout)["limits"]["storage"] == "redis://relay:**********@cache.lan:6379/0"
    )


def test_a_misspelt_variable_is_named_with_the_nearest_setting(tmp_path: Path) -> None:
    """RELAY_SMTP_HOST (one underscore) is named in check-config and at serve start,
    with the setting it was probably meant for; its value is never printed."""
    env = {"RELAY_SMTP_HOST": "mail.secret-host.example"}
    done = run("check-config", env=env)
    assert done.returncode == 0
    assert "RELAY_SMTP_HOST" in done.stderr and "RELAY_SMTP__HOST" in done.stderr
    assert "mail.secret-host.example" not in done.stderr
    relay = RelayProcess(tmp_path / "data", env)
    relay.start()
    assert relay.stop()
    warnings = [json.loads(line) for line in relay.log.read_text().splitlines()
                if '"RELAY_SMTP_HOST"' in line]  # fmt: skip
    assert warnings and warnings[0]["level"] == "warning"
    assert warnings[0]["did_you_mean"] == "RELAY_SMTP__HOST"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"RELAY_SERVER__TRUSTED_PROXIES": '["10.0.0.0/33"]'}, ["server.trusted_proxies", "/33"]),
        ({"RELAY_SERVER__TRUSTED_PROXIES": '["not-an-ip"]'}, ["server.trusted_proxies"]),
        ({"RELAY_SMTP__CA_FILE": "/nonexistent/ca.pem"}, ["smtp.ca_file", "no such file"]),
        ({"RELAY_LIMITS__RATE": "0/minute"}, ["limits.rate", "0/minute"]),
        ({"RELAY_SECURITY__SIGNING_KEY": "k"}, ["security.signing_key", "too short"]),
        ({"RELAY_SMTP__HOST": "mail.clinic.example", "RELAY_SMTP__SECURITY": "none",
          "RELAY_SMTP__USERNAME": "relay"}, ["clear text", "allow_plaintext_auth"]),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_traps_are_refused_by_check_config_and_serve(
    command: str, env: dict[str, str], words: list[str], tmp_path: Path
) -> None:
    """Each trap exits 1 with a message naming the key and the fix, before serving."""
    env = {**env, "RELAY_STORAGE__DATA_DIR": str(tmp_path / "data")}
    refused(run(command, *(["--port", "0"] if command == "serve" else []), env=env), *words)
    assert not (tmp_path / "data").exists()  # serve stopped before touching anything


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_plaintext_auth_is_allowed_to_this_machine(host: str) -> None:
    """security = "none" with a username is fine when the server is on loopback."""
    done = run("check-config", env={"RELAY_SMTP__HOST": host, "RELAY_SMTP__SECURITY": "none",
                                    "RELAY_SMTP__USERNAME": "relay"})  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_plaintext_auth_elsewhere_needs_the_explicit_switch() -> None:
    """allow_plaintext_auth = true accepts security = "none" with a username anywhere."""
    done = run("check-config", env={"RELAY_SMTP__HOST": "mail.clinic.example",
                                    "RELAY_SMTP__SECURITY": "none", "RELAY_SMTP__USERNAME": "relay",
                                    "RELAY_SMTP__ALLOW_PLAINTEXT_AUTH": "true"})  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_a_data_folder_it_cannot_write_says_what_to_fix(command: str, tmp_path: Path) -> None:
    """A data folder the process may not write: exit 1 naming the folder, the user id
    and the fix (chown, or another data_dir), no traceback."""
    data = tmp_path / "data"
    data.mkdir()
    user = None
    if os.geteuid() == 0:  # root writes anywhere: run as nobody, who does not own it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv")
        user = 65534
        tmp_path.chmod(0o755)
    else:
        data.chmod(0o500)
    done = run(command, *(["--port", "0"] if command == "serve" else []),
               env={"RELAY_STORAGE__DATA_DIR": str(data)}, user=user)  # fmt: skip
    refused(done, str(data), "chown", "RELAY_STORAGE__DATA_DIR")
