"""The visitor-facing HTML: the hosted form and the pages around it, from templates.

Each public function takes configuration and values and returns a complete HTML5
document: a ``Page``, a ``str`` that also knows its language (for the
``Content-Language`` header). The markup lives in ``relay/templates`` (Jinja2 through
Starlette's ``Jinja2Templates``, autoescape on, so every value is text, never markup,
including values from configuration). The words are English message ids translated
through ``relay.i18n``; there is one template environment per language.

A clinic's ``[pages] templates_dir`` holds templates that replace the built-in ones of
the same name (usually just ``base.html``; its blocks are documented there).
``check_templates`` renders every page with it in every language at start, so a broken
override stops ``serve`` and ``check-config`` with the template's name and line. Should
an override still fail while serving, the failure is logged by template name only (never
values) and the visitor gets the built-in page.

The pages work without JavaScript. ``static/form.js`` only improves them: it posts
with ``fetch`` and fills in the ``<template>`` blocks rendered here.

Content-Security-Policy: pages load one stylesheet and one deferred script from
``static_url`` and carry no inline script. The only inline code is the theme
``<style>`` from ``relay.colour``; ``style_hash()`` gives its CSP source.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import jinja2

from relay import colour
from relay.errors import ConfigError
from relay.i18n import N_
from relay.settings import ClinicSettings, CrisisSettings, FormSettings, PagesSettings
from relay.submission import HONEYPOT
from relay.templating import Renderer

PAGE_TEMPLATES = ("form.html", "medical.html", "crisis.html", "thanks.html", "message.html")
NOTICE = N_(
    "All indicated fields must be completed. "
    "Please include non-medical questions and correspondence only."
)
# Default configuration texts a page shows: translated when left as they are.
CONFIG_TEXTS = (
    N_("Our clinic"),
    N_("Contact us"),
    N_(
        "Please call us, or bring these details to your appointment, so that we can "
        "keep them private."
    ),
)
# Screening categories that have their own plain words (macros.html category_name).
KNOWN_CATEGORIES = ("condition", "symptom", "medication", "dose", "procedure", "care",
                    "treatment", "disclosure", "pregnancy", "dob", "ssn", "mrn", "member_id",
                    "medicare_id", "icd10", "lab_value", "too_long")  # fmt: skip
# Links on a page may only call, text, mail or open a web page.
_SAFE_SCHEMES = frozenset({"tel", "sms", "mailto", "http", "https"})
_AUTOCOMPLETE = {"name": "name", "email": "email", "phone": "tel"}
_INPUT_TYPE = {"email": "email", "phone": "tel"}
_NO_VALUES: Mapping[str, str] = {}


class Span(Protocol):
    """What the medical page needs of a screening reason (relay.screening.Reason)."""

    @property
    def field(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def category(self) -> str: ...


class Page(str):
    """A rendered HTML document that knows the language it is written in."""

    language: str

    def __new__(cls, body: str, language: str) -> Page:
        self = super().__new__(cls, body)
        self.language = language
        return self


@dataclass(frozen=True)
class PageContext:
    clinic: ClinicSettings
    crisis: CrisisSettings
    static_url: str = "/static"
    pages: PagesSettings = field(default_factory=PagesSettings)
    # check_templates: let an override's error out instead of falling back.
    strict: bool = False

    def language(self, lang: str | None) -> str:
        return lang if lang in self.pages.languages else self.pages.default_language


@dataclass(frozen=True)
class FoundField:
    name: str
    segments: tuple[tuple[str, str | None], ...]  # (text, category or None)


@dataclass(frozen=True)
class Found:
    """What the screening found, ready for the page: categories and marked text."""

    categories: tuple[str, ...] = ()
    fields: tuple[FoundField, ...] = ()


NO_FINDINGS = Found()


def found_in(values: Mapping[str, str], spans: Sequence[Span]) -> Found:
    """Split each field's text at the spans (clipped, merged where they overlap)."""
    categories: list[str] = []
    fields: list[FoundField] = []
    by_field: dict[str, list[Span]] = {}
    for span in spans:
        if span.category.startswith("crisis"):
            continue  # a crisis is answered with resources, never as words to remove
        by_field.setdefault(span.field, []).append(span)
        if span.category not in categories:
            categories.append(span.category)
    for name, field_spans in by_field.items():
        text = values.get(name, "")
        segments: list[tuple[str, str | None]] = []
        last = 0
        for span in sorted(field_spans, key=lambda s: (s.start, -s.end)):
            start, end = max(span.start, last), min(span.end, len(text))
            if end <= start:
                continue
            if start > last:
                segments.append((text[last:start], None))
            segments.append((text[start:end], span.category))
            last = end
        if segments:
            if last < len(text):
                segments.append((text[last:], None))
            fields.append(FoundField(name, tuple(segments)))
    return Found(tuple(categories), tuple(fields))


