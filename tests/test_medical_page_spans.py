"""The medical page highlights the detected words and offers to send without them."""

from __future__ import annotations

from relay.pages import PageContext, medical_page
from relay.screening import Reason
from relay.settings import ClinicSettings, CrisisSettings, FormSettings

CTX = PageContext(clinic=ClinicSettings(), crisis=CrisisSettings())
FORM = FormSettings()


def test_detected_words_are_marked_and_escaped() -> None:
    """Each span is one <mark>; the text around and inside it is escaped."""
    text = "<b>I take</b> lithium & <i>Keppra</i> daily"
    spans = (Reason("medication", 14, 21, "message"), Reason("medication", 27, 33, "message"))
    page = medical_page(CTX, "contact", FORM, values={"message": text}, spans=spans)
    assert '<mark data-category="medication">lithium</mark>' in page
    assert '<mark data-category="medication">Keppra</mark>' in page
    assert (
        '&lt;b&gt;I take&lt;/b&gt; <mark data-category="medication">lithium</mark> &amp; ' in page
    )
    assert "<b>" not in page


def test_send_without_these_words_posts_the_same_form() -> None:
    """The medical page's form has a second submit that adds _send_redacted=1."""
    page = medical_page(CTX, "contact", FORM, values={"message": "x"}, spans=())
    assert 'name="_send_redacted" value="1"' in page
    assert "Send without these words" in page
    assert page.count('action="/f/contact"') == 1


def test_overlapping_and_out_of_range_spans_do_not_break_the_text() -> None:
    """Overlapping spans give one mark each without repeating text; spans past the end
    are clipped; spans of another field are ignored."""
    text = "bipolar disorder"
    spans = (
        Reason("condition", 0, 16, "message"),
        Reason("condition", 8, 16, "message"),
        Reason("condition", 5, 99, "subject"),
    )
    page = medical_page(CTX, "contact", FORM, values={"message": text}, spans=spans)
    assert page.count("<mark ") == 1
    assert '<mark data-category="condition">bipolar disorder</mark>' in page
