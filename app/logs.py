"""Logging to stdout: text or one JSON object a line, each line carrying the request id."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from typing import Any, TextIO

from flask import Flask, Response, g, has_request_context, request

EXTRAS = ("event", "sub", "reason", "status")
# What we accept from X-Request-ID (fullmatch: `$` alone would let a trailing newline through);
# anything else is replaced, so a client cannot forge log lines or split the response header.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Control characters (C0, DEL, C1) and Unicode's line and paragraph separators: any of them in a
# value (a provider's `sub`, a reason quoting a response) could end a text line or rewrite a terminal.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(value: object) -> str:
    """`value` as text that cannot start a new log line: each control character becomes its Python
    escape (\\n, \\r, \\x1b, \\u2028)."""
    return CONTROL.sub(lambda match: repr(match[0])[1:-1], str(value))


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra={...}` keys a log call set (event, sub, reason, status)."""
    return {k: getattr(record, k) for k in EXTRAS if getattr(record, k, None) is not None}


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request's id ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class TextFormatter(logging.Formatter):
    """One line a record: the message and every extra field escaped by one_line(). A traceback
    follows on lines of its own, each indented, so none of them reads as a record either."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", "-")
        line = f"{self.formatTime(record)} {record.levelname} {record.name} [{request_id}] {record.getMessage()}"
        extras = " ".join(f"{k}={v}" for k, v in extra_fields(record).items())
        line = one_line(f"{line} {extras}" if extras else line)
        if record.exc_info:
            line += "".join(f"\n    {one_line(part)}" for part in self.formatException(record.exc_info).splitlines())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line; an exception's traceback stays inside its line.

    gunicorn.conf.py formats gunicorn's own lines with a subclass of this one.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update(self.fields(record))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """What this line adds to the common keys (gunicorn.conf.py adds its access-log fields)."""
        return extra_fields(record)


class AppHandler(logging.StreamHandler[TextIO]):
    """The app's stdout handler, marked so that the next app created in this process replaces it."""

    _app_handler = True


def init_logging(app: Flask) -> None:
    """One stdout handler on the root logger (replacing ours from an earlier app), and the request id."""
    handler = AppHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if app.config["LOG_FORMAT"] == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_app_handler", False)]
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"].upper())
    app.logger.handlers.clear()  # propagate to the root handler; Flask's own would print twice

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response
