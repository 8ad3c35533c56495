"""The Jinja2 environments the pages render in: one per language, autoescaped.

Built through Starlette's ``Jinja2Templates``; the loader looks in the clinic's
``[pages] templates_dir`` first, then in the built-in ``relay/templates``. Texts are
translated with Jinja2's i18n extension (``_()``, ``ngettext()``) over the language's
catalog (relay.i18n), and ``|tr`` translates a value that is itself an English message
id (a validator's sentence, a default configuration text).

A template that fails while serving is logged by its name and the error's class only
(values may be health data) and the built-in template of the same name is used.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.templating import Jinja2Templates

from relay import i18n
from relay.submission import label

log = logging.getLogger("relay.templating")

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"


class Renderer:
    """One environment per language over the override folder (if any) and the built-in
    templates, plus a built-in-only one per language to fall back on."""

    def __init__(
        self,
        templates_dir: Path | None,
        *,
        filters: Mapping[str, Callable[..., Any]],
        globals: Mapping[str, Any],  # Jinja2's own word for them
    ) -> None:
        self.templates_dir = templates_dir
        self.filters = filters
        self.globals = globals
        self._envs: dict[tuple[str, bool], jinja2.Environment] = {}

    def env(self, lang: str, *, builtin: bool = False) -> jinja2.Environment:
        key = (lang, builtin or self.templates_dir is None)
        if key not in self._envs:
            folders = [BUILTIN_TEMPLATES]
            if not key[1] and self.templates_dir is not None:
                folders.insert(0, self.templates_dir)
            self._envs[key] = Jinja2Templates(env=self._environment(folders, lang)).env
        return self._envs[key]

    def render(
        self, name: str, lang: str, context: Mapping[str, Any], *, fallback: bool = True
    ) -> str:
        try:
            return self.env(lang).get_template(name).render(context)
        except jinja2.TemplateError as exc:
            if self.templates_dir is None or not fallback:
                raise
            log.error("template failed", extra={"template": name, "error": type(exc).__name__})
            return self.env(lang, builtin=True).get_template(name).render(context)

    def _environment(self, folders: list[Path], lang: str) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in folders]),
            autoescape=True,
            undefined=jinja2.StrictUndefined,  # a misspelt name fails check_templates
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        catalog = i18n.translations(lang)
        env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
        env.filters.update(self.filters)
        env.filters["tr"] = functools.partial(i18n.translate, lang)
        env.filters["field_label"] = lambda name: i18n.translate(lang, label(name)).capitalize()
        env.globals.update(self.globals)
        return env
