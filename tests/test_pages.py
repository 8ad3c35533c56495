"""The visitor-facing pages: escaping, accessibility wiring, and what comes first."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from relay.pages import (
    NOTICE,
    PageContext,
    crisis_page,
    form_page,
    medical_page,
    message_page,
    style_hash,
    thanks_page,
    theme_style,
)
from relay.settings import ClinicSettings, CrisisResource, CrisisSettings, FormSettings

STATIC = Path(__file__).resolve().parents[1] / "relay" / "static"
HOSTILE = "<script>alert(\"x\")</script>' onmouseover='alert(1)"
VOID = {"meta", "link", "input", "br", "hr", "img", "source", "wbr", "area", "base", "col"}


# --- a tiny DOM, enough to ask structural questions ------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)

    def walk(self) -> list[Node]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.walk()[1:]
            if (tag is None or n.tag == tag)
            and all(n.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}>"
        return found[0]

    def by_id(self, id_: str) -> Node:
        return self.find(id=id_)

    def elements(self) -> list[Node]:
        return [c for c in self.children if c.tag != "#text"]

    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def inside(self, tag: str) -> bool:
        node = self.parent
        while node is not None:
            if node.tag == tag:
                return True
            node = node.parent
        return False


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(Node("#text", {}, parent=self.current, text=data))


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, "unclosed elements"
    return builder.root


def live(doc: Node) -> list[Node]:
    """The elements on the page itself, not inside a <template>."""
    return [n for n in doc.walk() if n.tag not in ("#root", "#text") and not n.inside("template")]


# --- fixtures --------------------------------------------------------------------


@pytest.fixture
def ctx() -> PageContext:
    return PageContext(
        clinic=ClinicSettings(name="Valley IV & Ketamine", phone="(555) 010-2000"),
        crisis=CrisisSettings(),
    )


@pytest.fixture
def form() -> FormSettings:
    return FormSettings()


# --- the whole document ----------------------------------------------------------


def test_pages_are_complete_html5_documents(ctx: PageContext, form: FormSettings) -> None:
    """Every page starts with a doctype, declares English and fits a phone's width."""
    for html in (
        form_page(ctx, "contact", form),
        medical_page(ctx, "contact", form, values={}),
        crisis_page(ctx, "contact", form),
        thanks_page(ctx, "contact", form),
        message_page(ctx, title="Not found", message="No form here."),
    ):
        assert html.startswith("<!DOCTYPE html>\n")
        doc = parse(html)
        assert doc.find("html").attrs["lang"] == "en"
        assert doc.find("meta", name="viewport").attrs["content"] == (
            "width=device-width, initial-scale=1"
        )
        assert len(doc.find_all("main")) == 1
        assert (
            len(doc.find_all("h1")) - len([h for h in doc.find_all("h1") if h.inside("template")])
            == 1
        )


def test_ids_are_unique_on_the_page(ctx: PageContext, form: FormSettings) -> None:
    """No id repeats among the elements shown (template contents are separate)."""
    errors = {"email": "Please check your email address."}
    for html in (
        form_page(ctx, "contact", form, errors=errors),
        medical_page(ctx, "contact", form, values={"message": "x"}),
        crisis_page(ctx, "contact", form),
        thanks_page(ctx, "contact", form, resources=True),
    ):
        ids = [n.attrs["id"] for n in live(parse(html)) if n.attrs.get("id")]
        assert len(ids) == len(set(ids)), ids


def test_only_self_served_script_and_style(ctx: PageContext, form: FormSettings) -> None:
    """The form loads form.js deferred from static_url, and has no inline script."""
    ctx = PageContext(clinic=ctx.clinic, crisis=ctx.crisis, static_url="/assets/")
    doc = parse(form_page(ctx, "contact", form))
    scripts = doc.find_all("script")
    assert [s.attrs for s in scripts] == [{"src": "/assets/form.js", "defer": None}]
    assert scripts[0].all_text() == ""
    assert doc.find("link", rel="stylesheet").attrs["href"] == "/assets/form.css"
    for tag in doc.walk():
        assert not any(name.startswith("on") for name in tag.attrs), tag.attrs
        assert "style" not in tag.attrs


