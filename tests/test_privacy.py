"""Privacy against the real service (uvicorn subprocess, SMTP sink): canary strings
planted in clean, medical and crisis submissions appear in delivered mail only where
the form's policy allows, and never in the logs or, once delivered and purged, in the
outbox database files (main, -wal, -shm)."""

from __future__ import annotations

import email
import email.policy
import json
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx

from relay.screening import load_lexicon, screen_fields
from tests.support import ROOT, RelayProcess, Sink, SinkServer, clean_env, relay_env_for, wait_for

RECIPIENTS = ["desk@clinic.example"]
FORMS = {
    "contact": {"recipients": RECIPIENTS},  # medical = reject, crisis message left out
    "redact": {"recipients": RECIPIENTS, "medical": "redact"},
    "flag": {"recipients": RECIPIENTS, "medical": "flag"},
}
MEDICAL = "I was diagnosed with bipolar disorder last year and I take lithium 600 mg. {canary}"
CRISIS = "{canary} I don't want to live anymore. I have saved up my pills to take them tonight."


@dataclass
class FullSink(Sink):
    """The sink, also keeping each delivered message's bytes."""

    messages: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.messages.append(bytes(envelope.content))
        return reply


def canary(kind: str) -> str:
    return f"CANARY-{kind}-{secrets.token_hex(6)}"


def visitor(name: str, message: str) -> dict[str, str]:
    return {"name": name, "email": "ana@example.com", "phone": "555-123-4567", "message": message}


def text_of(raw: bytes) -> str:
    """Headers and decoded body of one delivered message."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    headers = "\n".join(f"{k}: {v}" for k, v in msg.items())
    body = msg.get_body()
    assert body is not None
    return headers + "\n" + str(body.get_content())


def test_canaries_reach_only_what_policy_allows(tmp_path: Path) -> None:
    """Clean text is delivered; rejected medical text nowhere; redacted spans and the
    crisis message are absent from mail; no canary in logs or, after purge, the database."""
    sink = FullSink()
    server = SinkServer(sink)
    server.up()
    data = tmp_path / "relay"
    relay = RelayProcess(data, relay_env_for(server, RELAY_FORMS=json.dumps(FORMS)))
    c = {k: canary(k) for k in ("NAME", "MSG", "DX", "RNAME", "RDX", "FDX", "CNAME", "CRISIS",
                                "QS", "BAD")}  # fmt: skip
    relay.start()
    try:
        with httpx.Client(base_url=relay.url, headers={"accept": "application/json"}) as client:

            def post(form: str, body: dict[str, str]) -> httpx.Response:
                return client.post(f"/f/{form}", json=body)

            clean = post("contact", visitor(c["NAME"], f"What are your hours? {c['MSG']}"))
            assert clean.status_code == 202 and clean.json()["verdict"] == "clean"
            rejected = post("contact", visitor(c["RNAME"], MEDICAL.format(canary=c["DX"])))
            assert rejected.status_code == 422
            assert rejected.json()["type"].endswith("/medical-content")
            assert c["DX"] not in rejected.text and c["RNAME"] not in rejected.text
            redacted = post("redact", visitor("Ana Diaz", MEDICAL.format(canary=c["RDX"])))
            assert redacted.status_code == 202 and redacted.json()["verdict"] == "medical"
            flagged = post("flag", visitor("Ana Diaz", MEDICAL.format(canary=c["FDX"])))
            assert flagged.status_code == 202 and flagged.json()["verdict"] == "medical"
            crisis = post("contact", visitor(c["CNAME"], CRISIS.format(canary=c["CRISIS"])))
            assert crisis.status_code == 202 and crisis.json()["verdict"] == "crisis"
            invalid = post("contact", {**visitor("x", f"hello {c['BAD']}"), "email": "nope"})
            assert invalid.status_code == 422
            assert client.get(f"/f/contact?message={c['QS']}&name={c['QS']}").status_code == 200
            assert client.post(f"/f/contact?message={c['QS']}", json={}).status_code == 422
        assert wait_for(lambda: len(sink.messages) >= 4, 30), sink.received
    finally:
        assert relay.stop()
        server.down()

    mails = [text_of(raw) for raw in sink.messages]
    assert len(mails) == 4
    by_id = {r["submission_id"]: text for r, text in zip(sink.received, mails, strict=True)}
    clean_mail = by_id[clean.json()["id"]]
    assert c["MSG"] in clean_mail and c["NAME"] in clean_mail
    assert c["FDX"] in by_id[flagged.json()["id"]]  # flag: delivered unchanged, marked
    redacted_mail = by_id[redacted.json()["id"]]
    spans = screen_fields({"message": MEDICAL.format(canary=c["RDX"])}, load_lexicon())
    masked = [MEDICAL.format(canary=c["RDX"])[r.start : r.end] for r in spans.reasons]
    assert masked and "[removed]" in redacted_mail
    for span in masked:
        assert span not in redacted_mail, span
    urgent = by_id[crisis.json()["id"]]
    assert c["CNAME"] in urgent and c["CRISIS"] not in urgent and "pills" not in urgent
    everything = "\n".join(mails)
    for key in ("DX", "RNAME", "CRISIS", "QS", "BAD"):
        assert c[key] not in everything, key

    logs = relay.log.read_bytes()
    assert b'"event": "request"' in logs  # the log really is the service's JSON log
    for key, value in c.items():
        assert value.encode() not in logs, key

    purge = subprocess.run(
        [sys.executable, "-m", "relay", "outbox", "purge", "--dead", "--older-than-days", "0"],
        cwd=ROOT, env=clean_env({"RELAY_STORAGE__DATA_DIR": str(data)}),
        capture_output=True, check=True,
    )  # fmt: skip
    assert b"purged" in purge.stdout
    files = [p for p in data.iterdir() if p.name.startswith("outbox.sqlite3")]
    assert any(p.name == "outbox.sqlite3" for p in files)
    for path in files:
        content = path.read_bytes()
        for key, value in c.items():
            assert value.encode() not in content, (path.name, key)
