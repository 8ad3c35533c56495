"""Every page in both languages, with and without JavaScript, checked by axe-core.

The real service (the fixture of test_form_browser) in Debian's Chromium at phone
width. Each page is screenshot to ``test-artifacts/pages/<page>-<lang>-<js|nojs>.png``
and checked with axe-core, injected by Playwright (through the DevTools protocol, so
the page's strict CSP stays on); the results go to ``test-artifacts/axe.json``.

axe-core comes from npm at the version pinned in ``tests/browser/package.json``,
installed into ``tests/browser/node_modules`` (not committed) by ``.ci/run`` or, when
missing, by this module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.test_form_browser import (  # noqa: F401 (fixtures)
    ROOT,
    Relay,
    _browser_available,
    _unavailable,
    browser,
    relay,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
SHOTS = ARTIFACTS / "pages"
# Serious and critical findings fail the test; the rest are recorded in axe.json.
BLOCKING = {"serious", "critical"}

PERSON = {"name": "Ana Díaz", "email": "ana@example.com", "phone": "(555) 010-2000"}
TEXTS = {
    "en": {
        "clean": "Do you have appointments on Saturdays?",
        "medical": "I was diagnosed with bipolar disorder and I take lithium, can you help?",
        "crisis": "I don't want to live anymore, I have the pills ready",
    },
    "es": {
        "clean": "¿Tienen citas los sábados? Quisiera saber el horario de la clínica.",
        "medical": "Tengo diabetes y tomo metformina 500 mg. ¿Pueden darme una cita?",
        "crisis": "Ya no quiero vivir, tengo las pastillas listas para esta noche.",
    },
}
HEADINGS = {
    "en": {"thanks": "Thank you, your message was sent", "crisis": "Help is here, right now",
           "medical": "Your message has not been sent yet"},
    "es": {"thanks": "Gracias, su mensaje fue enviado", "crisis": "Hay ayuda ahora mismo",
           "medical": "Su mensaje todavía no se ha enviado"},
}  # fmt: skip
LOCALES = {"en": "en-US", "es": "es-MX"}
RESULTS: dict[str, Any] = {}


@pytest.fixture(scope="module")
def axe_source() -> Iterator[str]:
    """axe-core's script, installed from npm if missing; axe.json written at the end."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm is missing, so axe-core cannot be installed")
        subprocess.run(
            [str(npm), "install", "--prefix", str(HERE), "--no-package-lock", "--no-audit",
             "--no-fund"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    yield AXE.read_text(encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "axe.json").write_text(
        json.dumps(RESULTS, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8"
    )


@pytest.fixture(params=["en", "es"])
def lang(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture(params=[True, False], ids=["js", "nojs"])
def js(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


@pytest.fixture
def page(browser: Browser, lang: str, js: bool) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(
        java_script_enabled=js,
        locale=LOCALES[lang],  # Chromium sends it as Accept-Language
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


def check(page: Page, axe: str, name: str, lang: str, js: bool) -> None:
    """Screenshot the page, run axe-core on it, record and judge the findings."""
    key = f"{name}-{lang}-{'js' if js else 'nojs'}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{key}.png"), full_page=True)
    result = run_axe(page, axe) if js else run_axe_without_script(page, axe)
    assert result["lang"] == lang, key
    violations = [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "targets": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
    ]  # fmt: skip
    RESULTS[key] = {"url": page.url, "axe": result["testEngine"]["version"],
                    "violations": violations,
                    "passes": len(result.get("passes", []))}  # fmt: skip
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{key}: {json.dumps(blocking, indent=1)}"


def run_axe(page: Page, axe: str) -> dict[str, Any]:
    # Evaluated over the DevTools protocol: the page's CSP does not apply, nor change.
    page.evaluate(axe + "\n;0")
    result: dict[str, Any] = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']})"
        ".then(r => Object.assign(r, {lang: document.documentElement.lang}))"
    )
    return result


def run_axe_without_script(page: Page, axe: str) -> dict[str, Any]:
    """Chromium runs no evaluation in a page with JavaScript off, so the same markup
    (the server's answer, as shown) is checked in a second tab where only axe runs:
    form.js is held back, so the DOM stays the no-script one."""
    html, url = page.content(), page.url
    assert page.context.browser is not None
    context = page.context.browser.new_context(viewport={"width": 390, "height": 844})
    try:
        twin = context.new_page()
        twin.route("**/form.js", lambda route: route.abort())
        twin.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
        twin.goto(url)
        return run_axe(twin, axe)
    finally:
        context.close()


def send(page: Page, **values: str) -> None:
    for name, value in values.items():
        page.fill(f"#f-{name}", value)
    page.click("button[type=submit] >> nth=0")


def test_every_page_is_accessible_in_both_languages(
    relay: Relay,  # noqa: F811
    page: Page,
    axe_source: str,
    lang: str,
    js: bool,
) -> None:
    """Form, error, medical (with its highlights), crisis and thank-you pages: in the
    visitor's language, no serious or critical axe-core finding, a screenshot each."""
    from playwright.sync_api import expect

    texts, headings = TEXTS[lang], HEADINGS[lang]
    page.goto(f"{relay.url}/f/contact")
    check(page, axe_source, "form", lang, js)

    send(page, name=PERSON["name"], message=texts["clean"])
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#f-message")).to_have_value(texts["clean"])
    check(page, axe_source, "error", lang, js)

    page.goto(f"{relay.url}/f/contact")
    send(page, **PERSON, message=texts["medical"])
    expect(page.locator("#medical-notice")).to_be_visible()
    expect(page.locator("#medical-title")).to_have_text(headings["medical"])
    marks = page.locator("#medical-notice mark")
    expect(marks.first).to_be_visible()
    assert marks.count() >= 2
    expect(page.locator("#f-message")).to_have_value(texts["medical"])
    expect(page.locator("button[name=_send_redacted]")).to_have_count(1)
    check(page, axe_source, "medical", lang, js)

    page.goto(f"{relay.url}/f/contact")
    send(page, **PERSON, message=texts["crisis"])
    expect(page.locator("h1")).to_have_text(headings["crisis"])
    expect(page.locator(".resource-link").first).to_have_attribute("href", "tel:988")
    check(page, axe_source, "crisis", lang, js)

    page.goto(f"{relay.url}/f/contact")
    send(page, **PERSON, message=texts["clean"])
    expect(page.locator("h1")).to_have_text(headings["thanks"])
    check(page, axe_source, "thanks", lang, js)


def test_send_without_these_words_posts_the_flag(
    relay: Relay,  # noqa: F811
    page: Page,
    lang: str,
    js: bool,
) -> None:
    """The second button posts the same fields plus _send_redacted=1, with or without
    the script."""
    posted: list[str] = []
    page.on(
        "request",
        lambda r: posted.append(r.post_data or "") if r.method == "POST" else None,
    )
    page.goto(f"{relay.url}/f/contact")
    send(page, **PERSON, message=TEXTS[lang]["medical"])
    page.locator("button[name=_send_redacted]").click()
    page.wait_for_load_state()
    page.wait_for_timeout(300)
    assert len(posted) == 2 and "_send_redacted=1" in posted[1]
    assert "_send_redacted" not in posted[0]
    assert "message=" in posted[1]


def test_crisis_page_in_the_language_written_not_the_browsers(
    relay: Relay,  # noqa: F811
    browser: Browser,  # noqa: F811
    js: bool,
) -> None:
    """A Spanish crisis message from an English browser ends on the Spanish crisis page."""
    from playwright.sync_api import expect

    context = browser.new_context(
        java_script_enabled=js, locale="en-US", viewport={"width": 390, "height": 844}
    )
    try:
        page = context.new_page()
        page.goto(f"{relay.url}/f/contact")
        expect(page.locator("h1")).to_have_text("Contact us")
        send(page, **PERSON, message=TEXTS["es"]["crisis"])
        expect(page.locator("h1")).to_have_text(HEADINGS["es"]["crisis"])
        expect(page.locator(".resource-contact").first).to_have_text("Llame al 988 y marque 2")
        assert page.evaluate("document.documentElement.lang") == "es"
    finally:
        context.close()


# --- a clinic's own look, as a clinic would set it up -------------------------------


@pytest.fixture(scope="module")
def clinic_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    """The real service with a clinic's templates folder (its own base.html) and a
    site allowed to frame it, configured in relay.toml as a clinic would."""
    import os
    import sys

    from tests.browser.test_form_browser import _wait_ready
    from tests.smtpd import free_port

    tmp = tmp_path_factory.mktemp("clinic")
    templates = tmp / "templates"
    templates.mkdir()
    base = (ROOT / "relay" / "templates" / "base.html").read_text(encoding="utf-8")
    (templates / "base.html").write_text(
        base.replace(
            '{% block brand %}<p class="clinic-name">{{ clinic.name|tr }}</p>{% endblock %}',
            '{% block brand %}<p class="clinic-logo">Valley IV &amp; Ketamine</p>{% endblock %}',
        ).replace(
            "{% block footer %}{% endblock %}",
            '{% block footer %}<footer class="clinic-footer"><p>12 Main St, Springfield · '
            "{{ _('Our phone number:') }} (555) 010-2000</p></footer>{% endblock %}",
        ),
        encoding="utf-8",
    )
    config = tmp / "relay.toml"
    config.write_text(
        f'[pages]\ntemplates_dir = "{templates}"\n'
        '[forms.contact]\nmin_fill_seconds = 0\nallowed_origins = ["https://clinic.example"]\n',
        encoding="utf-8",
    )
    port = free_port()
    env = {**os.environ, "RELAY_CONFIG": str(config), "RELAY_STORAGE__DATA_DIR": str(tmp / "d"),
           "RELAY_LIMITS__RATE": "1000/minute"}  # fmt: skip
    log = tmp / "relay.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "relay", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield Relay(url=url, data_dir=tmp / "d")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_clinic_look_on_every_page_with_the_csp_intact(
    clinic_relay: Relay,
    browser: Browser,  # noqa: F811
    lang: str,
) -> None:
    """Form, medical, crisis, thank-you and error pages wear the clinic's logo text and
    footer; the CSP is the strict one and the browser reports no violation."""
    from playwright.sync_api import expect

    context = browser.new_context(locale=LOCALES[lang], viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    policies: list[str] = []
    page.on(
        "response",
        lambda r: (
            policies.append(r.headers.get("content-security-policy", ""))
            if r.request.resource_type == "document"
            else None
        ),
    )
    shots = SHOTS / "clinic"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(f"{clinic_relay.url}/f/contact")
        page.screenshot(path=str(shots / f"form-{lang}.png"), full_page=True)
        send(page, **PERSON, message=TEXTS[lang]["medical"])
        expect(page.locator("#medical-notice")).to_be_visible()
        page.screenshot(path=str(shots / f"medical-{lang}.png"), full_page=True)
        for path in ("/f/contact/support", "/f/contact/thanks", "/f/nowhere"):
            page.goto(f"{clinic_relay.url}{path}")
            name = path.rsplit("/", 1)[-1]
            page.screenshot(path=str(shots / f"{name}-{lang}.png"), full_page=True)
            expect(page.locator(".clinic-logo")).to_have_text("Valley IV & Ketamine")
            expect(page.locator("footer.clinic-footer")).to_contain_text("12 Main St")
        # The crisis page keeps the resources first: the logo goes below them.
        page.goto(f"{clinic_relay.url}/f/contact/support")
        first = page.evaluate(
            "document.querySelector('main').getBoundingClientRect().top"
            " < document.querySelector('.clinic-logo').getBoundingClientRect().top"
        )
        assert first, "the clinic's logo came before the crisis resources"
    finally:
        context.close()
    assert policies and all(
        "script-src 'self';" in p and "unsafe-inline" not in p and "frame-ancestors 'self'" in p
        for p in policies
    ), policies  # fmt: skip
    # The form's own pages may be framed by its allowed origin (not the 404 page).
    assert "frame-ancestors 'self' https://clinic.example" in policies[0]
    assert not [c for c in console if "Content Security Policy" in c], console


def test_medical_page_in_the_language_written_with_the_script(
    relay: Relay,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    """From an English page, a Spanish message with medical details comes back as the
    Spanish medical page, with the text kept and the words marked."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{relay.url}/f/contact")
        send(page, **PERSON, message=TEXTS["es"]["medical"])
        expect(page.locator("#medical-title")).to_have_text(HEADINGS["es"]["medical"])
        expect(page.locator("#f-message")).to_have_value(TEXTS["es"]["medical"])
        expect(page.locator("#medical-notice mark").first).to_be_visible()
        assert page.evaluate("document.documentElement.lang") == "es"
    finally:
        context.close()
