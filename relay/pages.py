"""The visitor-facing HTML: the hosted form and the pages around it.

Pure: each public function takes configuration and values and returns a complete
HTML5 document as ``str``; nothing is read or written at call time. Every value
that reaches the markup goes through ``html.escape`` (``_e``), including values
from configuration, because a clinic name is text, not markup.

The pages work without JavaScript. ``static/form.js`` only improves them: it
posts with ``fetch`` and fills in the ``<template>`` blocks rendered here, so all
markup (and all escaping) lives in this module.

Content-Security-Policy: pages load one stylesheet and one deferred script from
``static_url`` and carry no inline script. The only inline code is a one-line
``<style>`` that sets the clinic's colours as CSS custom properties from the
validated hex colour; ``style_hash()`` gives its CSP source for ``style-src``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote, urlsplit

from relay.screening import Reason
from relay.settings import ClinicSettings, CrisisResource, CrisisSettings, FormSettings
from relay.submission import HONEYPOT, label

NOTICE = (
    "All indicated fields must be completed. "
    "Please include non-medical questions and correspondence only."
)
_HEX_RE = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_DEFAULT_ACCENT = "#1f6f8b"
# Links on a page may only call, text, mail or open a web page.
_SAFE_SCHEMES = frozenset({"tel", "sms", "mailto", "http", "https"})
_AUTOCOMPLETE = {"name": "name", "email": "email", "phone": "tel"}
_INPUT_TYPE = {"email": "email", "phone": "tel"}
_NO_VALUES: Mapping[str, str] = {}


@dataclass(frozen=True)
class PageContext:
    clinic: ClinicSettings
    crisis: CrisisSettings
    static_url: str = "/static"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


# --- colours ---------------------------------------------------------------


def _rgb(color: str) -> tuple[int, int, int]:
    digits = color[1:]
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _text_shade(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """The accent, darkened just enough for 4.5:1 text on white (WCAG AA)."""
    white = (255, 255, 255)
    shade = rgb
    for step in range(11):
        shade = (
            round(rgb[0] * (1 - step / 10)),
            round(rgb[1] * (1 - step / 10)),
            round(rgb[2] * (1 - step / 10)),
        )
        if _contrast(shade, white) >= 4.5:
            break
    return shade


def theme_style(clinic: ClinicSettings) -> str:
    """The CSS custom properties for one clinic's accent colour.

    ``--accent`` fills buttons, ``--on-accent`` is the text on them (white or
    near-black, whichever contrasts more), ``--accent-text`` colours links, focus
    rings and borders on white. The colour is checked again here so that nothing
    but a hex colour can reach the ``<style>`` element.
    """
    accent = clinic.accent_color if _HEX_RE.fullmatch(clinic.accent_color) else _DEFAULT_ACCENT
    rgb = _rgb(accent)
    white, ink = (255, 255, 255), (17, 17, 17)
    on_accent = white if _contrast(rgb, white) >= _contrast(rgb, ink) else ink
    return (
        f":root{{--accent:{_hex(rgb)};--on-accent:{_hex(on_accent)};"
        f"--accent-text:{_hex(_text_shade(rgb))}}}"
    )


def style_hash(ctx: PageContext) -> str:
    """The CSP source (``'sha256-...'``) allowing the inline theme ``<style>``."""
    digest = hashlib.sha256(theme_style(ctx.clinic).encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


# --- building blocks -------------------------------------------------------


def _document(
    ctx: PageContext,
    *,
    title: str,
    main: str,
    script: bool = False,
    header: bool = True,
) -> str:
    static = ctx.static_url.rstrip("/")
    clinic = f'<p class="clinic-name">{_e(ctx.clinic.name)}</p>'
    top = f'<header class="site">{clinic}</header>\n' if header else ""
    bottom = "" if header else f'<footer class="site">{clinic}</footer>\n'
    js = f'<script src="{_e(static)}/form.js" defer></script>\n' if script else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="same-origin">\n'
        f"<title>{_e(title)} - {_e(ctx.clinic.name)}</title>\n"
        f'<link rel="stylesheet" href="{_e(static)}/form.css">\n'
        # The one inline style: the validated accent colour (see theme_style).
        f"<style>{theme_style(ctx.clinic)}</style>\n"
        f"{js}</head>\n<body>\n{top}"
        f'<main id="main">\n{main}</main>\n{bottom}</body>\n</html>\n'
    )


def _safe_href(href: str) -> str | None:
    scheme = urlsplit(href).scheme.lower()
    return href if scheme in _SAFE_SCHEMES else None


def _local_path(href: str) -> bool:
    # "/f/contact", but not "//host" or "/\\host", which browsers read as another site.
    return href.startswith("/") and not href.startswith(("//", "/\\"))


def _tel_href(phone: str) -> str | None:
    digits = re.sub(r"[^0-9+]", "", phone)
    return f"tel:{digits}" if len(digits) >= 3 else None


def _resource(res: CrisisResource, *, big: bool) -> str:
    href = _safe_href(res.href) if res.href else None
    contact = f'<span class="resource-contact">{_e(res.contact)}</span>'
    if href:
        contact = f'<a class="resource-link" href="{_e(href)}">{contact}</a>'
    heading = "h2" if big else "h3"
    return (
        '<li class="resource">'
        f'<{heading} class="resource-name">{_e(res.name)}</{heading}>'
        f"{contact}"
        f'<p class="resource-purpose">{_e(res.purpose)}</p></li>\n'
    )


def _resources(crisis: CrisisSettings, *, big: bool) -> str:
    items = "".join(_resource(r, big=big) for r in crisis.resources)
    cls = "resources resources-big" if big else "resources"
    return f'<ul class="{cls}">\n{items}</ul>\n'


def _crisis_block(ctx: PageContext) -> str:
    """Resources first, under one short heading: the same markup for page and script."""
    note = f'<p class="crisis-note">{_e(ctx.crisis.note)}</p>\n' if ctx.crisis.note else ""
    return (
        '<section class="crisis" aria-labelledby="crisis-title">\n'
        '<h1 id="crisis-title" tabindex="-1">Help is here, right now</h1>\n'
        f"{_resources(ctx.crisis, big=True)}{note}</section>\n"
        '<section class="received" aria-labelledby="received-title">\n'
        '<h2 id="received-title">Your message reached us</h2>\n'
        "<p>Thank you for writing to us. A member of our staff "
        "will call you back. Please reach out to one of the services above now, "
        "and do not wait for our call.</p>\n</section>\n"
    )


def _gentle_resources(ctx: PageContext) -> str:
    return (
        '<aside class="support" aria-labelledby="support-title">\n'
        '<h2 id="support-title">If things feel hard right now</h2>\n'
        "<p>You do not have to wait for our reply. These services are free, "
        "confidential and open at any hour:</p>\n"
        f"{_resources(ctx.crisis, big=False)}</aside>\n"
    )


def _thanks_block(ctx: PageContext, *, resources: bool) -> str:
    support = _gentle_resources(ctx) if resources else ""
    return (
        '<section class="thanks" aria-labelledby="thanks-title">\n'
        '<h1 id="thanks-title" tabindex="-1">Thank you, your message was sent</h1>\n'
        "<p>It has reached us, and our staff will get back to you.</p>\n"
        f"</section>\n{support}"
    )


def _phone_line(clinic: ClinicSettings) -> str:
    if not clinic.phone:
        return ""
    href = _tel_href(clinic.phone)
    phone = _e(clinic.phone)
    number = f'<a href="{_e(href)}">{phone}</a>' if href else phone
    return f'<p class="medical-phone">Our phone number: {number}</p>\n'


def _medical_block(ctx: PageContext, *, level: int) -> str:
    """What to do about medical details: plain words, no blame, how to reach us."""
    h = f"h{level}"
    return (
        '<section class="medical" id="medical-notice" tabindex="-1" '
        'aria-labelledby="medical-title">\n'
        f'<{h} id="medical-title">Your message has not been sent yet</{h}>\n'
        '<p class="medical-detail">It seems to include medical details, such as a '
        "health condition, a medication or a date of birth. Email is not private "
        "enough for them, so to protect your privacy we keep them out of it. "
        "We have not sent or kept your message.</p>\n"
        "<p><strong>To tell us about your health privately:</strong> "
        f'<span class="medical-secure">{_e(ctx.clinic.secure_contact)}</span></p>\n'
        f"{_phone_line(ctx.clinic)}"
        "<p>Or take the medical details out of your message below and send it "
        "again. Your text is still here for you.</p>\n</section>\n"
    )


def _error_summary(form: FormSettings, errors: Mapping[str, str]) -> str:
    ordered = [f for f in form.fields if f in errors] + [f for f in errors if f not in form.fields]
    items = []
    for name in ordered:
        text = _e(errors[name])
        if name in form.fields:
            text = f'<a href="#f-{_e(name)}">{text}</a>'
        items.append(f"<li>{text}</li>\n")
    count = len(ordered)
    what = "one thing" if count == 1 else f"{count} things"
    return (
        '<div class="error-summary" id="error-summary" role="alert" tabindex="-1" '
        'aria-labelledby="error-summary-title">\n'
        f'<h2 id="error-summary-title">Please check {what} before sending</h2>\n'
        f"<ul>\n{''.join(items)}</ul>\n</div>\n"
    )


def _field(name: str, form: FormSettings, value: str, error: str | None) -> str:
    fid = f"f-{_e(name)}"
    required = name in form.required
    marker = ' <span class="req">(required)</span>' if required else ""
    attrs = [f'id="{fid}"', f'name="{_e(name)}"']
    if required:
        attrs.append("required")
    if name in _AUTOCOMPLETE:
        attrs.append(f'autocomplete="{_AUTOCOMPLETE[name]}"')
    error_html = ""
    if error is not None:
        attrs += ['aria-invalid="true"', f'aria-describedby="{fid}-error"']
        error_html = (
            f'<p class="field-error" id="{fid}-error">'
            f'<span class="visually-hidden">Error: </span>{_e(error)}</p>\n'
        )
    if form.multiline(name):
        control = f'<textarea {" ".join(attrs)} rows="8">{_e(value)}</textarea>'
    else:
        kind = _INPUT_TYPE.get(name, "text")
        control = f'<input type="{kind}" {" ".join(attrs)} value="{_e(value)}">'
    cls = "field field-invalid" if error is not None else "field"
    return (
        f'<div class="{cls}" data-field="{_e(name)}">\n'
        f'<label for="{fid}">{_e(label(name).capitalize())}{marker}</label>\n'
        f"{error_html}{control}\n</div>\n"
    )


def _honeypot() -> str:
    # For bots only: hidden from sight, from the tab order and from screen readers.
    return (
        '<div class="hp" aria-hidden="true">\n'
        f'<label for="f-{HONEYPOT}">Leave this field empty</label>\n'
        f'<input type="text" id="f-{HONEYPOT}" name="{HONEYPOT}" value="" '
        'tabindex="-1" autocomplete="off">\n</div>\n'
    )


def _form(
    form_id: str,
    form: FormSettings,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    hidden: Mapping[str, str],
    send_redacted: bool = False,
) -> str:
    action = "/f/" + quote(form_id, safe="")
    fields = "".join(_field(n, form, values.get(n, ""), errors.get(n)) for n in form.fields)
    extra = "".join(
        f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">\n' for k, v in hidden.items()
    )
    # novalidate: the server's messages (beside each field, in plain words) replace
    # the browser's bubbles, with or without JavaScript.
    pow_attr, pow_note = "", ""
    if form.proof_of_work:
        # form.js solves the challenge into the hidden "altcha" field before sending.
        pow_attr = f' data-pow="{_e(action)}/challenge"'
        extra += '<input type="hidden" name="altcha" value="">\n'
        pow_note = (
            '<noscript><p class="notice">This form runs a short spam check in your browser '
            "and needs JavaScript. If you cannot turn it on, please call us.</p></noscript>\n"
        )
    return (
        f"{pow_note}"
        f'<form class="relay-form" action="{_e(action)}" method="post" novalidate '
        f"data-relay-form{pow_attr}>\n"
        f"{fields}{_honeypot()}{extra}"
        '<div class="actions"><button type="submit" class="button">Send message</button>'
        f"{_SEND_REDACTED if send_redacted else ''}</div>\n"
        "</form>\n"
    )


# Posts the same fields again; the relay screens them again and masks what it finds.
_SEND_REDACTED = (
    ' <button type="submit" class="button button-secondary" name="_send_redacted" value="1">'
    "Send without these words</button>"
)


def _notice() -> str:
    return f'<p class="notice">{_e(NOTICE)}</p>\n'


def _crisis_hint(ctx: PageContext) -> str:
    """A quiet line under the form: this form is not for emergencies."""
    if not ctx.crisis.resources:
        return ""
    items = []
    for res in ctx.crisis.resources:
        href = _safe_href(res.href) if res.href else None
        contact = _e(res.contact)
        if href:
            contact = f'<a href="{_e(href)}">{contact}</a>'
        items.append(f"<li>{contact}: {_e(res.name)}</li>\n")
    return (
        '<aside class="crisis-hint" aria-labelledby="crisis-hint-title">\n'
        '<h2 id="crisis-hint-title">In a crisis? Do not wait for a reply</h2>\n'
        f"<ul>\n{''.join(items)}</ul>\n</aside>\n"
    )


def _templates(ctx: PageContext) -> str:
    """Markup that form.js fills in and shows: rendered here, so escaped here."""
    return (
        f'<template id="relay-tpl-thanks">\n{_thanks_block(ctx, resources=False)}</template>\n'
        f'<template id="relay-tpl-support">\n{_gentle_resources(ctx)}</template>\n'
        f'<template id="relay-tpl-crisis">\n{_crisis_block(ctx)}</template>\n'
        f'<template id="relay-tpl-medical">\n{_medical_block(ctx, level=2)}</template>\n'
    )


def _form_section(
    ctx: PageContext,
    form_id: str,
    form: FormSettings,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    hidden: Mapping[str, str],
    send_redacted: bool = False,
) -> str:
    summary = _error_summary(form, errors) if errors else ""
    body = _form(form_id, form, values, errors, hidden, send_redacted)
    return (
        f"{summary}{_notice()}"
        '<div class="status" id="relay-status" role="alert" tabindex="-1" hidden></div>\n'
        f"{body}{_crisis_hint(ctx)}{_templates(ctx)}"
    )


def _highlighted(form: FormSettings, values: Mapping[str, str], spans: Sequence[Reason]) -> str:
    """The visitor's text with the detected words in <mark>, every piece escaped."""
    out = []
    for name in form.fields:
        text = values.get(name, "")
        found = sorted((max(0, r.start), min(len(text), r.end)) for r in spans if r.field == name)
        if not text or not found:
            continue
        parts, last = [], 0
        for start, end in found:
            start = max(start, last)
            if end <= start:
                continue
            parts += [_e(text[last:start]), f"<mark>{_e(text[start:end])}</mark>"]
            last = end
        parts.append(_e(text[last:]))
        out.append(
            f'<p class="medical-found-label">In {_e(label(name))}:</p>\n'
            f'<p class="medical-found-text">{"".join(parts)}</p>\n'
        )
    if not out:
        return ""
    return (
        '<section class="medical-found" aria-labelledby="medical-found-title">\n'
        '<h2 id="medical-found-title">The words we found</h2>\n'
        f"{''.join(out)}</section>\n"
    )


