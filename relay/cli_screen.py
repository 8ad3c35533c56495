"""``contact-relay screen``: the verdict for one text, or for JSON lines.

JSON-lines contract (public: outside checks rely on it): each input object has
``message`` and optionally ``id``, ``name``, ``email``, ``phone``, ``subject``; each
output line is
``{"id", "verdict", "reasons": [{"category", "start", "end"}]}`` (a reason found in a
field other than ``message`` also names its ``field``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from relay.screening import Lexicon, Reason, Screening, load_lexicon, screen_fields

SCREENED_KEYS = ("message", "subject", "name", "email", "phone")


def _reason(reason: Reason) -> dict[str, Any]:
    out: dict[str, Any] = {"category": reason.category, "start": reason.start, "end": reason.end}
    if reason.field != "message":
        out["field"] = reason.field
    return out


def screen_record(record: dict[str, Any], lexicon: Lexicon) -> dict[str, Any]:
    fields = {k: record[k] for k in SCREENED_KEYS if isinstance(record.get(k), str)}
    result = screen_fields(fields, lexicon)
    return {
        "id": record.get("id"),
        "verdict": result.verdict,
        "reasons": [_reason(r) for r in result.reasons],
    }


def screen_lines(lines: Iterable[str], lexicon: Lexicon, out: TextIO, err: TextIO) -> int:
    """Screen each JSON line; a bad line is reported on ``err`` by number and skipped."""
    bad = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("message"), str):
                raise ValueError("needs a JSON object with a string 'message'")
        except ValueError as exc:
            reason = "not JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
            print(f"line {number}: skipped: {reason}", file=err)
            bad += 1
            continue
        out.write(json.dumps(screen_record(record, lexicon), ensure_ascii=False) + "\n")
    return 1 if bad else 0


def describe(result: Screening, text: str) -> str:
    lines = [f"verdict: {result.verdict}"]
    if result.show_crisis_resources:
        lines.append("crisis resources: shown to the visitor")
    for r in result.reasons:
        lines.append(f"  {r.category:<18} {r.start}-{r.end}  {text[r.start : r.end]!r}")
    return "\n".join(lines)


def run_screen(text: str | None, jsonl: str | None, lexicon: Lexicon | None = None) -> int:
    lexicon = lexicon or load_lexicon()
    if jsonl is not None:
        if jsonl == "-":
            return screen_lines(sys.stdin, lexicon, sys.stdout, sys.stderr)
        with open(jsonl, encoding="utf-8") as fh:
            return screen_lines(fh, lexicon, sys.stdout, sys.stderr)
    if text is None:
        print("contact-relay screen: give TEXT or --jsonl PATH", file=sys.stderr)
        return 2
    print(describe(screen_fields({"message": text}, lexicon), text))
    return 0
