"""The OpenAPI components are the pydantic models that serialise the responses, and
the suspected posts are purged by the running app."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from pydantic.json_schema import models_json_schema
from starlette.testclient import TestClient

from relay.app import create_app
from relay.outbox import NewItem, SqliteOutbox
from relay.schemas import COMPONENTS, Accepted, Problem
from relay.settings import Settings

GOOD = {"name": "Ana Diaz", "email": "ana@example.com", "phone": "555-123-4567",
        "message": "I take lithium 600 mg for bipolar disorder."}  # fmt: skip


def test_components_are_generated_from_the_response_models(tmp_path: Path) -> None:
    """Every response model is a component, schema for schema; a served 422 and 202
    are bodies of those models."""
    settings = Settings(storage={"data_dir": tmp_path})
    with TestClient(create_app(settings, run_worker=False)) as client:
        spec = client.get("/openapi.json").json()
        refused = client.post("/f/contact", json=GOOD)
        accepted = client.post("/f/contact", json={**GOOD, "message": "Open on Sunday?"})
    _, top = models_json_schema(
        [(m, "serialization") for m in COMPONENTS], ref_template="#/components/schemas/{model}"
    )
    schemas = spec["components"]["schemas"]
    assert {m.__name__ for m in COMPONENTS} <= set(schemas)
    for name, schema in top["$defs"].items():
        assert schemas[name] == schema, name
    assert "spans" in schemas["Problem"]["properties"]
    # The bodies served are those models (unknown keys would be refused).
    assert Problem.model_validate(refused.json()).spans
    assert Accepted.model_validate(accepted.json()).resources is None
    assert "resources" not in accepted.json()  # unset fields are left out, not null


def test_the_app_purges_suspected_posts_after_their_days(tmp_path: Path) -> None:
    """At start (and hourly) the app deletes suspected posts older than
    limits.suspected_days; newer ones and queued ones stay."""
    box = SqliteOutbox(tmp_path / "outbox.sqlite3")
    now = time.time()

    def item(n: int, suspected: bool) -> NewItem:
        return NewItem(id=f"i{n}", submission_id=f"i{n}", form_id="contact", kind="submission",
                       verdict="clean", message_id=f"<i{n}@x>", sender="a@x", recipients=["b@x"],
                       body=b"{}", suspected=suspected)  # fmt: skip

    box.add([item(1, True)], now=now - 3 * 86400, give_up_after=30 * 86400)
    box.add([item(2, True)], now=now - 86400, give_up_after=30 * 86400)
    box.close()
    settings = Settings(storage={"data_dir": tmp_path}, limits={"suspected_days": 2})

    def ids() -> set[str]:
        db = sqlite3.connect(tmp_path / "outbox.sqlite3")
        try:
            return {r[0] for r in db.execute("SELECT id FROM outbox")}
        finally:
            db.close()

    with TestClient(create_app(settings)):
        deadline = time.monotonic() + 5
        while "i1" in ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ids() == {"i2"}
