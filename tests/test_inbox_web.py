"""The staff pages under /inbox, through the real app: sign-in, reading, CSRF, expiry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from starlette.testclient import TestClient

from relay.app import create_app
from relay.inbox import hash_password, open_inbox
from relay.settings import Settings

EMAIL = "nurse@clinic.example"
PASSWORD = "correct horse battery staple"
CANARY = "CANARY-WEB-5b1d"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Staff:
    """A running app with one staff account and two held messages."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock()
        self.settings = Settings(storage={"data_dir": tmp_path})
        self.secret = pyotp.random_base32()
        store, _ = open_inbox(self.settings, clock=self.clock)
        store.add_staff(EMAIL, hash_password(PASSWORD), self.secret)
        store.add_held(
            "m1", "contact", self.clock.now - 60,
            {"name": "Pat Example", "email": "pat@example.com", "message": f"my {CANARY} pills"},
            [{"category": "medication", "field": "message", "start": 3, "end": 3 + len(CANARY)}],
            "es",
        )  # fmt: skip
        store.add_held("m2", "contact", self.clock.now - 30, {"message": "other"}, [], "en")
        store.close()
        app = create_app(self.settings, run_worker=False, clock=self.clock)
        self.client = TestClient(app, base_url="http://relay.test", follow_redirects=False)

    def code(self) -> str:
        return pyotp.TOTP(self.secret).at(self.clock.now)

    def login_form(self) -> str:
        page = self.client.get("/inbox/login")
        assert page.status_code == 200
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found
        return found.group(1)

    def sign_in(self, password: str = PASSWORD, code: str | None = None) -> int:
        csrf = self.login_form()
        answer = self.client.post(
            "/inbox/login",
            data={"csrf": csrf, "email": EMAIL, "password": password, "code": code or self.code()},
        )
        return answer.status_code

    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.client.get("/inbox").text)
        assert found
        return found.group(1)


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    s = Staff(tmp_path)
    with s.client:
        yield s


def test_nothing_shows_without_a_session(staff: Staff) -> None:
    """Every /inbox page redirects to the sign-in, for known and unknown ids alike."""
    for path in ("/inbox", "/inbox/m1", "/inbox/no-such-id"):
        answer = staff.client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/inbox/login"
        assert CANARY not in answer.text
    done = staff.client.post("/inbox/m1/done", data={"csrf": "x"})
    assert done.status_code == 303 and done.headers["location"] == "/inbox/login"


def test_sign_in_read_mark_done_sign_out(staff: Staff) -> None:
    """The whole staff flow: sign in, list (no text), read (text shown), done, sign out."""
    assert staff.sign_in() == 303
    cookie = staff.client.cookies.get("relay_inbox")
    assert cookie
    listing = staff.client.get("/inbox")
    assert listing.status_code == 200 and CANARY not in listing.text
    assert listing.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in listing.headers["content-security-policy"]
    assert 'href="/inbox/m1"' in listing.text and "Unread" in listing.text
    reading = staff.client.get("/inbox/m1")
    assert reading.status_code == 200
    assert f"<mark>{CANARY}</mark>" in reading.text and "pat@example.com" in reading.text
    assert "Spanish" in reading.text  # the language the visitor wrote in
    assert staff.client.post("/inbox/m1/done", data={"csrf": staff.csrf()}).status_code == 303
    assert "Handled" in staff.client.get("/inbox").text
    assert staff.client.post("/inbox/logout", data={"csrf": staff.csrf()}).status_code == 303
    assert staff.client.get("/inbox").status_code == 303  # the cookie was cleared
    staff.client.cookies.set("relay_inbox", cookie, path="/inbox")
    assert staff.client.get("/inbox").status_code == 303  # and the session is gone
    actions = [row["action"] for row in staff_audit(staff)]
    for action in ("sign-in", "view", "done", "sign-out"):
        assert action in actions


