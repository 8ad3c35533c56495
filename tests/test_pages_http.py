"""The pages over HTTP: language choice, headers, framing and a clinic's own templates."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from relay.app import create_app
from relay.errors import ConfigError
from relay.settings import Settings
from tests.test_pages import parse

ROOT = Path(__file__).resolve().parents[1]
GOOD = {"name": "Ana Diaz", "email": "ana@example.com", "phone": "555-123-4567"}
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
JSON = {"accept": "application/json"}
SPANISH_CRISIS = "Ya no quiero vivir, tengo las pastillas listas para esta noche."
SPANISH_MEDICAL = "Tengo diabetes y tomo metformina 500 mg. ¿Pueden darme una cita?"
PAGES = ["/f/contact", "/f/contact/thanks", "/f/contact/thanks?resources=1",
         "/f/contact/support", "/nowhere"]  # fmt: skip

Factory = Callable[..., TestClient]


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[Factory]:
    """A TestClient (lifespan running, worker off) for given settings."""
    clients: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        contact = {"recipients": ["desk@clinic.example"], **settings.pop("contact", {})}
        config = Settings(storage={"data_dir": tmp_path}, forms={"contact": contact}, **settings)
        client = TestClient(create_app(config, run_worker=False), base_url="http://relay.test")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


# --- language --------------------------------------------------------------------


def test_every_page_says_its_language_and_varies_on_it(client_for: Factory) -> None:
    """Content-Language follows Accept-Language (es-MX -> es); Vary names it."""
    client = client_for()
    for path in PAGES:
        for accept, lang in (("es-MX,es;q=0.9", "es"), ("en-US", "en"), ("", "en")):
            response = client.get(path, headers={**BROWSER, "accept-language": accept})
            assert response.headers["content-language"] == lang, path
            assert "Accept-Language" in response.headers["vary"], path
            assert parse(response.text).find("html").attrs["lang"] == lang


def test_query_wins_and_an_unknown_one_falls_back_quietly(client_for: Factory) -> None:
    """?lang=es beats an English browser; ?lang=xx is ignored, never an error."""
    client = client_for()
    spanish = client.get("/f/contact?lang=es", headers={"accept-language": "en"})
    assert "Enviar mensaje" in spanish.text
    unknown = client.get("/f/contact?lang=xx", headers={"accept-language": "es"})
    assert unknown.status_code == 200 and unknown.headers["content-language"] == "es"
    broken = client.get("/f/contact", headers={"accept-language": ";;q=,,*-*"})
    assert broken.status_code == 200 and broken.headers["content-language"] == "en"


def test_default_language_is_configurable(client_for: Factory) -> None:
    """With pages.default_language = "es" a browser that says nothing gets Spanish."""
    client = client_for(pages={"default_language": "es"})
    assert client.get("/f/contact").headers["content-language"] == "es"


def test_crisis_page_comes_in_the_language_written(client_for: Factory) -> None:
    """A Spanish crisis message from an English browser: Spanish page, 988 press 2."""
    client = client_for(contact={"min_fill_seconds": 0})
    english = {**BROWSER, "accept-language": "en-US,en"}
    posted = client.post("/f/contact", data={**GOOD, "message": SPANISH_CRISIS},
                         headers=english, follow_redirects=False)  # fmt: skip
    assert posted.status_code == 303
    assert posted.headers["location"] == "/f/contact/support?lang=es"
    page = client.get(posted.headers["location"], headers=english)
    assert page.headers["content-language"] == "es"
    doc = parse(page.text)
    assert doc.find("h1").all_text() == "Hay ayuda ahora mismo"
    contacts = [a.all_text() for a in doc.find_all("a", class_="resource-link")]
    assert contacts == ["Llame al 988 y marque 2", "Envíe AYUDA al 988", "Llame al 911"]
    assert "marque 3" not in page.text
    hrefs = [a.attrs["href"] for a in doc.find_all("a", class_="resource-link")]
    assert hrefs == ["tel:988", "sms:988?&body=AYUDA", "tel:911"]


def test_crisis_json_resources_follow_the_language(client_for: Factory) -> None:
    """The 202 for a Spanish crisis carries the Spanish resources and note."""
    client = client_for(contact={"min_fill_seconds": 0})
    body = client.post("/f/contact", data={**GOOD, "message": SPANISH_CRISIS},
                       headers={**JSON, "accept-language": "en"}).json()  # fmt: skip
    assert body["verdict"] == "crisis"
    assert [r["contact"] for r in body["resources"]][:2] == [
        "Llame al 988 y marque 2", "Envíe AYUDA al 988",
    ]  # fmt: skip
    assert body["note"].startswith("Este formulario")


def test_problems_follow_the_language(client_for: Factory) -> None:
    """JSON problem title and detail, and per-field errors, come in Spanish when asked."""
    client = client_for()
    missing = client.get("/f/nope", headers={**JSON, "accept-language": "es"})
    assert missing.status_code == 404
    assert missing.json()["title"] == "No existe ese formulario"
    assert missing.headers["content-language"] == "es"
    medical = client.post("/f/contact", data={**GOOD, "message": SPANISH_MEDICAL}, headers=JSON)
    assert medical.json()["secure_contact"].startswith("Llámenos")
    assert [s["category"] for s in medical.json()["spans"]] == ["condition", "medication", "dose"]
    invalid = client.post("/f/contact", data={"name": "Ana", "message": "¿Tienen citas?"},
                          headers={**JSON, "accept-language": "es"})  # fmt: skip
    assert invalid.status_code == 422
    details = {e["field"]: e["detail"] for e in invalid.json()["errors"]}
    assert details["email"] == "Escriba su correo electrónico, por favor."
    english = client.post("/f/contact", data={"name": "Ana"}, headers=JSON).json()
    assert {e["field"]: e["detail"] for e in english["errors"]}["email"] == (
        "Please fill in your email address."
    )


def test_error_page_in_spanish_keeps_the_text(client_for: Factory) -> None:
    """A Spanish message with a field missing: the error page is Spanish, text kept."""
    client = client_for()
    text = "¿Cuál es su horario el sábado? Quiero pedir una cita para mi madre."
    response = client.post("/f/contact", data={"name": "Ana", "message": text},
                           headers={**BROWSER, "accept-language": "en"})  # fmt: skip
    assert response.status_code == 422 and response.headers["content-language"] == "es"
    doc = parse(response.text)
    assert doc.by_id("f-message").all_text() == text
    assert "Revise 2 cosas antes de enviar" in doc.by_id("error-summary").all_text()


# --- the medical page --------------------------------------------------------------


def test_medical_page_highlights_and_offers_to_send_without(client_for: Factory) -> None:
    """The words found are marked in a copy of the text, listed in plain words, and a
    second button posts the same fields with _send_redacted=1; no script needed."""
    client = client_for()
    response = client.post("/f/contact", data={**GOOD, "message": SPANISH_MEDICAL},
                           headers={**BROWSER, "accept-language": "en"})  # fmt: skip
    assert response.status_code == 422 and response.headers["content-language"] == "es"
    doc = parse(response.text)
    marks = [m.all_text() for m in doc.by_id("medical-found").find_all("mark")]
    assert marks == ["diabetes", "metformina", "500 mg"]
    listed = [li.all_text() for li in doc.find("ul", class_="medical-categories").find_all("li")]
    assert listed == ["una enfermedad o problema de salud", "un medicamento",
                      "una dosis de medicamento"]  # fmt: skip
    assert doc.by_id("f-message").all_text() == SPANISH_MEDICAL  # still editable
    redact = doc.find("button", name="_send_redacted")
    assert redact.attrs["value"] == "1" and redact.attrs["type"] == "submit"
    assert redact.inside("form") and redact.all_text() == "Enviar sin estas palabras"
    buttons = doc.find("form").find_all("button")
    assert buttons[0].all_text() == "Enviar mensaje"  # Enter still sends as written


# --- headers: CSP and framing --------------------------------------------------------


def test_pages_may_be_framed_only_by_allowed_origins(client_for: Factory) -> None:
    """frame-ancestors lists this site and the form's allowed origins, nobody else."""
    client = client_for(contact={"allowed_origins": ["https://clinic.example"]})
    for path in ("/f/contact", "/f/contact/thanks", "/f/contact/support"):
        csp = client.get(path, headers=BROWSER).headers["content-security-policy"]
        assert "frame-ancestors 'self' https://clinic.example" in csp, path
    open_form = client_for().get("/f/contact").headers["content-security-policy"]
    assert open_form.endswith("frame-ancestors 'self'")
    assert (
        "frame-ancestors 'self'"
        in client.get("/nowhere", headers=BROWSER).headers["content-security-policy"]
    )