# --- filters -------------------------------------------------------------------


def safe_href(href: str) -> str:
    """The link if it only calls, texts, mails or opens a web page; else ""."""
    return href if href and urlsplit(href).scheme.lower() in _SAFE_SCHEMES else ""


def _local_path(href: str) -> bool:
    # "/f/contact", but not "//host" or "/\\host", which browsers read as another site.
    return href.startswith("/") and not href.startswith(("//", "/\\"))


def tel_href(phone: str) -> str:
    digits = re.sub(r"[^0-9+]", "", phone)
    return f"tel:{digits}" if len(digits) >= 3 else ""


@functools.cache
def renderer(templates_dir: Path | None) -> Renderer:
    """The environments for one templates folder, built once and shared."""
    return Renderer(
        templates_dir,
        filters={"safe_href": safe_href, "tel_href": tel_href},
        globals={
            "autocomplete": _AUTOCOMPLETE, "input_types": _INPUT_TYPE,
            "honeypot_name": HONEYPOT, "notice": NOTICE,
            "known_categories": KNOWN_CATEGORIES, "no_findings": NO_FINDINGS,
        },
    )  # fmt: skip


def check_templates(settings: PagesSettings) -> None:
    """Render every page with the clinic's templates in every language; raise
    ConfigError naming the template, line and problem when one fails."""
    if settings.templates_dir is None:
        return
    ctx = PageContext(clinic=ClinicSettings(), crisis=CrisisSettings(), pages=settings, strict=True)
    for lang in settings.languages:
        env = renderer(settings.templates_dir).env(lang)
        for name in PAGE_TEMPLATES:
            try:
                env.get_template(name)  # compiles it and everything it extends
                _example(ctx, name, lang)
            except jinja2.TemplateSyntaxError as exc:
                raise ConfigError(
                    f"pages.templates_dir: {exc.filename or exc.name}, line {exc.lineno}: "
                    f"{exc.message}"
                ) from None
            except jinja2.TemplateError as exc:
                raise ConfigError(
                    f"pages.templates_dir: {name} ({lang}) does not render: "
                    f"{type(exc).__name__}: {exc}"
                ) from None


def _example(ctx: PageContext, name: str, lang: str) -> Page:
    """One page rendered with example values (every variable a page can see)."""
    form = FormSettings(fields=["name", "email", "phone", "message", "subject"])
    if name == "form.html":
        return form_page(ctx, "contact", form, errors={"email": "x", "_next": "y"}, lang=lang)
    if name == "medical.html":
        spans = (ExampleReason("message", 0, 4, "condition"),)
        values = {"message": "text"}
        return medical_page(ctx, "contact", form, values=values, spans=spans, lang=lang)
    if name == "crisis.html":
        return crisis_page(ctx, "contact", form, lang=lang)
    if name == "thanks.html":
        return thanks_page(ctx, "contact", form, resources=True, lang=lang)
    return message_page(ctx, title="t", message="m", back="/f/contact", lang=lang)


@dataclass(frozen=True)
class ExampleReason:
    field: str
    start: int
    end: int
    category: str


