"""Logging to stdout: text or one JSON object a line, each line carrying the request id."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid

from flask import Flask, Response, g, has_request_context, request

EXTRAS = ("event", "sub", "reason", "status")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # what we accept from X-Request-ID


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname} {record.name} [{record.request_id}] {record.getMessage()}"
        extras = " ".join(f"{k}={getattr(record, k)}" for k in EXTRAS if getattr(record, k, None) is not None)
        line = f"{line} {extras}" if extras else line
        return f"{line}\n{self.formatException(record.exc_info)}" if record.exc_info else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": record.request_id,
        }
        entry.update({k: getattr(record, k) for k in EXTRAS if getattr(record, k, None) is not None})
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def init_logging(app: Flask) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if app.config["LOG_FORMAT"] == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_app_handler", False)]
    handler._app_handler = True
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"].upper())
    app.logger.handlers.clear()  # propagate to the root handler; Flask's own would print twice

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response
