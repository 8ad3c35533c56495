"""The OpenAPI 3.1 document for ``/openapi.json``, built from the configured forms.

Written by hand rather than generated: the intake takes three body encodings and
answers in two styles, which is clearer stated than inferred.
"""

from __future__ import annotations

from typing import Any

from relay import __version__
from relay.settings import Settings

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": _PROBLEM}},
    }
    if retry_after:
        out["headers"] = {
            "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
        }
    return out


def _fields_schema(settings: Settings) -> dict[str, Any]:
    names = sorted({name for form in settings.forms.values() for name in form.fields})
    props: dict[str, Any] = {name: {"type": "string"} for name in names}
    props["email"] = {"type": "string", "format": "email"} if "email" in props else None
    props = {k: v for k, v in props.items() if v is not None}
    props["_gotcha"] = {"type": "string", "description": "Honeypot: leave empty."}
    props["_next"] = {
        "type": "string",
        "format": "uri",
        "description": "Thank-you URL; honoured only when its origin is allowed.",
    }
    return {"type": "object", "properties": props, "additionalProperties": True}


def openapi_document(settings: Settings) -> dict[str, Any]:
    body = {"$ref": "#/components/schemas/Fields"}
    html_303 = {
        "description": "Browser form post accepted: go to the thank-you page.",
        "headers": {"Location": {"schema": {"type": "string"}}},
    }
    intake = {
        "summary": "Submit the form",
        "description": "Validates, screens and stores the submission, then answers "
        "202 (JSON clients) or 303 (browsers, which send Accept: text/html).",
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": body},
                "multipart/form-data": {"schema": body},
                "application/json": {"schema": body},
            },
        },
        "responses": {
            "202": {
                "description": "Accepted and stored; delivery follows.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}
                },
            },
            "303": html_303,
            "400": _problem("Malformed body."),
            "403": _problem("Origin not allowed."),
            "404": _problem("Unknown form."),
            "413": _problem("Body too large."),
            "415": _problem("Unsupported content type."),
            "422": _problem(
                "Invalid fields (type .../invalid-fields, with errors[]) or medical "
                "content refused (type .../medical-content)."
            ),
            "429": _problem("Too many submissions.", retry_after=True),
            "503": _problem("Cannot store right now; nothing was accepted.", retry_after=True),
        },
    }
    form_param = {
        "name": "form_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": sorted(settings.forms)},
    }
    resource = {
        "type": "object",
        "required": ["name", "contact", "purpose"],
        "properties": {k: {"type": "string"} for k in ("name", "contact", "purpose", "href")},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "contact-relay", "version": __version__},
        "paths": {
            "/f/{form_id}": {
                "parameters": [form_param],
                "get": {
                    "summary": "The hosted form page",
                    "responses": {
                        "200": {"description": "HTML form", "content": {"text/html": {}}},
                        "404": _problem("Unknown form."),
                    },
                },
                "post": intake,
            },
            "/healthz": {"get": {"summary": "Alive", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {
                "get": {
                    "summary": "Ready: outbox writable, delivery not held",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "not ready"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text"}},
                }
            },
        },
        "components": {
            "schemas": {
                "Fields": _fields_schema(settings),
                "Accepted": {
                    "type": "object",
                    "required": ["id", "status", "verdict"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"const": "accepted"},
                        "verdict": {"enum": ["clean", "medical", "crisis"]},
                        "resources": {"type": "array", "items": resource},
                        "note": {"type": "string"},
                    },
                },
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "field": {"type": "string"},
                                    "detail": {"type": "string"},
                                    "pointer": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            }
        },
    }
