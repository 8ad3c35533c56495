"""``contact-relay send-test``: one test message through the real path.

The message is stored in the outbox like any submission, then delivered at once by
the configured sender, and the outcome is printed. If a running service's worker
takes the item first, this waits for its outcome instead.
"""

from __future__ import annotations

import asyncio
import sys
import time

from relay.delivery import make_sender
from relay.metrics import Metrics
from relay.outbox import SqliteOutbox
from relay.pipeline import new_submission_id
from relay.policy import Decision, Items
from relay.screening import Screening
from relay.settings import Settings
from relay.submission import Submission
from relay.worker import Worker

WAIT_FOR_SERVICE = 60.0
TEST_FIELDS = {
    "name": "contact-relay test",
    "email": "no-reply@example.com",
    "phone": "555-0100",
    "message": "This is a test message sent by `contact-relay send-test`. No action needed.",
}


def send_test(settings: Settings, form_id: str | None) -> int:
    form_id = form_id or next(iter(settings.forms))
    form = settings.forms.get(form_id)
    if form is None:
        print(f"contact-relay: no form {form_id!r}; forms: {', '.join(settings.forms)}",
              file=sys.stderr)  # fmt: skip
        return 1
    fields = {k: v for k, v in TEST_FIELDS.items() if k in form.fields}
    sub = Submission(form_id=form_id, fields=fields, reply_to=None)
    now = time.time()
    new = Items(settings).submission(
        sub, form, Screening("clean", (), False), Decision("deliver"), new_submission_id(now),
        now, suspected=False, once=(),
    )  # fmt: skip
    outbox = SqliteOutbox(settings.storage.outbox_path, busy_timeout=settings.storage.busy_timeout)
    worker = Worker(outbox, make_sender(settings), settings.delivery, Metrics())
    try:
        outbox.add([new], now=now, give_up_after=settings.delivery.give_up_after)
        asyncio.run(worker.deliver_now(new.id))
        deadline = time.monotonic() + WAIT_FOR_SERVICE
        while (item := outbox.get(new.id)) and item.state == "sending":
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        outbox.close()
    if item is not None and item.state == "sent":
        target = settings.smtp.host or f"{settings.storage.maildir}/new/"
        print(f"sent {item.id} to {', '.join(form.recipients)} via {target}")
        return 0
    hold = f" (delivery held: {worker.hold.reason})" if worker.hold else ""
    state = item.state if item else "missing"
    error = item.last_error if item and item.last_error else "-"
    print(f"not sent: {new.id} is {state}{hold}; last error: {error}", file=sys.stderr)
    return 1