# --- pages ---------------------------------------------------------------------


def _render(ctx: PageContext, name: str, lang: str | None, **values: Any) -> Page:
    lang = ctx.language(lang)
    context = {
        "lang": lang,
        "clinic": ctx.clinic,
        "crisis": ctx.crisis.for_language(lang),
        "static": ctx.static_url.rstrip("/"),
        "theme_style": colour.theme_style(ctx.clinic.accent_color),
        "script": False,
        "resources_first": False,
        "title": "",
        **values,
    }
    body = renderer(ctx.pages.templates_dir).render(name, lang, context, fallback=not ctx.strict)
    return Page(body, lang)


def _form_values(
    form_id: str, form: FormSettings, values: Mapping[str, str], errors: Mapping[str, str],
    hidden: Mapping[str, str], found: Found | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "form_id": form_id, "form": form, "values": values, "errors": errors, "hidden": hidden,
        "action": "/f/" + quote(form_id, safe=""), "found": found, "script": True,
    }  # fmt: skip


def form_page(
    ctx: PageContext,
    form_id: str,
    form: FormSettings,
    *,
    values: Mapping[str, str] = _NO_VALUES,
    errors: Mapping[str, str] = _NO_VALUES,
    hidden: Mapping[str, str] = _NO_VALUES,
    lang: str | None = None,
) -> Page:
    """The hosted form; with ``errors`` (field -> sentence) the page that lists them."""
    return _render(
        ctx, "form.html", lang, **_form_values(form_id, form, values, errors, hidden, None)
    )


def medical_page(
    ctx: PageContext,
    form_id: str,
    form: FormSettings,
    *,
    values: Mapping[str, str],
    hidden: Mapping[str, str] = _NO_VALUES,
    spans: Sequence[Span] = (),
    lang: str | None = None,
) -> Page:
    """The 422 page for medical details: why, how to reach us privately, what was found
    (``spans`` highlighted in a read-only copy of the text), and the text kept for
    editing, with a second button to send it without those words."""
    found = found_in(values, spans)
    return _render(
        ctx, "medical.html", lang,
        **_form_values(form_id, form, values, _NO_VALUES, hidden, found),
    )  # fmt: skip


def crisis_page(
    ctx: PageContext, form_id: str, form: FormSettings, *, lang: str | None = None
) -> Page:
    """After a crisis message was accepted: the resources before anything else."""
    del form_id, form  # the same page for every form; kept for a uniform signature
    return _render(ctx, "crisis.html", lang, resources_first=True)


def thanks_page(
    ctx: PageContext,
    form_id: str,
    form: FormSettings,
    *,
    resources: bool = False,
    held: bool = False,
    lang: str | None = None,
) -> Page:
    """The built-in thank-you page; ``resources`` adds a gentle box of crisis services,
    ``held`` says the message was kept privately (the ``hold`` policy)."""
    again = "/f/" + quote(form_id, safe="")
    return _render(ctx, "thanks.html", lang, form=form, with_resources=resources, again=again,
                   held=held)  # fmt: skip


def message_page(
    ctx: PageContext,
    *,
    title: str,
    message: str,
    back: str | None = None,
    lang: str | None = None,
) -> Page:
    """A plain page for 404, 405, 413, 429, 503 and the like (texts already translated)."""
    link = back if back is not None and (_local_path(back) or safe_href(back)) else None
    return _render(ctx, "message.html", lang, title=title, message=message, back=link)


def render(ctx: PageContext, name: str, lang: str | None, **values: Any) -> Page:
    """Any template over base.html, with the common context (for the staff pages)."""
    return _render(ctx, name, lang, **values)


def style_hash(ctx: PageContext) -> str:
    """The CSP source (``'sha256-...'``) allowing the inline theme ``<style>``."""
    return colour.style_hash(ctx.clinic.accent_color)


def theme_style(clinic: ClinicSettings) -> str:
    """The theme ``<style>`` content for one clinic (see relay.colour)."""
    return colour.theme_style(clinic.accent_color)
