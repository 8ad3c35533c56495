"""The OpenAPI 3.1 document for ``/openapi.json``, built once from the configured forms.

The response bodies (``components.schemas``) are generated from the pydantic models
in ``relay.schemas`` that also serialise the responses. The paths are written here:
the intake takes three body encodings and answers in two styles, which is clearer
stated than inferred. Every status code the routes can answer is listed, with both
of its shapes: JSON (problem details, RFC 9457) for scripts, and an HTML page for
clients whose ``Accept`` names ``text/html``. ``tests/test_fuzz_openapi.py`` holds
the service to this document.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from relay import __version__
from relay.schemas import COMPONENTS
from relay.settings import Settings

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_HTML: dict[str, Any] = {"schema": {"type": "string"}}
_NO_STORE = {
    "Cache-Control": {
        "description": "Always `no-store`: answers carry or concern personal data.",
        "schema": {"type": "string"},
    }
}
_VARY = {
    "Vary": {
        "description": "`Origin, Sec-Fetch-Site`: the answer depends on the posting site.",
        "schema": {"type": "string"},
    }
}
_RETRY_AFTER = {
    "Retry-After": {
        "required": True,
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _problem(
    description: str, *, headers: dict[str, Any] | None = None, html: bool = True
) -> dict[str, Any]:
    """A problem answer: problem+json for scripts, an HTML page for browsers."""
    content: dict[str, Any] = {"application/problem+json": {"schema": _PROBLEM}}
    if html:
        content["text/html"] = _HTML
    return {"description": description, "content": content, "headers": headers or {}}


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": _HTML}, "headers": _NO_STORE}


def _fields_schema(settings: Settings) -> dict[str, Any]:
    names = sorted({name for form in settings.forms.values() for name in form.fields})
    props: dict[str, Any] = {}
    for name in names:
        props[name] = {"type": "string", "maxLength": settings.limits.max_text_chars}
    if "email" in props:
        props["email"] = {"type": "string", "format": "email", "maxLength": 254}
    props["_gotcha"] = {"type": "string", "description": "Honeypot: leave empty."}
    props["altcha"] = {
        "type": "string",
        "description": "Proof-of-work solution, for forms with proof_of_work on.",
    }
    props["_next"] = {
        "type": "string",
        "format": "uri",
        "description": "Thank-you URL; honoured only when its origin is allowed.",
    }
    props["_ts"] = {
        "type": "string",
        "description": "Fill-time token from the hosted form or GET /f/{form_id}/token.",
    }
    props["_send_redacted"] = {
        "type": "string",
        "description": "1: deliver with the detected medical words masked instead of a 422.",
    }
    return {
        "type": "object",
        "description": "The form's fields as strings. Fields a form lacks are ignored; each "
        "form's own required fields are checked by the service (422 when missing).",
        "properties": props,
        "additionalProperties": True,
    }


def _intake(settings: Settings) -> dict[str, Any]:
    body = {"$ref": "#/components/schemas/Fields"}
    limit = settings.limits.max_body_bytes
    return {
        "summary": "Submit the form",
        "description": "Screens, validates and stores the submission, then answers 202 "
        "(JSON clients) or 303 (browsers, which send Accept: text/html). Errors are "
        "problem details, or an HTML page for browsers. A crisis always gets the "
        "resources, whatever else is wrong; so does a message the screening is unsure "
        "about, accepted (never 422) with the fields that were valid. A post failing "
        "the fill-time token or proof of work is kept as suspected (not delivered) and "
        "a filled honeypot is dropped (kept as suspected when the screening shows the "
        "resources); all get the same-looking success. "
        f"The body may be at most {limit} bytes.",
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": body},
                "multipart/form-data": {"schema": body},
                "application/json": {"schema": body},
                # a JSON object (fetch with mode "no-cors", sendBeacon) or the name=value
                # lines of an HTML form with enctype="text/plain", or the bare message
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "202": {
                "description": "Accepted and stored; delivery follows. A crisis verdict "
                "carries the crisis resources to show at once.",
                "headers": {**_NO_STORE, **_VARY},
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}
                },
            },
            "303": {
                "description": "Browser form post accepted: go to the thank-you page.",
                "headers": {
                    "Location": {"required": True, "schema": {"type": "string"}},
                    **_VARY,
                },
            },
            "400": _problem(
                "Malformed body (unreadable JSON, form or text, a file, over 1,000 fields)."
            ),
            "403": _problem("Origin not allowed for this form.", headers=_VARY),
            "404": _problem("Unknown form."),
            "413": _problem(f"Body larger than {limit} bytes.", headers=_VARY),
            "415": _problem("Unsupported content type.", headers=_VARY),
            "422": _problem(
                "Invalid fields (type .../invalid-fields, with errors[]) or medical "
                "content refused (type .../medical-content, with secure_contact and the "
                "detected words as spans[]; post again with _send_redacted=1 to send "
                "without them); a browser gets the form again with the problems named.",
                headers=_VARY,
            ),
            "429": _problem("Too many submissions.", headers={**_RETRY_AFTER, **_VARY}),
            "503": _problem(
                "Cannot store right now; nothing was accepted.",
                headers={**_RETRY_AFTER, **_VARY},
            ),
        },
    }


def _preflight() -> dict[str, Any]:
    return {
        "summary": "CORS preflight for fetch() from an allowed site",
        "responses": {
            "204": {
                "description": "The origin may post with fetch().",
                "headers": {
                    "Access-Control-Allow-Origin": {"required": True, "schema": {"type": "string"}},
                    "Access-Control-Allow-Methods": {"schema": {"type": "string"}},
                    "Access-Control-Allow-Headers": {"schema": {"type": "string"}},
                    "Access-Control-Max-Age": {"schema": {"type": "integer"}},
                    **_VARY,
                },
            },
            "403": {"description": "Origin missing or not allowed.", "headers": _VARY},
        },
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    form_param = {
        "name": "form_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": sorted(settings.forms)},
    }
    # The page's language; unknown values fall back to Accept-Language, never an error.
    lang_param = {
        "name": "lang",
        "in": "query",
        "required": False,
        "description": "Page language (en, es); else the browser's Accept-Language.",
        "schema": {"type": "string"},
    }
    not_found = _problem("Unknown form.")
    json_ok = {"application/json": {"schema": {"type": "object"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "contact-relay", "version": __version__},
        "paths": {
            "/f/{form_id}": {
                "parameters": [form_param],
                "get": {
                    "summary": "The hosted form page",
                    "parameters": [lang_param],
                    "responses": {"200": _page("HTML form"), "404": not_found},
                },
                "post": _intake(settings),
                "options": _preflight(),
            },
            "/f/{form_id}/token": {
                "parameters": [form_param],
                "get": {
                    "summary": "A fresh fill-time token for forms hosted elsewhere",
                    "responses": {
                        "200": {
                            "description": "The field name and value to post with the form.",
                            "headers": {**_NO_STORE, **_VARY},
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/FillToken"}
                                }
                            },
                        },
                        "404": not_found,
                    },
                },
            },
            "/f/{form_id}/challenge": {
                "parameters": [form_param],
                "get": {
                    "summary": "A proof-of-work challenge (ALTCHA v1) for forms that ask for one",
                    "responses": {
                        "200": {
                            "description": "Solve, then post the base64 JSON solution as "
                            "the field 'altcha'.",
                            "headers": {**_NO_STORE, **_VARY},
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Challenge"}
                                }
                            },
                        },
                        "404": not_found,
                    },
                },
            },
            "/f/{form_id}/thanks": {
                "parameters": [form_param],
                "get": {
                    "summary": "The built-in thank-you page",
                    "parameters": [
                        {
                            "name": "resources",
                            "in": "query",
                            "required": False,
                            "description": "1: also show the crisis resources.",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "held",
                            "in": "query",
                            "required": False,
                            "description": "1: the message was kept privately (hold policy).",
                            "schema": {"type": "string"},
                        },
                        lang_param,
                    ],
                    "responses": {"200": _page("Thank-you page"), "404": not_found},
                },
            },
            "/f/{form_id}/support": {
                "parameters": [form_param],
                "get": {
                    "summary": "The crisis resources page",
                    "parameters": [lang_param],
                    "responses": {"200": _page("Crisis resources"), "404": not_found},
                },
            },
            "/healthz": {
                "get": {
                    "summary": "Alive",
                    "responses": {
                        "200": {"description": "ok", "headers": _NO_STORE, "content": json_ok}
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Ready: outbox writable, delivery not held",
                    "responses": {
                        "200": {"description": "ready", "headers": _NO_STORE, "content": json_ok},
                        "503": {
                            "description": "not ready",
                            "headers": _NO_STORE,
                            "content": json_ok,
                        },
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": json_ok}},
                }
            },
        },
        "components": {"schemas": {"Fields": _fields_schema(settings), **_components()}},
    }


def _components() -> dict[str, Any]:
    """The response bodies, from the pydantic models that serialise them."""
    _, top = models_json_schema(
        [(model, "serialization") for model in COMPONENTS],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = top["$defs"]
    return schemas
