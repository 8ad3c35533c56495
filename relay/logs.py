"""JSON log lines: one object a line, with ids, outcomes and codes only.

Callers pass metadata through ``extra=``; nothing here ever formats a field value,
and the formatter drops exception text from third-party code (which might quote a
request) in favour of the exception's class name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The class only: exception messages and tracebacks can quote request data.
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str, ensure_ascii=False)


class ShutdownCancels(logging.Filter):
    """uvicorn reports a request it cut off at the end of the graceful shutdown (a slow
    client still sending) as an error with a CancelledError. Nothing failed: the
    request was never acknowledged, so nothing is lost. Say so at info level."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[0] if record.exc_info else None
        if exc is not None and issubclass(exc, asyncio.CancelledError):
            record.msg, record.args, record.exc_info = "request cut off at shutdown", (), None
            record.levelno, record.levelname = logging.INFO, "INFO"
        elif isinstance(record.msg, str) and "timeout graceful shutdown exceeded" in record.msg:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints path?query; the relay logs requests itself.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, ShutdownCancels) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(ShutdownCancels())
