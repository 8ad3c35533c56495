"""Settings: defaults, TOML, environment overrides, secret files, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.errors import ConfigError
from relay.settings import FormSettings, Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts with no RELAY_* variables and no config/relay.toml in reach."""
    import os

    for key in list(os.environ):
        if key.startswith("RELAY_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "relay.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_embedded_defaults_match_the_product_contract() -> None:
    """With no file and no environment the relay listens on 127.0.0.1:8000 with a contact form."""
    s = load_settings()
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8000)
    assert s.storage.data_dir == Path("data")
    assert not s.smtp.enabled and s.smtp.security == "starttls"
    form = s.forms["contact"]
    assert form.fields == form.required == ["name", "email", "phone", "message"]
    assert form.medical == "reject" and not form.crisis_include_message


def test_shipped_config_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """config/relay.toml in the repository loads and equals the embedded defaults."""
    shipped = Path(__file__).resolve().parents[1] / "config" / "relay.toml"
    assert load_settings(shipped) == Settings()


def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RELAY_SECTION__KEY beats the TOML file, including lists inside a form."""
    path = write(
        tmp_path, '[smtp]\nhost = "from-file"\n[forms.contact]\nrecipients = ["a@x.example"]\n'
    )
    monkeypatch.setenv("RELAY_SMTP__HOST", "from-env")
    monkeypatch.setenv("RELAY_FORMS__CONTACT__RECIPIENTS", '["b@clinic.example"]')
    monkeypatch.setenv("RELAY_DELIVERY__RETRY_INITIAL", "5")
    s = load_settings(path)
    assert s.smtp.host == "from-env"
    assert s.forms["contact"].recipients == ["b@clinic.example"]
    assert s.delivery.retry_initial == 5


def test_relay_config_variable_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RELAY_CONFIG points at the TOML file when --config is not given."""
    path = write(tmp_path, "[server]\nport = 9001\n")
    monkeypatch.setenv("RELAY_CONFIG", str(path))
    assert load_settings().server.port == 9001


def test_password_from_file_is_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RELAY_SMTP__PASSWORD_FILE is read (Docker secrets) and never printed."""
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("RELAY_SMTP__PASSWORD_FILE", str(secret))
    s = load_settings()
    assert s.smtp.password.get_secret_value() == "s3cret"
    assert "s3cret" not in str(s.masked()) and s.masked()["smtp"]["password"] == "**********"
    assert "s3cret" not in repr(s)


def test_only_secrets_may_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A *_FILE variable for a non-secret key is refused with a message naming it."""
    monkeypatch.setenv("RELAY_SMTP__HOST_FILE", str(tmp_path / "x"))
    with pytest.raises(ConfigError, match="RELAY_SMTP__HOST_FILE"):
        load_settings()


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ('[forms.contact]\nmedical = "drop"\n', "forms.contact.medical"),
        ('[forms.contact]\nrecipients = ["not an address"]\n', "forms.contact.recipients"),
        ("[forms.contact]\nrecipients = []\n", "forms.contact"),
        ('[forms.contact]\nrequired = ["age"]\n', "forms.contact"),
        ('[forms.contact]\nsubject = "{name.__class__}"\n', "forms.contact"),
        ('[forms.contact]\nallowed_origins = ["clinic.example"]\n', "allowed_origins"),
        ('[forms.contact]\nredirect = "javascript:alert(1)"\n', "redirect"),
        ('[smtp]\nsecurity = "maybe"\n', "smtp.security"),
        ("[smtp]\nport = 0\n", "smtp.port"),
        ('[smtp]\nfrom_address = "nobody"\n', "smtp.from_address"),
        ("[smpt]\nhost = 'typo'\n", "smpt"),
        ('[forms."Bad Id"]\n', "forms"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, toml: str, where: str) -> None:
    """Each mistake raises ConfigError that names the key to fix."""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, toml))
    assert where in str(info.value)


def test_broken_toml_and_missing_file_are_clear(tmp_path: Path) -> None:
    """Unreadable TOML and a missing --config file give one-line reasons."""
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[server\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")


def test_internal_recipient_domains_are_allowed() -> None:
    """Staff addresses on internal domains (clinic.lan, localhost) are accepted in config."""
    form = FormSettings(recipients=["desk@clinic.lan", "ops@localhost"])
    assert form.recipients == ["desk@clinic.lan", "ops@localhost"]
    assert form.urgent_recipients == form.recipients


def test_crisis_resources_cannot_be_emptied_and_spanish_stays() -> None:
    """An empty resource list is refused; adding a language keeps the built-in Spanish."""
    with pytest.raises(ValueError):
        Settings(crisis={"resources": []})
    extra = {"fr": {"resources": [{"name": "x", "contact": "y", "purpose": "z"}]}}
    languages = Settings(crisis={"languages": extra}).crisis.languages
    assert sorted(languages) == ["es", "fr"]
    assert "AYUDA" in " ".join(r.contact for r in languages["es"].resources)
