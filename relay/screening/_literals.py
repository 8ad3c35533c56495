"""What text every match of a regular expression must contain, read from the pattern:
a cheap test (str.find, in C) that tells when a pattern need not be run at all.

Most identifier patterns have trigger words (identifiers.tsv), but the formatted SSN,
the dose, the ICD-10 code and the MBI are tried around every digit, and the first three
cost about two fifths of the identifier pass on 1 KB of varied text. Yet a dose needs
"mg", "ml", "units"..., an SSN a "-", an ICD-10 code a ".": where the text around the
digits has none, no match is possible, and skipping the pattern changes nothing. Ordinary
prose mostly has them (the pass costs the same); text full of numbers mostly not (2 KB of
repeated dates and ids: 414 to 157 us; of repeated doses: 184 to 85 us).

The requirements come from the parsed pattern (``re._parser``, the standard library's
own parser; private, so any surprise in its shape gives no requirement, which is always
correct, only slower). Only parts every match consumes count: items of the top-level
sequence, groups, and repeats of at least one; each literal there, and each alternation
whose every branch starts with literal text (then one of those texts), is required.
Assertions are left out: they consume nothing. Case-insensitive patterns get none.
"""

from __future__ import annotations

import re
from typing import Any

Requirement = tuple[str, ...]  # at least one of these strings must occur


def requirements(pattern: re.Pattern[str]) -> tuple[Requirement, ...]:
    """Strings that must occur within any span the pattern matches (each requirement:
    one of its strings); empty when nothing can be said."""
    if pattern.flags & re.IGNORECASE:
        return ()
    try:
        from re import _constants as c
        from re import _parser

        tree = _parser.parse(pattern.pattern, pattern.flags)
        found: list[Requirement] = []
        _walk(list(tree), c, found)
    except Exception:  # a Python whose parser differs: no requirement, never a wrong one
        return ()
    return tuple(dict.fromkeys(found))


def _walk(items: list[tuple[Any, Any]], c: Any, found: list[Requirement]) -> None:
    for op, av in items:
        if op is c.LITERAL:
            found.append((chr(av),))
        elif op is c.SUBPATTERN:
            _group, add_flags, _del_flags, body = av
            if not add_flags & re.IGNORECASE:
                _walk(list(body), c, found)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and av[0] >= 1:
            _walk(list(av[2]), c, found)
        elif op is c.ATOMIC_GROUP:
            _walk(list(av), c, found)
        elif op is c.BRANCH:
            starts = [_leading_text(list(branch), c) for branch in av[1]]
            if all(starts):
                found.append(tuple(dict.fromkeys(starts)))


def _leading_text(items: list[tuple[Any, Any]], c: Any) -> str:
    """The literal characters a branch starts with ("" when it starts otherwise)."""
    text = ""
    for op, av in items:
        if op is not c.LITERAL:
            break
        text += chr(av)
    return text


def possible(text: str, start: int, end: int, needs: tuple[Requirement, ...]) -> bool:
    """Whether ``text[start:end]`` holds one string of every requirement."""
    return all(any(text.find(s, start, end) >= 0 for s in need) for need in needs)
