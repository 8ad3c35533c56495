"""``contact-relay send-test``: one test message through the real path.

The message is stored in the outbox like any submission, then delivered at once by
the configured sender, and the outcome is printed. If a running service's worker
takes the item first, this waits for its outcome instead.
"""

from __future__ import annotations

import asyncio
import sys
import time

from relay.delivery import Worker, make_sender
from relay.intake import build_items, new_submission_id
from relay.metrics import Metrics
from relay.outbox import SqliteOutbox
from relay.screening import Screening
from relay.settings import Settings
from relay.submission import Submission

WAIT_FOR_SERVICE = 60.0


def _test_submission(settings: Settings, form_id: str) -> Submission:
    fields = {
        "name": "contact-relay test",
        "email": "no-reply@example.com",
        "phone": "555-0100",
        "message": "This is a test message sent by `contact-relay send-test`. No action needed.",
    }
    form = settings.forms[form_id]
    return Submission(
        form_id=form_id,
        fields={k: v for k, v in fields.items() if k in form.fields},
        reply_to=None,
    )


def send_test(settings: Settings, form_id: str | None) -> int:
    form_id = form_id or next(iter(settings.forms))
    if form_id not in settings.forms:
        print(
            f"contact-relay: no form {form_id!r}; forms: {', '.join(settings.forms)}",
            file=sys.stderr,
        )
        return 1
    from datetime import UTC, datetime

    sub = _test_submission(settings, form_id)
    submission_id = new_submission_id()
    items = build_items(
        sub,
        Screening("clean", (), False),
        settings.forms[form_id],
        settings,
        submission_id,
        datetime.now(UTC),
    )
    outbox = SqliteOutbox(settings.storage.outbox_path)
    try:
        outbox.add(items, now=time.time(), give_up_after=settings.delivery.give_up_after)
        worker = Worker(outbox, make_sender(settings), settings.delivery, Metrics())
        asyncio.run(worker.deliver_now(items[0].id))
        deadline = time.monotonic() + WAIT_FOR_SERVICE
        while (item := outbox.get(items[0].id)) and item.state == "sending":
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        outbox.close()
    if item is None:
        return 1
    where = ", ".join(settings.forms[form_id].recipients)
    if item.state == "sent":
        target = settings.smtp.host or f"{settings.storage.maildir}/new/"
        print(f"sent {item.id} to {where} via {target}")
        return 0
    hold = f" (delivery held: {worker.hold.reason})" if worker.hold else ""
    print(
        f"not sent: {item.id} is {item.state}{hold}; last error: {item.last_error or '-'}",
        file=sys.stderr,
    )
    return 1
