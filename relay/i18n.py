"""Message catalogs: the visitor's words in English or Spanish.

The English text is the message id; ``relay/locale/<lang>/LC_MESSAGES/messages.po``
holds the translations, read once at start (Babel parses the ``.po`` and compiles it
in memory, so a fresh checkout needs no build step). A text with no translation stays
English: a missing string never breaks a page.

``Text`` is a ``str`` that remembers its message id and parameters, so code far from
the page (the validator, a problem's detail) can say ``Text("Please fill in {label}.",
label=...)`` and still be read as plain English anywhere (JSON, logs never see values)
while a page or a problem in Spanish re-forms it from the Spanish id. Parameters that
are themselves ``Text`` are translated too.

Extraction: ``pybabel extract -F babel.cfg`` uses ``extract_relay`` below for Python
files: the first argument of ``Text(...)``/``N_(...)``, the title and detail of
``problem(...)``/``Problem(...)``/``BadBody(...)``/``Refused(...)`` (literals, names bound
to literals or dicts of literals, and ``translate(lang, text)`` calls), so problem texts
keep their plain English at the call.
"""

from __future__ import annotations

import ast
import functools
import gettext
import io
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"
# Languages with a catalog in this package (English is the source, it needs none).
AVAILABLE = ("en", "es")


class Text(str):
    """An English sentence that knows its message id and parameters."""

    msgid: str
    params: Mapping[str, object]

    def __new__(cls, msgid: str, /, **params: object) -> Text:
        value = msgid.format(**params) if params else msgid
        # A parameter may open the sentence ("{label} is too long"): sentences start capitalised.
        self = super().__new__(cls, value[:1].upper() + value[1:] if params else value)
        self.msgid = msgid
        self.params = params
        return self


def N_(msgid: str) -> str:
    """Marks a literal for extraction; translated later, where the language is known."""
    return msgid


# The name of each language (translated: the staff email says which one, in its own).
LANGUAGE_NAMES = {"en": N_("English"), "es": N_("Spanish")}


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of one language, compiled in memory from its ``.po`` file."""
    if lang == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out, as msgfmt does
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def translate(lang: str, text: str) -> str:
    """``text`` in ``lang``: a ``Text`` is re-formed from its translated id and
    parameters, a plain string is looked up as its own id."""
    if not isinstance(text, Text):
        return translations(lang).gettext(text)
    return sentence(lang, text.msgid, text.params)


def sentence(lang: str, msgid: str, params: Mapping[str, object]) -> str:
    """``translate(lang, Text(msgid, **params))`` without building the ``Text`` (the
    staff emails' sentences, one draft after another)."""
    catalog = translations(lang)
    if not params:
        return catalog.gettext(msgid)
    params = {k: translate(lang, v) if isinstance(v, Text) else v for k, v in params.items()}
    out = catalog.gettext(msgid).format(**params)
    return out[:1].upper() + out[1:]


# --- extraction (pybabel extract -F babel.cfg) ----------------------------------

_MARKERS = {"Text", "N_", "_", "gettext"}
# Calls whose title and detail are texts, and where those two arguments sit.
_PROBLEMS = {"Problem": slice(1, 3), "BadBody": slice(1, 3), "problem": slice(1, 3),
             "Refused": slice(2, 4), "_t": slice(1, 2)}  # fmt: skip


def extract_relay(
    fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str, str, list[str]]]:  # fmt: skip
    """A Babel extraction method for the relay's Python files (see the module doc)."""
    del keywords, comment_tags, options
    tree = ast.parse(fileobj.read())
    for scope in ast.walk(tree):
        if not isinstance(scope, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        bound = _literal_names(scope)
        for node in ast.walk(scope):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id in _MARKERS and node.args:
                args = node.args[:1]
            elif node.func.id in _PROBLEMS:
                args = node.args[_PROBLEMS[node.func.id]]
            else:
                continue
            for arg in args:
                for text in _strings(arg, bound):
                    yield node.lineno, "_", text, []  # "_": a keyword Babel knows


def _literal_names(scope: ast.AST) -> dict[str, list[str]]:
    """Names bound in this scope to a string literal or a dict of string literals."""
    out: dict[str, list[str]] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                found = _strings(node.value, {})
                if found:
                    out[target.id] = found
    return out


def _strings(node: ast.AST, bound: Mapping[str, list[str]]) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Dict):
        return [s for v in node.values if v is not None for s in _strings(v, bound)]
    if isinstance(node, ast.Name):
        return list(bound.get(node.id, []))
    if isinstance(node, ast.Call):  # Text("..."), titles.get(code, "default")
        if isinstance(node.func, ast.Name) and node.func.id in _MARKERS and node.args:
            return _strings(node.args[0], bound)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "translate":
            return _strings(node.args[1], bound) if len(node.args) > 1 else []  # (lang, text)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            return [*_strings(node.func.value, bound),
                    *(s for a in node.args[1:] for s in _strings(a, bound))]  # fmt: skip
    return []
