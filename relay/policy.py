"""What becomes of a screened, validated post: the policy step of the pipeline, and
the outbox item it stores. Pure: no I/O.

Crisis first, whatever else holds: a crisis verdict is answered with the resources
and stored as an urgent call-back notice to staff (with the contact details that
were valid), even when other fields were wrong, the honeypot was filled, the
fill-time token or proof of work failed, or (see relay.pipeline) the post came from
another site or over the rate limit. A crisis signal short of a verdict (the
screening asked to show the resources) is never refused either: the message is
delivered marked ``[Possible crisis]`` and the visitor sees the resources gently, even
when the token or proof of work failed or a field was wrong (then with the fields that
were valid); with a filled honeypot it is kept as ``suspected`` rather than dropped (a
browser's autofill fills hidden fields too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from relay.antispam import spam_signals
from relay.compose import draft_notice, draft_submission, draft_urgent, envelope_sender
from relay.outbox import NewItem
from relay.screening import Screening, redact
from relay.settings import FormSettings, Settings
from relay.submission import Submission

Action = Literal["urgent", "drop", "invalid", "refuse", "deliver", "hold"]


@dataclass(frozen=True)
class Decision:
    action: Action
    # deliver: mask the medical spans (policy redact, the visitor's "send without these
    # words", or a possible crisis under reject, which is never refused)
    redact: bool = False
    possible_crisis: bool = False
    # urgent or hold: the text goes to the encrypted inbox (the form's policy is hold)
    keep_private: bool = False
    # deliver or hold: kept in the outbox as ``suspected``, not delivered until released
    suspected: bool = False


def decide(
    screening: Screening, form: FormSettings, *, honeypot: bool, suspect: bool,
    invalid: bool, send_redacted: bool,
) -> Decision:  # fmt: skip
    """The policy, in order: crisis, honeypot, invalid fields, medical details; a
    possible crisis passes the last three. ``suspect``: the post failed the fill-time
    token or the proof of work."""
    hold = form.medical == "hold"
    if screening.verdict == "crisis":
        # Under hold the text waits in the inbox; the notice goes out as for any crisis.
        return Decision("urgent", keep_private=hold)
    unsure = screening.show_crisis_resources
    if honeypot and not unsure:
        return Decision("drop")
    # A possible crisis is not sent back for corrections either: like a crisis, it goes
    # to staff with the fields that were valid (a visitor who leaves the page with the
    # errors on it has still reached someone).
    if invalid and not unsure:
        return Decision("invalid")
    # A possible crisis is delivered whatever the token says (staff must see it); under a
    # filled honeypot, the one strong sign of a bot, it is kept rather than dropped.
    parked = honeypot or (suspect and not unsure)
    if screening.verdict != "medical":
        return Decision("deliver", possible_crisis=unsure, suspected=parked)
    if hold and not send_redacted:
        return Decision("hold", possible_crisis=unsure, keep_private=True, suspected=parked)
    if form.medical == "reject" and not send_redacted and not unsure:
        return Decision("refuse")
    masked = form.medical in ("redact", "reject", "hold") or send_redacted
    return Decision("deliver", redact=masked, possible_crisis=unsure, suspected=parked)


class Items:
    """Builds the outbox item of one post. Made once per app: the sender address and
    the resource lines of the urgent notice are worked out at start."""

    def __init__(self, settings: Settings) -> None:
        self._from = settings.smtp.from_address
        self._sender = envelope_sender(self._from)
        self._default_language = settings.pages.default_language
        # Where staff read held messages; without a public URL, a path on this relay.
        self._inbox_url = settings.inbox.public_url
        # The resource lines of the urgent notice, in each language a visitor may be
        # answered in (as the answer lists them: relay/responses.py).
        self._resources: dict[str, list[str]] = {
            lang: [f"{r.name}: {r.contact}" for r in settings.crisis.for_language(lang).resources]
            for lang in {"en", "es", *settings.pages.languages}
        }

    def notice(
        self, form_id: str, form: FormSettings, submission_id: str, now: float,
        *, possible_crisis: bool,
    ) -> NewItem:  # fmt: skip
        """The notice of a held message: the form, the time and the inbox link, nothing else."""
        draft = draft_notice(
            form_id=form_id, form_title=form.title, from_address=self._from,
            recipients=form.recipients, submission_id=submission_id,
            link=self.held_link(submission_id), now=datetime.fromtimestamp(now, UTC),
            possible_crisis=possible_crisis, staff_language=self._staff_language(form),
        )  # fmt: skip
        return NewItem(
            id=f"{submission_id}.notice", submission_id=submission_id, form_id=form_id,
            kind="notice", verdict="medical", message_id=draft.message_id, sender=self._sender,
            recipients=form.recipients, body=draft.to_json(),
        )  # fmt: skip

    def _staff_language(self, form: FormSettings) -> str:
        return form.language or self._default_language

    def held_link(self, submission_id: str) -> str:
        return f"{self._inbox_url}/inbox/{submission_id}"

    def urgent(
        self, sub: Submission, form: FormSettings, submission_id: str, now: float, language: str,
        shown_in: str, *, held: bool = False,
    ) -> NewItem:  # fmt: skip
        """The urgent call-back notice (the message text only with crisis_include_message,
        and never when the form holds it: then a link to the inbox), in the clinic's
        language; it names the ``language`` the visitor wrote in and lists the resources
        they were shown, in the language they were answered in (``shown_in``)."""
        draft = draft_urgent(
            fields=sub.fields, form_id=sub.form_id, from_address=self._from,
            recipients=form.urgent_recipients, submission_id=submission_id,
            include_message=form.crisis_include_message,
            resources=self._resources.get(shown_in, self._resources["en"]),
            reply_to=sub.reply_to, now=datetime.fromtimestamp(now, UTC), written_in=language,
            staff_language=self._staff_language(form),
            held_link=self.held_link(submission_id) if held else "",
        )  # fmt: skip
        return NewItem(
            id=f"{submission_id}.urgent", submission_id=submission_id, form_id=sub.form_id,
            kind="urgent", verdict="crisis", message_id=draft.message_id, sender=self._sender,
            recipients=form.urgent_recipients, body=draft.to_json(),
        )  # fmt: skip

    def submission(
        self, sub: Submission, form: FormSettings, screening: Screening, decision: Decision,
        submission_id: str, now: float, *, suspected: bool,
        once: tuple[tuple[str, float], ...],
    ) -> NewItem:  # fmt: skip
        fields: Mapping[str, str] = sub.fields
        policy = form.medical
        if decision.redact:
            # Only the medical spans: words that made the screening unsure of a crisis
            # stay, so staff can read what worried it.
            medical = [r for r in screening.reasons if not r.category.startswith("crisis")]
            fields = {k: redact(v, medical, field=k) for k, v in fields.items()}
            policy = "redact"
        draft = draft_submission(
            fields=fields, field_order=form.fields,
            multiline={f for f in form.fields if form.multiline(f)}, form_id=sub.form_id,
            subject_template=form.subject, from_address=self._from,
            recipients=form.recipients, submission_id=submission_id,
            verdict=screening.verdict, medical_policy=policy, reply_to=sub.reply_to,
            now=datetime.fromtimestamp(now, UTC), spam=spam_signals(fields),
            possible_crisis=decision.possible_crisis, written_in=screening.language,
            staff_language=self._staff_language(form),
        )  # fmt: skip
        return NewItem(
            id=submission_id, submission_id=submission_id, form_id=sub.form_id,
            kind="submission", verdict=screening.verdict, message_id=draft.message_id,
            sender=self._sender, recipients=form.recipients, body=draft.to_json(),
            suspected=suspected, once=once,
        )  # fmt: skip