# --- a clinic's own templates ----------------------------------------------------------


def clinic_templates(folder: Path) -> Path:
    """A clinic's override as its web person would write it: its own base.html."""
    folder.mkdir()
    (folder / "base.html").write_text(
        (ROOT / "relay" / "templates" / "base.html").read_text(encoding="utf-8")
        .replace('{% block brand %}<p class="clinic-name">{{ clinic.name|tr }}</p>{% endblock %}',
                 '{% block brand %}<p class="clinic-logo">VALLEY IV &amp; KETAMINE</p>'
                 '{% endblock %}')
        .replace("{% block footer %}{% endblock %}",
                 '{% block footer %}<footer class="clinic-footer">'
                 "<p>{{ _('Our clinic') }} · 12 Main St · Mon-Fri 9-5</p></footer>"
                 "{% endblock %}"),
        encoding="utf-8",
    )  # fmt: skip
    return folder


def test_a_clinic_base_template_dresses_every_page(client_for: Factory, tmp_path: Path) -> None:
    """Every page wears the clinic's logo text and footer, in both languages; the
    crisis page still puts nothing above the resources; the CSP stays as strict."""
    plain = client_for().get("/f/contact").headers["content-security-policy"]
    client = client_for(pages={"templates_dir": str(clinic_templates(tmp_path / "mine"))})
    for lang in ("en", "es"):
        for path in PAGES:
            response = client.get(path, headers={**BROWSER, "accept-language": lang})
            doc = parse(response.text)
            assert doc.find("p", class_="clinic-logo").all_text() == "VALLEY IV & KETAMINE"
            assert doc.find("footer", class_="clinic-footer"), path
            assert response.headers["content-security-policy"] == plain
    crisis = parse(client.get("/f/contact/support").text).find("body").elements()
    assert crisis[0].tag == "main" and crisis[0].elements()[0].find("h1")
    medical = client.post("/f/contact", data={**GOOD, "message": SPANISH_MEDICAL},
                          headers=BROWSER)  # fmt: skip
    assert "clinic-logo" in medical.text and "<mark" in medical.text


