"""The hosted form in a real browser: Debian's Chromium, driven by Playwright.

The real service runs under uvicorn in a subprocess (``python -m relay serve``) with
a temporary data directory and no SMTP, so accepted messages land in its maildir.
Each case runs with JavaScript (fetch + inline answers) and without (plain posts
and server pages), on a phone and on a desktop. Screenshots of every state go to
``test-artifacts/screenshots/``.

Without /usr/bin/chromium or Playwright these tests skip, or fail when
``RELAY_REQUIRE_BROWSER=1`` (as CI sets it), so a missing browser cannot pass
silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.smtpd import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path(os.environ.get("RELAY_CHROMIUM", "/usr/bin/chromium"))  # Debian's package
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MEDICAL = "I was diagnosed with bipolar disorder and I take lithium, can you help?"
CRISIS = "I don't want to live anymore, I have the pills ready"


@dataclass(frozen=True)
class Variant:
    name: str
    js: bool
    width: int
    height: int


VARIANTS = [
    Variant("phone-js", True, 390, 844),
    Variant("phone-nojs", False, 390, 844),
    Variant("desktop-js", True, 1280, 900),
    Variant("desktop-nojs", False, 1280, 900),
]


def _unavailable(reason: str) -> None:
    if os.environ.get("RELAY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"RELAY_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason} (apt-get install chromium; pip install playwright)")


# --- the service -----------------------------------------------------------------


@dataclass(frozen=True)
class Relay:
    url: str
    data_dir: Path

    def mail(self) -> list[str]:
        return [
            p.read_text(encoding="utf-8", errors="replace")
            for p in (self.data_dir / "mail" / "new").glob("*.eml")
        ]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the relay exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as reply:  # noqa: S310
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    pytest.fail(f"the relay did not answer /healthz within 30 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    tmp = tmp_path_factory.mktemp("relay")
    config = tmp / "relay.toml"
    # Defaults, except that a robot may fill the form faster than a person could:
    # the fill-time token is still issued and checked, only its minimum age is 0.
    config.write_text(
        "[forms.contact]\nmin_fill_seconds = 0\n"
        # A second form with the in-browser proof-of-work check turned on.
        '[forms.pow]\nrecipients = ["frontdesk@clinic.example"]\nmin_fill_seconds = 0\n'
        "proof_of_work = true\n",
        encoding="utf-8",
    )
    port = free_port()
    env = {
        **os.environ,
        "RELAY_CONFIG": str(config),
        "RELAY_STORAGE__DATA_DIR": str(tmp / "data"),
        # Every case posts from 127.0.0.1; the default 10/minute would refuse some.
        "RELAY_LIMITS__RATE": "1000/minute",
    }
    log = tmp / "relay.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "relay", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield Relay(url=url, data_dir=tmp / "data")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the browser -----------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _browser_available() -> None:
    """Checked first (autouse), so no service starts when there is no browser."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(params=VARIANTS, ids=[v.name for v in VARIANTS])
def variant(request: pytest.FixtureRequest) -> Variant:
    v: Variant = request.param
    return v