def staff_audit(staff: Staff) -> list[dict[str, object]]:
    store, _ = open_inbox(staff.settings, clock=staff.clock)
    try:
        return store.audit_since()
    finally:
        store.close()


def test_session_cookie_attributes(staff: Staff) -> None:
    """The cookie is HttpOnly, SameSite=Strict, scoped to /inbox, and holds no email."""
    csrf = staff.login_form()
    answer = staff.client.post(
        "/inbox/login",
        data={"csrf": csrf, "email": EMAIL, "password": PASSWORD, "code": staff.code()},
    )
    header = next(v for v in answer.headers.get_list("set-cookie") if v.startswith("relay_inbox="))
    lowered = header.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/inbox" in lowered
    assert "nurse" not in header


def test_wrong_password_or_code_get_the_same_answer(staff: Staff) -> None:
    """A wrong password, a wrong code and an unknown address look alike from outside."""
    wrong_code = "000000" if staff.code() != "000000" else "111111"
    first = staff.sign_in(password="not the password at all")
    second = staff.sign_in(code=wrong_code)
    assert first == second == 401
    assert staff.client.get("/inbox").status_code == 303


def test_replayed_code_is_refused(staff: Staff) -> None:
    """A code that opened a session does not open a second one."""
    code = staff.code()
    assert staff.sign_in(code=code) == 303
    staff.client.cookies.clear()
    assert staff.sign_in(code=code) == 401


def test_login_without_csrf_is_refused(staff: Staff) -> None:
    """A sign-in post without the double-submit token is refused and audited."""
    staff.client.get("/inbox/login")
    answer = staff.client.post(
        "/inbox/login", data={"email": EMAIL, "password": PASSWORD, "code": staff.code()}
    )
    assert answer.status_code == 403
    assert "relay_inbox" not in staff.client.cookies
    assert staff_audit(staff)[-1]["action"] == "sign-in-no-csrf"


def test_done_without_csrf_changes_nothing(staff: Staff) -> None:
    """Marking done needs the session's CSRF token."""
    assert staff.sign_in() == 303
    assert staff.client.post("/inbox/m2/done", data={"csrf": "forged"}).status_code == 403
    assert "Handled" not in staff.client.get("/inbox").text


def test_tampered_cookie_shows_nothing(staff: Staff) -> None:
    """A changed cookie value is no session."""
    assert staff.sign_in() == 303
    token = staff.client.cookies["relay_inbox"]
    staff.client.cookies.clear()
    staff.client.cookies.set("relay_inbox", token[:-2] + "xx", path="/inbox")
    assert staff.client.get("/inbox/m1").status_code == 303


def test_idle_session_ends(staff: Staff) -> None:
    """After 15 idle minutes the next request goes to the sign-in page, saying why."""
    assert staff.sign_in() == 303
    staff.clock.now += 15 * 60 + 1
    answer = staff.client.get("/inbox")
    assert answer.status_code == 303 and answer.headers["location"] == "/inbox/login?expired=1"
    assert "without activity" in staff.client.get("/inbox/login?expired=1").text


def test_unknown_id_when_signed_in(staff: Staff) -> None:
    """An unknown id, signed in, is a plain 404 page; the attempt is audited."""
    assert staff.sign_in() == 303
    answer = staff.client.get("/inbox/does-not-exist")
    assert answer.status_code == 404
    assert staff_audit(staff)[-1]["action"] == "view-missing"


def test_lockout_after_ten_failures(staff: Staff) -> None:
    """Ten failures lock the account: the right password and code then fail too."""
    for _ in range(10):
        assert staff.sign_in(password="not the password at all") == 401
    assert staff.sign_in() == 401
    staff.clock.now += 15 * 60 + 31
    assert staff.sign_in() == 303


def test_staff_pages_in_spanish(staff: Staff) -> None:
    """The sign-in page follows Accept-Language like the visitor pages."""
    page = staff.client.get("/inbox/login", headers={"accept-language": "es-MX,es;q=0.9"})
    assert "Acceso del personal" in page.text and page.headers["content-language"] == "es"