def test_static_files_name_no_other_site() -> None:
    """form.css and form.js fetch nothing from elsewhere and build no HTML from strings."""
    css = (STATIC / "form.css").read_text(encoding="utf-8")
    js = (STATIC / "form.js").read_text(encoding="utf-8")
    js = re.sub(r"/\*.*?\*/|^\s*//.*$", "", js, flags=re.DOTALL | re.MULTILINE)  # comments
    assert not re.search(r"https?:|@import|url\(", css)
    assert not re.search(r"https?://", js)
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|eval\(|document\.write", js)


# --- escaping --------------------------------------------------------------------


def test_hostile_values_errors_and_hidden_are_escaped(ctx: PageContext, form: FormSettings) -> None:
    """Markup and quotes in values, errors and hidden inputs come back as plain text."""
    html = form_page(
        ctx,
        "contact",
        form,
        values={"name": HOSTILE, "message": HOSTILE},
        errors={"email": HOSTILE},
        hidden={"_ts": HOSTILE},
    )
    assert "<script>alert" not in html
    assert "' onmouseover='" not in html
    doc = parse(html)
    assert doc.by_id("f-name").attrs["value"] == HOSTILE
    assert doc.by_id("f-message").all_text() == HOSTILE
    assert HOSTILE in doc.by_id("f-email-error").all_text()
    assert doc.find("input", type="hidden", name="_ts").attrs["value"] == HOSTILE
    assert len(doc.find_all("script")) == 1


def test_hostile_clinic_settings_are_escaped(form: FormSettings) -> None:
    """The clinic name, phone, secure-contact text and resources are text, never markup."""
    ctx = PageContext(
        clinic=ClinicSettings(name=HOSTILE, phone=HOSTILE, secure_contact=HOSTILE),
        crisis=CrisisSettings(
            resources=[CrisisResource(name=HOSTILE, contact=HOSTILE, purpose=HOSTILE)],
            note=HOSTILE,
        ),
    )
    for html in (
        form_page(ctx, "contact", form),
        medical_page(ctx, "contact", form, values={"message": HOSTILE}),
        crisis_page(ctx, "contact", form),
        thanks_page(ctx, "contact", form, resources=True),
        message_page(ctx, title=HOSTILE, message=HOSTILE),
    ):
        assert "<script>alert" not in html
        assert "' onmouseover='" not in html
        assert HOSTILE in parse(html).find("title").all_text()


def test_unsafe_links_are_not_rendered(form: FormSettings) -> None:
    """A resource or back link with a javascript: URL is shown as text, without a link."""
    ctx = PageContext(
        clinic=ClinicSettings(),
        crisis=CrisisSettings(
            resources=[CrisisResource(name="x", contact="y", purpose="z", href="javascript:1")]
        ),
    )
    for html in (
        crisis_page(ctx, "contact", form),
        form_page(ctx, "contact", form),
        message_page(ctx, title="t", message="m", back="javascript:alert(1)"),
    ):
        assert "javascript:" not in html
    for elsewhere in ("//evil.example/", "/\\evil.example/"):
        assert "<a " not in message_page(ctx, title="t", message="m", back=elsewhere)
    assert 'href="/f/contact"' in message_page(ctx, title="t", message="m", back="/f/contact")


def test_accent_colour_cannot_break_out_of_the_style(form: FormSettings) -> None:
    """Anything but a hex colour (say, from model_construct) falls back to the default."""
    clinic = ClinicSettings.model_construct(
        name="c", phone="", secure_contact="s", accent_color="red}</style><script>x()</script>"
    )
    html = form_page(PageContext(clinic=clinic, crisis=CrisisSettings()), "contact", form)
    assert "</style><script>" not in html
    assert "--accent:#1f6f8b" in html


def test_light_accent_gets_dark_text_and_darker_links() -> None:
    """A pale accent keeps button text and links readable (WCAG AA contrast)."""
    style = theme_style(ClinicSettings(accent_color="#ffd700"))
    assert "--on-accent:#111111" in style
    link = re.search(r"--accent-text:(#[0-9a-f]{6})", style)
    assert link is not None and link.group(1) != "#ffd700"
    assert theme_style(ClinicSettings(accent_color="#036")) == (
        ":root{--accent:#003366;--on-accent:#ffffff;--accent-text:#003366}"
    )


def test_style_hash_matches_the_inline_style(ctx: PageContext, form: FormSettings) -> None:
    """style_hash() is the CSP source for exactly the <style> the pages carry."""
    import base64
    import hashlib

    css = parse(form_page(ctx, "contact", form)).find("style").all_text()
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert style_hash(ctx) == f"'sha256-{digest}'"


# --- the form --------------------------------------------------------------------


def test_form_posts_to_its_own_address(ctx: PageContext, form: FormSettings) -> None:
    """The form posts to /f/{form_id}, carries the notice and a submit button."""
    doc = parse(form_page(ctx, "contact", form))
    f = doc.find("form")
    assert (f.attrs["action"], f.attrs["method"]) == ("/f/contact", "post")
    assert "novalidate" in f.attrs
    assert NOTICE in doc.find("p", class_="notice").all_text()
    assert doc.find("button", type="submit").all_text() == "Send message"


def test_every_field_has_a_visible_label(ctx: PageContext, form: FormSettings) -> None:
    """Each control is named by a <label for> with plain words."""
    doc = parse(form_page(ctx, "contact", form))
    labels = {n.attrs["for"]: n.all_text() for n in doc.find_all("label")}
    for name, words in [
        ("name", "Your name"),
        ("email", "Your email address"),
        ("phone", "Your phone number"),
        ("message", "Your message"),
    ]:
        assert labels[f"f-{name}"].startswith(words)
        assert doc.by_id(f"f-{name}").attrs["name"] == name


def test_input_types_and_autocomplete(ctx: PageContext) -> None:
    """email, phone and name get the right type and autocomplete; message is a textarea."""
    form = FormSettings(fields=["name", "email", "phone", "message", "subject"], required=[])
    doc = parse(form_page(ctx, "contact", form))
    assert doc.by_id("f-email").attrs.items() >= {"type": "email", "autocomplete": "email"}.items()
    assert doc.by_id("f-phone").attrs.items() >= {"type": "tel", "autocomplete": "tel"}.items()
    assert doc.by_id("f-name").attrs.items() >= {"type": "text", "autocomplete": "name"}.items()
    assert doc.by_id("f-message").tag == "textarea"
    subject = doc.by_id("f-subject")
    assert (subject.tag, subject.attrs["type"]) == ("input", "text")
    order = [n.attrs["data-field"] for n in doc.find_all("div") if "data-field" in n.attrs]
    assert order == form.fields


def test_required_fields_are_marked(ctx: PageContext) -> None:
    """Required fields say "(required)" in the label and carry the required attribute."""
    form = FormSettings(fields=["name", "email", "message"], required=["email", "message"])
    doc = parse(form_page(ctx, "contact", form))
    labels = {n.attrs["for"]: n.all_text() for n in doc.find_all("label")}
    assert "(required)" in labels["f-email"] and "(required)" in labels["f-message"]
    assert "(required)" not in labels["f-name"]
    assert "required" in doc.by_id("f-email").attrs
    assert "required" not in doc.by_id("f-name").attrs


def test_clean_form_has_no_error_state(ctx: PageContext, form: FormSettings) -> None:
    """Without errors there is no summary and no control is marked invalid."""
    html = form_page(ctx, "contact", form)
    assert "error-summary" not in html
    assert "aria-invalid" not in html
    assert parse(html).find("title").all_text().startswith("Contact us")


def test_errors_are_tied_to_their_fields(ctx: PageContext, form: FormSettings) -> None:
    """Each error sits beside its field, and the field points to it with aria-describedby."""
    errors = {"phone": "Please enter a phone number we can call.", "email": "Please check it."}
    doc = parse(form_page(ctx, "contact", form, errors=errors))
    for name, text in errors.items():
        control = doc.by_id(f"f-{name}")
        assert control.attrs["aria-invalid"] == "true"
        message = doc.by_id(control.attrs["aria-describedby"] or "")
        assert text in message.all_text()
        assert message.parent is control.parent  # beside it, in the same field group
        assert "field-invalid" in (control.parent.classes() if control.parent else [])
    assert "aria-invalid" not in doc.by_id("f-name").attrs


def test_error_summary_comes_first_and_links_to_fields(
    ctx: PageContext, form: FormSettings
) -> None:
    """The summary is an alert above the form, listing errors in form order as links."""
    errors = {"message": "Please fill in your message.", "email": "Please check it."}
    html = form_page(ctx, "contact", form, errors=errors)
    doc = parse(html)
    summary = doc.by_id("error-summary")
    assert summary.attrs["role"] == "alert"
    assert summary.attrs["tabindex"] == "-1"
    assert "2 things" in summary.find("h2").all_text()
    links = [(a.attrs["href"], a.all_text()) for a in summary.find_all("a")]
    assert links == [("#f-email", errors["email"]), ("#f-message", errors["message"])]
    assert html.index('id="error-summary"') < html.index("<form")
    assert doc.find("title").all_text().startswith("Error: ")


def test_error_for_unknown_field_is_listed_without_link(
    ctx: PageContext, form: FormSettings
) -> None:
    """A problem not tied to a field still shows in the summary."""
    doc = parse(form_page(ctx, "contact", form, errors={"_next": "Bad return address."}))
    item = doc.by_id("error-summary").find("li")
    assert item.all_text() == "Bad return address." and not item.find_all("a")


def test_values_are_kept_on_the_error_page(ctx: PageContext, form: FormSettings) -> None:
    """The visitor's text is put back into every field, untouched."""
    values = {"name": "Ann", "email": "bad@", "phone": "", "message": "Line one\nLine two"}
    doc = parse(form_page(ctx, "contact", form, values=values, errors={"email": "Check it."}))
    assert doc.by_id("f-name").attrs["value"] == "Ann"
    assert doc.by_id("f-email").attrs["value"] == "bad@"
    assert doc.by_id("f-message").all_text() == "Line one\nLine two"


def test_honeypot_is_present_and_hidden(ctx: PageContext, form: FormSettings) -> None:
    """_gotcha is there for bots: off screen, out of the tab order, hidden from readers."""
    doc = parse(form_page(ctx, "contact", form, values={"_gotcha": "spam"}))
    trap = doc.find("input", name="_gotcha")
    assert trap.attrs["tabindex"] == "-1"
    assert trap.attrs["autocomplete"] == "off"
    assert trap.attrs["value"] == ""  # never echoed back
    wrapper = trap.parent
    assert wrapper is not None and wrapper.attrs["aria-hidden"] == "true"
    assert "hp" in wrapper.classes()
    css = (STATIC / "form.css").read_text(encoding="utf-8")
    rule = re.search(r"\.hp\s*\{([^}]*)\}", css)
    assert rule is not None and "left: -10000px" in rule.group(1)


def test_hidden_inputs_are_added(ctx: PageContext, form: FormSettings) -> None:
    """Extra hidden inputs (a signed timestamp, say) are posted with the form."""
    doc = parse(form_page(ctx, "contact", form, hidden={"_ts": "123.abc"}))
    assert doc.find("input", name="_ts").attrs == {
        "type": "hidden",
        "name": "_ts",
        "value": "123.abc",
    }


def test_form_carries_templates_for_the_script(ctx: PageContext, form: FormSettings) -> None:
    """The script's thank-you, crisis and medical markup is rendered server-side."""
    doc = parse(form_page(ctx, "contact", form))
    ids = {t.attrs["id"] for t in doc.find_all("template")}
    assert ids == {
        "relay-tpl-thanks", "relay-tpl-support", "relay-tpl-crisis", "relay-tpl-medical",
        "relay-tpl-redact", "relay-tpl-categories", "relay-tpl-strings",
    }  # fmt: skip
    status = doc.by_id("relay-status")
    assert (status.attrs["role"], "hidden" in status.attrs) == ("alert", True)


def test_form_page_offers_crisis_help_below_the_form(ctx: PageContext, form: FormSettings) -> None:
    """Under the form, a quiet line says it is not for emergencies, with tel: links."""
    html = form_page(ctx, "contact", form)
    doc = parse(html)
    hint = doc.find("aside", class_="crisis-hint")
    assert [a.attrs["href"] for a in hint.find_all("a")][:2] == ["tel:988", "tel:911"]
    assert html.index("</form>") < html.index('class="crisis-hint"')


# --- crisis, medical, thanks, message -------------------------------------------


def test_crisis_page_shows_resources_first(ctx: PageContext, form: FormSettings) -> None:
    """Nothing comes before the resources but a short heading; the clinic name goes last."""
    doc = parse(crisis_page(ctx, "contact", form))
    body = doc.find("body").elements()
    assert [n.tag for n in body] == ["main", "footer"]
    section = body[0].elements()[0]
    first, second = section.elements()[:2]
    assert first.tag == "h1" and len(first.all_text()) < 40
    assert second.tag == "ul" and "resources" in second.classes()
    names = [li.find(class_="resource-name").all_text() for li in second.find_all("li")]
    assert names == [r.name for r in ctx.crisis.resources]
    assert "Your message reached us" in body[0].all_text()
    assert not doc.find_all("form") and not doc.find_all("script")


def test_crisis_page_links_call_and_text(ctx: PageContext, form: FormSettings) -> None:
    """Each resource is a tel: or sms: link, and the note follows the list."""
    html = crisis_page(ctx, "contact", form)
    hrefs = [a.attrs["href"] for a in parse(html).find_all("a", class_="resource-link")]
    assert hrefs == ["tel:988", "tel:911", "sms:741741?&body=HOME"]
    assert html.index(ctx.crisis.note) > html.index("Crisis Text Line")
    assert html.index(ctx.crisis.note) < html.index("Your message reached us")


def test_medical_page_keeps_the_text(ctx: PageContext, form: FormSettings) -> None:
    """The medical-details page gives every field back, ready to edit and resend."""
    values = {
        "name": "Ann",
        "email": "ann@example.com",
        "phone": "555 010 2000",
        "message": "I take lithium & I'd like to ask <about> prices",
    }
    doc = parse(medical_page(ctx, "contact", form, values=values))
    for name, value in values.items():
        control = doc.by_id(f"f-{name}")
        kept = control.all_text() if control.tag == "textarea" else control.attrs["value"]
        assert kept == value
    assert doc.find("form").attrs["action"] == "/f/contact"


def test_medical_page_explains_kindly_and_how_to_reach_us(
    ctx: PageContext, form: FormSettings
) -> None:
    """It says why (privacy), that nothing was sent, and gives the secure way and phone."""
    html = medical_page(ctx, "contact", form, values={"message": "x"})
    doc = parse(html)
    notice = doc.by_id("medical-notice")
    text = " ".join(notice.all_text().split())
    assert notice.find("h1").all_text() == "Your message has not been sent yet"
    assert "privacy" in text and "not sent or kept" in text
    assert ctx.clinic.secure_contact in text
    assert notice.find("a").attrs["href"] == "tel:5550102000"
    assert html.index('id="medical-notice"') < html.index("<form")
    assert "error" not in text.lower() and "wrong" not in text.lower()
    assert "aria-invalid" not in html


def test_thanks_page_resources_only_when_asked(ctx: PageContext, form: FormSettings) -> None:
    """The plain thank-you has no resources; resources=True adds the gentle box after it."""
    plain = thanks_page(ctx, "contact", form)
    assert "988" not in plain and "Thank you" in plain
    gentle = thanks_page(ctx, "contact", form, resources=True)
    doc = parse(gentle)
    assert doc.find("aside", class_="support").find_all("li")
    assert gentle.index("Thank you") < gentle.index('class="support"')


def test_message_page_has_title_message_and_back_link(ctx: PageContext) -> None:
    """Plain status pages show the title as heading, the message, and an optional link."""
    doc = parse(
        message_page(ctx, title="Please wait", message="Too many tries.", back="/f/contact")
    )
    assert doc.find("h1").all_text() == "Please wait"
    assert doc.find("a").attrs["href"] == "/f/contact"
    assert not parse(message_page(ctx, title="t", message="m")).find_all("a")


# --- what the screening found, on the medical page ---------------------------------


@dataclass(frozen=True)
class Found:
    field: str
    start: int
    end: int
    category: str


def test_found_spans_are_clipped_merged_and_crisis_free() -> None:
    """Overlapping spans mark once, spans past the end are clipped, crisis spans and
    empty ones are left out; the text in the segments adds up to the original."""
    from relay.pages import found_in

    text = "I take lithium 600 mg daily"
    spans = [
        Found("message", 7, 14, "medication"),
        Found("message", 10, 21, "dose"),  # overlaps the medication
        Found("message", 22, 99, "condition"),  # past the end
        Found("message", 5, 5, "dob"),  # empty
        Found("message", 0, 1, "crisis.passive"),
        Found("subject", 0, 3, "condition"),  # a field with no value
    ]
    found = found_in({"message": text}, spans)
    (message,) = found.fields
    assert "".join(t for t, _ in message.segments) == text
    assert [(t, c) for t, c in message.segments if c] == [
        ("lithium", "medication"), (" 600 mg", "dose"), ("daily", "condition"),
    ]  # fmt: skip
    assert "crisis.passive" not in found.categories


def test_medical_page_without_spans_offers_no_second_button(
    ctx: PageContext, form: FormSettings
) -> None:
    """With nothing to highlight there is no "Send without these words" and no list."""
    doc = parse(medical_page(ctx, "contact", form, values={"message": "x"}))
    assert not [b for b in doc.find("form").find_all("button") if b.attrs.get("name")]
    assert "hidden" in doc.by_id("medical-found").attrs


def test_highlighted_text_is_escaped(ctx: PageContext, form: FormSettings) -> None:
    """The visitor's text inside and around <mark> stays text, never markup."""
    text = f"{HOSTILE} lithium {HOSTILE}"
    start = text.index("lithium")
    spans = [Found("message", start - 3, start + 7, "medication")]
    html = medical_page(ctx, "contact", form, values={"message": text}, spans=spans)
    assert "<script>alert" not in html
    copy = parse(html).by_id("medical-found").find("p", class_="highlighted-text")
    assert copy.all_text() == text
    assert copy.find("mark").all_text() == text[start - 3 : start + 7]