@pytest.fixture
def page(browser: Browser, variant: Variant) -> Iterator[Page]:
    context = browser.new_context(
        java_script_enabled=variant.js,
        viewport={"width": variant.width, "height": variant.height},
        is_mobile=variant.width < 600,
        has_touch=variant.width < 600,
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


def shot(page: Page, variant: Variant, state: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{state}-{variant.name}.png"), full_page=True)


def fill(page: Page, **values: str) -> None:
    for name, value in values.items():
        page.fill(f"#f-{name}", value)


def send(page: Page) -> None:
    page.click("button[type=submit]")


def active_id(page: Page) -> str:
    value: str = page.evaluate("document.activeElement ? document.activeElement.id : ''")
    return value


def visitor(message: str) -> dict[str, str]:
    return {
        "name": "Ann Example",
        "email": "ann@example.com",
        "phone": "(555) 010-2000",
        "message": message,
    }


# --- the cases -------------------------------------------------------------------


def test_clean_message_is_sent_and_thanked(relay: Relay, page: Page, variant: Variant) -> None:
    """A plain question is accepted, thanked, and reaches the clinic's mailbox."""
    from playwright.sync_api import expect

    token = uuid.uuid4().hex[:12]
    page.goto(f"{relay.url}/f/contact")
    shot(page, variant, "form")
    fill(page, **visitor(f"Do you have appointments on Saturdays? ref {token}"))
    send(page)
    heading = page.locator("h1")
    expect(heading).to_have_text("Thank you, your message was sent")
    if variant.js:
        assert page.url.endswith("/f/contact")  # answered in place, by fetch
        assert active_id(page) == "thanks-title"
    else:
        assert "/f/contact/thanks" in page.url
    shot(page, variant, "thanks")
    deadline = time.monotonic() + 15
    while not any(token in m for m in relay.mail()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any(token in m for m in relay.mail()), "the message did not reach the maildir"


def test_missing_fields_are_shown_beside_them(relay: Relay, page: Page, variant: Variant) -> None:
    """Empty required fields get an error beside each and a summary; the text stays."""
    from playwright.sync_api import expect

    page.goto(f"{relay.url}/f/contact")
    text = "Where do I park?\nIs there a lift?"
    fill(page, name="Ann Example", message=text)
    send(page)
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary.locator("a")).to_have_count(2)
    for name in ("email", "phone"):
        control = page.locator(f"#f-{name}")
        expect(control).to_have_attribute("aria-invalid", "true")
        expect(control).to_have_attribute("aria-describedby", f"f-{name}-error")
        expect(page.locator(f"#f-{name}-error")).to_be_visible()
    expect(page.locator("#f-name")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-name")).to_have_value("Ann Example")
    expect(page.locator("#f-message")).to_have_value(text)
    if variant.js:
        assert active_id(page) == "error-summary"
    shot(page, variant, "errors")
    # The summary's link takes the visitor to the field.
    summary.locator("a").first.click()
    assert active_id(page) == "f-email"


def test_medical_details_are_refused_kindly(relay: Relay, page: Page, variant: Variant) -> None:
    """A message with a diagnosis and medication gets the privacy notice; the text stays."""
    from playwright.sync_api import expect

    page.goto(f"{relay.url}/f/contact")
    fill(page, **visitor(MEDICAL))
    send(page)
    notice = page.locator("#medical-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("has not been sent")
    expect(page.locator("#f-message")).to_have_value(MEDICAL)
    expect(page.locator("#f-email")).to_have_value("ann@example.com")
    if variant.js:
        assert active_id(page) == "medical-notice"
    shot(page, variant, "medical")
    # Edited and sent again (with the email forgotten): the notice gives way to the
    # errors, and the page keeps exactly one main heading.
    fill(page, email="", message="Do you have evening appointments?")
    send(page)
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#medical-notice")).to_have_count(0)
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("#f-message")).to_have_value("Do you have evening appointments?")


def test_crisis_shows_resources_before_anything(relay: Relay, page: Page, variant: Variant) -> None:
    """A crisis message is accepted and the crisis lines come first, on the first screen."""
    from playwright.sync_api import expect

    page.goto(f"{relay.url}/f/contact")
    fill(page, **visitor(CRISIS))
    send(page)
    expect(page.locator("h1")).to_have_text("Help is here, right now")
    first_link = page.locator(".resource-link").first
    expect(first_link).to_have_attribute("href", "tel:988")
    box = first_link.bounding_box()
    assert box is not None and box["y"] + box["height"] <= variant.height, "988 below the fold"
    # Above the first resource there is only the heading: no header, notice or form.
    above: list[str] = page.evaluate(
        """() => {
            const first = document.querySelector('.resource');
            const top = first.getBoundingClientRect().top;
            return Array.from(document.body.querySelectorAll('h1,h2,p,form,header,label'))
                .filter(e => e.offsetParent !== null && e.getBoundingClientRect().bottom <= top
                             && !first.contains(e))
                .map(e => e.tagName.toLowerCase());
        }"""
    )
    assert above == ["h1"], above
    expect(page.locator(".received")).to_contain_text("Your message reached us")
    expect(page.locator("form")).to_have_count(0)
    shot(page, variant, "crisis")


# --- the script on its own: answers the service rarely gives ---------------------


@pytest.fixture
def js_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


def _problem(route: Route, status: int, detail: str, retry_after: str | None = None) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    body: dict[str, Any] = {"type": "about:blank", "title": "t", "status": status, "detail": detail}
    route.fulfill(
        status=status,
        headers=headers,
        content_type="application/problem+json",
        body=json.dumps(body),
    )


def test_busy_service_keeps_the_text(relay: Relay, js_page: Page) -> None:
    """A 503 shows its detail in an alert, keeps the text, and the button works again."""
    from playwright.sync_api import expect

    page = js_page
    page.route(
        "**/f/contact",
        lambda route: (
            _problem(route, 503, "We cannot take messages right now.", "120")
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    page.goto(f"{relay.url}/f/contact")
    fill(page, **visitor("About your opening hours"))
    send(page)
    status = page.locator("#relay-status")
    expect(status).to_be_visible()
    expect(status).to_contain_text("We cannot take messages right now.")
    expect(status).to_contain_text("2 minutes")
    expect(page.locator("#f-message")).to_have_value("About your opening hours")
    expect(page.locator("button[type=submit]")).to_be_enabled()
    assert active_id(page) == "relay-status"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "busy-phone-js.png"), full_page=True)


def test_network_failure_keeps_the_text(relay: Relay, js_page: Page) -> None:
    """When the post never arrives, the visitor is told so and nothing is lost."""
    from playwright.sync_api import expect

    page = js_page
    page.route(
        "**/f/contact",
        lambda route: (
            route.abort("connectionrefused")
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    page.goto(f"{relay.url}/f/contact")
    fill(page, **visitor("Do you take walk-ins?"))
    send(page)
    expect(page.locator("#relay-status")).to_contain_text("could not reach")
    expect(page.locator("#f-message")).to_have_value("Do you take walk-ins?")
    expect(page.locator("#f-name")).to_have_value("Ann Example")


def test_button_is_busy_while_sending(relay: Relay, js_page: Page) -> None:
    """While the post is in flight the button is disabled and the form aria-busy."""
    from playwright.sync_api import expect

    page = js_page
    held: list[Route] = []
    page.route(
        "**/f/contact",
        lambda route: held.append(route) if route.request.method == "POST" else route.continue_(),
    )
    page.goto(f"{relay.url}/f/contact")
    fill(page, **visitor("Hello"))
    send(page)
    expect(page.locator("form")).to_have_attribute("aria-busy", "true")
    expect(page.locator("button[type=submit]")).to_be_disabled()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    held[0].abort("connectionreset")
    expect(page.locator("form")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#f-message")).to_have_value("Hello")


def test_keyboard_alone_fills_and_sends(relay: Relay, js_page: Page) -> None:
    """Tab reaches every field in order (never the honeypot), and Enter sends."""
    from playwright.sync_api import expect

    page = js_page
    page.goto(f"{relay.url}/f/contact")
    order = []
    for _ in range(5):
        page.keyboard.press("Tab")
        order.append(active_id(page) or page.evaluate("document.activeElement.tagName"))
    assert order == ["f-name", "f-email", "f-phone", "f-message", "BUTTON"]
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("Is the clinic open on holidays?")
    for name, value in [("f-name", "Ann"), ("f-email", "ann@example.com")]:
        page.focus(f"#{name}")
        page.keyboard.type(value)
    page.focus("#f-phone")
    page.keyboard.type("555 010 2000")
    page.focus("button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Thank you, your message was sent")


def test_pages_fit_320_px_wide(relay: Relay, browser: Browser) -> None:
    """At 320 CSS px nothing scrolls sideways: form, errors, crisis and thank-you pages."""
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    try:
        page.goto(f"{relay.url}/f/contact")
        page.fill("#f-name", "A name long enough to wrap " * 4)
        send(page)
        page.wait_for_selector("#error-summary")
        widths = {"form with errors": page.evaluate("document.documentElement.scrollWidth")}
        # The no-script destinations of a crisis and of a gentle thank-you.
        for path in ("/f/contact/support", "/f/contact/thanks?resources=1"):
            response = page.goto(f"{relay.url}{path}")
            assert response is not None and response.status == 200, path
            widths[path] = page.evaluate("document.documentElement.scrollWidth")
        assert all(w <= 320 for w in widths.values()), widths
    finally:
        context.close()


def test_proof_of_work_is_solved_in_the_browser(relay: Relay, js_page: Page) -> None:
    """A form with proof_of_work on: the page's script solves the challenge and the
    message is accepted; without JavaScript the page says the check needs it."""
    from playwright.sync_api import expect

    token = uuid.uuid4().hex[:12]
    js_page.goto(f"{relay.url}/f/pow")
    fill(js_page, **visitor(f"Is there parking near the clinic? ref {token}"))
    send(js_page)
    expect(js_page.locator("h1")).to_have_text("Thank you, your message was sent")
    deadline = time.monotonic() + 15
    while not any(token in m for m in relay.mail()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any(token in m for m in relay.mail()), "the message did not reach the maildir"