BROKEN = {
    "syntax": ("base.html", "<html>{% block main %}<p>unclosed</html>", "base.html, line 1"),
    "unknown variable": ("base.html", "{{ clinic.logo_url.big }}{% block main %}{% endblock %}",
                         "does not render"),
    "missing parent": ("form.html", '{% extends "nothing.html" %}', "does not render"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_override_is_refused_at_start(tmp_path: Path, case: str) -> None:
    """check-config and serve exit 1 naming the template; create_app refuses too."""
    name, text, says = BROKEN[case]
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8")
    settings = Settings(storage={"data_dir": tmp_path}, pages={"templates_dir": str(folder)})
    with pytest.raises(ConfigError, match="pages.templates_dir"):
        create_app(settings, run_worker=False)
    env = {"RELAY_PAGES__TEMPLATES_DIR": str(folder), "RELAY_STORAGE__DATA_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    for command in (["check-config"], ["serve", "--port", "0"]):
        done = subprocess.run([sys.executable, "-m", "relay", *command], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert done.returncode == 1, (command, done.stderr)
        assert "pages.templates_dir" in done.stderr and says in done.stderr, done.stderr


def test_a_template_failing_while_serving_falls_back_to_the_builtin(
    client_for: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An override that fails only on some values is logged by name, never values, and
    the visitor gets the built-in page."""
    folder = tmp_path / "fragile"
    folder.mkdir()
    (folder / "message.html").write_text(
        '{% extends "base.html" %}{% block main %}<h1>{{ title }}</h1>'
        "{% if title == 'Not found' %}{{ back.no_such_thing }}{% endif %}{% endblock %}",
        encoding="utf-8",
    )
    client = client_for(pages={"templates_dir": str(folder)})
    with caplog.at_level(logging.ERROR, logger="relay.templating"):
        response = client.get("/nowhere", headers={**BROWSER, "referer": "https://x.example/a"})
    assert response.status_code == 404 and "Go back" in response.text  # the built-in page
    failed = [r for r in caplog.records if r.getMessage() == "template failed"]
    assert [getattr(r, "template", None) for r in failed] == ["message.html"]
    assert "x.example" not in caplog.text


# --- configuration ------------------------------------------------------------------


def run_cli(tmp_path: Path, toml: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "relay.toml"
    config.write_text(toml, encoding="utf-8")
    env = {"RELAY_STORAGE__DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "relay", *args, "--config", str(config)]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_pages_settings_are_checked(tmp_path: Path) -> None:
    """A default language not offered, or a templates_dir that is no folder, is refused."""
    bad = run_cli(tmp_path, '[pages]\nlanguages = ["en"]\ndefault_language = "es"\n',
                  "check-config")  # fmt: skip
    assert bad.returncode == 1 and "default_language" in bad.stderr
    missing = run_cli(tmp_path, f'[pages]\ntemplates_dir = "{tmp_path / "nope"}"\n',
                      "check-config")  # fmt: skip
    assert missing.returncode == 1 and "is not a folder" in missing.stderr


def test_a_clinic_sets_its_spanish_resources_and_a_good_override_passes(
    tmp_path: Path, client_for: Factory
) -> None:
    """[crisis.languages.es] replaces the Spanish list; check-config accepts good templates."""
    toml = (
        f'[pages]\ntemplates_dir = "{clinic_templates(tmp_path / "mine")}"\n'
        "[[crisis.languages.es.resources]]\n"
        'name = "Línea local"\ncontact = "Llame al 555 010 9999"\npurpose = "Apoyo local"\n'
        'href = "tel:5550109999"\nchecked = "2026-11-30"\n'
    )
    done = run_cli(tmp_path, toml, "check-config")
    assert done.returncode == 0, done.stderr
    shown = done.stdout
    assert '"Llame al 555 010 9999"' in shown and '"checked": "2026-11-30"' in shown
    client = client_for(crisis={"languages": {"es": {"resources": [
        {"name": "Línea local", "contact": "Llame al 555 010 9999", "purpose": "Apoyo local"}
    ]}}})  # fmt: skip
    page = client.get("/f/contact/support?lang=es").text
    assert "Llame al 555 010 9999" in page and "marque 2" not in page
    assert "Call or text 988" in client.get("/f/contact/support?lang=en").text
