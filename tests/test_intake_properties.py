"""The intake under Hypothesis: any headers (Origin, Referer, Accept, Content-Type,
Accept-Language), any reserved fields (_next, _ts, _gotcha, altcha, _send_redacted),
any encoding and any field values. Whatever arrives: no 5xx; a 4xx is a problem and
stores nothing; a success stores exactly one item unless a filled honeypot dropped a
post that is no crisis; an urgent notice is only ever stored for a crisis answer.

CI runs ~400 examples; ``RELAY_HYPOTHESIS_EXAMPLES=10000`` for a longer local run.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from relay.app import create_app
from relay.settings import Settings
from tests.strategies import CLINIC, CONTENT_TYPES, KEY, NOW, headers, reserved_fields

EXAMPLES = int(os.environ.get("RELAY_HYPOTHESIS_EXAMPLES", "400"))
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)  # fmt: skip
GOOD = {"name": "Ana Diaz", "email": "ana@example.com", "phone": "555-123-4567",
        "message": "What are your hours on Saturday?"}  # fmt: skip
MESSAGES = [
    "What are your hours on Saturday?",
    "I don't want to live anymore. I have saved up my pills and I plan to take them tonight.",
    "I AM SUICIDAL AND I NEED HELP NOW.",
    "I was diagnosed with bipolar disorder last year and I take lithium 600 mg.",
    "I tried to kill myself three years ago. I take lithium 600 mg now.",
    "Me corté otra vez anoche y no puedo parar.",
    "Hola, ¿tienen citas el sábado?",
]
FORMS = {
    "contact": {"recipients": ["desk@clinic.example"]},
    # The stricter form: an allow-list, a required token and proof of work.
    "strict": {"recipients": ["desk@clinic.example"], "allowed_origins": [CLINIC],
               "require_fill_token": True, "proof_of_work": True, "medical": "redact"},
}  # fmt: skip
BOUNDARY = "relay-property-boundary"


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[tuple[TestClient, sqlite3.Connection]]:
    app_settings = Settings(
        storage={"data_dir": tmp_path}, limits={"rate": "1000000/minute"},
        security={"signing_key": KEY.decode(), "pow_max_number": 1000}, forms=FORMS,
    )  # fmt: skip
    app = create_app(app_settings, run_worker=False, clock=lambda: NOW)
    with TestClient(app, base_url="http://relay.test", raise_server_exceptions=False) as client:
        db = sqlite3.connect(tmp_path / "outbox.sqlite3")
        yield client, db
        db.close()


@st.composite
def posts(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str], dict[str, Any]]:
    """(form id, body, headers, the posted fields) for one request."""
    encoding = draw(st.sampled_from(["json", "urlencoded", "multipart"]))
    fields: dict[str, Any] = dict(GOOD)
    fields["message"] = draw(st.one_of(st.sampled_from(MESSAGES), st.text(max_size=60)))
    for name in draw(st.sets(st.sampled_from(["name", "email", "phone"]), max_size=2)):
        fields[name] = draw(st.text(max_size=30))
    fields.update(draw(reserved_fields(as_json=encoding == "json")))
    if encoding == "json":
        body = json.dumps(fields).encode()
        ctype = "application/json"
    elif encoding == "urlencoded":
        body = urlencode({k: str(v) for k, v in fields.items()}, errors="surrogatepass").encode()
        ctype = "application/x-www-form-urlencoded"
    else:
        parts = [
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode()
            + str(v).encode("utf-8", "surrogatepass") + b"\r\n"
            for k, v in fields.items()
        ]  # fmt: skip
        body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
        ctype = f"multipart/form-data; boundary={BOUNDARY}"
    hdrs = draw(headers())
    hdrs["content-type"] = draw(st.one_of(st.just(ctype), st.sampled_from(CONTENT_TYPES)))
    return draw(st.sampled_from(sorted(FORMS))), body, hdrs, fields


# Posts that reach a 202, a 303 and a 422 in every run, so that the check at the end
# (each answer reached) does not hang on chance: a browser's 303 came 2 to 15 times in
# 400 generated posts, and once not at all.
JSON = {"content-type": "application/json"}
BROWSER = {"content-type": "application/x-www-form-urlencoded", "accept": "text/html"}
REACHED = [
    ("contact", json.dumps(GOOD).encode(), JSON, GOOD),
    ("contact", urlencode(GOOD).encode(), BROWSER, GOOD),
    ("contact", json.dumps({**GOOD, "email": "not an address"}).encode(), JSON,
     {**GOOD, "email": "not an address"}),
]  # fmt: skip


def _count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])


def test_any_headers_and_reserved_fields_get_a_clean_answer(
    intake: tuple[TestClient, sqlite3.Connection],
) -> None:
    """No 5xx; 4xx problems store nothing; a success stores one item (none only for a
    filled honeypot on a post that is no crisis); urgent notices only for crises."""
    client, db = intake
    seen: dict[int, int] = {}

    @PROPERTY
    @given(post=posts())
    @example(post=REACHED[0])
    @example(post=REACHED[1])
    @example(post=REACHED[2])
    def check(post: tuple[str, bytes, dict[str, str], dict[str, Any]]) -> None:
        form_id, body, hdrs, fields = post
        before = _count(db)
        # latin-1 bytes, as on the wire
        raw = [(k.encode(), v.encode("latin-1")) for k, v in hdrs.items()]
        response = client.post(f"/f/{form_id}", content=body, headers=raw,
                               follow_redirects=False)  # fmt: skip
        status = response.status_code
        seen[status] = seen.get(status, 0) + 1
        assert status < 500, (status, response.text[:500], hdrs, fields)
        assert "Origin" in response.headers.get("vary", "")
        added = db.execute(
            "SELECT kind, state FROM outbox ORDER BY seq DESC LIMIT ?", (_count(db) - before,)
        ).fetchall() if _count(db) > before else []  # fmt: skip
        if status >= 400:
            assert added == []
            ctype = response.headers["content-type"]
            assert ctype.startswith(("application/problem+json", "text/html")), ctype
            if ctype.startswith("application/problem+json"):
                assert response.json()["status"] == status
            return
        assert status in (202, 303)
        crisis = (
            response.json()["verdict"] == "crisis"
            if status == 202
            else "/support" in response.headers["location"]
        )
        if not added:
            assert fields.get("_gotcha") and not crisis
            return
        ((kind, state),) = added
        assert (kind == "urgent") == crisis
        assert state in ("queued", "suspected") and (state == "queued" or kind == "submission")

    check()
    print(f"\nintake headers/reserved property: {sum(seen.values())} examples, by status {seen}")
    assert seen.get(202) and seen.get(303) and seen.get(422)
