"""The staff flow of the hold inbox in a real browser (Debian's Chromium via Playwright).

The service runs under uvicorn in a thread of the test process, so that its clock can be
moved forward for the idle expiry; staff and held messages are seeded through the store.
Screenshots (phone width) go to ``test-artifacts/screenshots/inbox-*.png``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyotp
import pytest
import uvicorn

from relay.app import create_app
from relay.inbox import hash_password, open_inbox
from relay.settings import Settings

# _browser_available: the same autouse check as the form's browser tests (imported, so
# pytest uses it here too: no service starts without a browser).
from tests.browser.test_form_browser import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    SHOTS,
    _browser_available,
)
from tests.smtpd import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

EMAIL = "nurse@clinic.example"
PASSWORD = "correct horse battery staple"
HELD_TEXT = "I take sertraline 100 mg and my DOB is 04/12/1985"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Service:
    url: str
    clock: Clock
    secret: str

    def code(self) -> str:
        return pyotp.TOTP(self.secret).at(self.clock())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("inbox")
    clock = Clock()
    settings = Settings(storage={"data_dir": tmp})
    secret = pyotp.random_base32()
    store, _ = open_inbox(settings, clock=clock)
    store.add_staff(EMAIL, hash_password(PASSWORD), secret)
    start = HELD_TEXT.index("sertraline")
    store.add_held(
        "0190f1a2b3c4d5e6f7", "contact", clock() - 600,
        {"name": "Ann Example", "email": "ann@example.com", "phone": "(555) 010-2000",
         "message": HELD_TEXT},
        [{"category": "medication", "field": "message", "start": start, "end": start + 10},
         {"category": "dob", "field": "message", "start": HELD_TEXT.index("DOB"),
          "end": len(HELD_TEXT)}],
        "en",
    )  # fmt: skip
    store.close()
    port = free_port()
    app = create_app(settings, run_worker=False, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Service(f"http://127.0.0.1:{port}", clock, secret)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def page(service: Service) -> Iterator[Page]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser: Browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def shot(page: Page, state: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"inbox-{state}.png"), full_page=True)


def sign_in(page: Page, service: Service) -> None:
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.fill("#code", service.code())
    page.click("button[type=submit]")


def test_staff_read_a_held_message(page: Page, service: Service) -> None:
    """Sign in with a TOTP code, list, read (words marked), mark handled, sign out."""
    page.goto(service.url + "/inbox")
    assert page.url.endswith("/inbox/login")
    shot(page, "login")
    sign_in(page, service)
    page.wait_for_url(service.url + "/inbox")
    assert HELD_TEXT not in page.content()
    shot(page, "list")
    page.click("table.inbox a")
    page.wait_for_selector("mark")
    assert page.inner_text("mark >> nth=0") == "sertraline"
    assert "ann@example.com" in page.content()
    shot(page, "message")
    page.click("text=Mark as handled")
    page.wait_for_url(service.url + "/inbox")
    assert "Handled" in page.inner_text("table.inbox")
    page.click("text=Sign out")
    page.wait_for_url(service.url + "/inbox/login")
    page.goto(service.url + "/inbox")
    assert page.url.endswith("/inbox/login")


def test_idle_session_ends(page: Page, service: Service) -> None:
    """After 15 minutes without a request the next page is the sign-in, saying why."""
    service.clock.offset += 31  # a fresh TOTP step: the last code was spent
    page.goto(service.url + "/inbox/login")
    sign_in(page, service)
    page.wait_for_url(service.url + "/inbox")
    service.clock.offset += 15 * 60 + 1
    page.goto(service.url + "/inbox")
    assert "/inbox/login" in page.url
    assert "without activity" in page.content()
    shot(page, "expired")


def test_wrong_code_is_refused(page: Page, service: Service) -> None:
    """A wrong code leaves the visitor on the sign-in page with one plain message."""
    page.goto(service.url + "/inbox/login")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.fill("#code", "000000" if service.code() != "000000" else "111111")
    page.click("button[type=submit]")
    page.wait_for_selector("[role=alert]")
    assert "That did not work" in page.inner_text("[role=alert]")
    shot(page, "refused")