# --- pages -----------------------------------------------------------------


def form_page(
    ctx: PageContext,
    form_id: str,
    form: FormSettings,
    *,
    values: Mapping[str, str] = _NO_VALUES,
    errors: Mapping[str, str] = _NO_VALUES,
    hidden: Mapping[str, str] = _NO_VALUES,
) -> str:
    """The hosted form; with ``errors`` (field -> sentence) the page that lists them."""
    title = f"Error: {form.title}" if errors else form.title
    main = (
        f'<h1 id="form-title">{_e(form.title)}</h1>\n'
        f"{_form_section(ctx, form_id, form, values, errors, hidden)}"
    )
    return _document(ctx, title=title, main=main, script=True)


def medical_page(
    ctx: PageContext,
    form_id: str,
    form: FormSettings,
    *,
    values: Mapping[str, str],
    hidden: Mapping[str, str] = _NO_VALUES,
    spans: Sequence[Reason] = (),
) -> str:
    """The 422 page for medical details: why, how to reach us privately, the detected
    words highlighted in the visitor's text (``spans``) and the text kept, with a
    "Send without these words" button (the same fields again plus ``_send_redacted``)."""
    main = (
        f"{_medical_block(ctx, level=1)}{_highlighted(form, values, spans)}"
        f'<h2 id="form-title">{_e(form.title)}</h2>\n'
        f"{_form_section(ctx, form_id, form, values, _NO_VALUES, hidden, send_redacted=True)}"
    )
    return _document(ctx, title="Your message has not been sent yet", main=main, script=True)


def crisis_page(ctx: PageContext, form_id: str, form: FormSettings) -> str:
    """After a crisis message was accepted: the resources before anything else."""
    del form_id, form  # the same page for every form; kept for a uniform signature
    return _document(ctx, title="Help is here, right now", main=_crisis_block(ctx), header=False)


def thanks_page(
    ctx: PageContext, form_id: str, form: FormSettings, *, resources: bool = False
) -> str:
    """The built-in thank-you page; ``resources`` adds a gentle box of crisis services."""
    again = "/f/" + quote(form_id, safe="")
    main = (
        f"{_thanks_block(ctx, resources=resources)}"
        f'<p><a href="{_e(again)}">Send another message</a></p>\n'
    )
    return _document(ctx, title=f"Message sent: {form.title}", main=main)


def message_page(ctx: PageContext, *, title: str, message: str, back: str | None = None) -> str:
    """A plain page for 404, 405, 413, 429, 503 and the like."""
    link = ""
    if back is not None and (_local_path(back) or _safe_href(back)):
        link = f'<p><a href="{_e(back)}">Go back</a></p>\n'
    main = f"<h1>{_e(title)}</h1>\n<p>{_e(message)}</p>\n{link}"
    return _document(ctx, title=title, main=main)
