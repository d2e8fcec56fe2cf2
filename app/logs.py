"""Logging to stdout: text or one JSON object a line, each line carrying the request id."""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

# Every attribute the logging module itself sets on a record (3.12 adds taskName, the formatters
# message and asctime); any other attribute came from a log call's `extra={...}` and is logged.
STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
FIRST = ("event", "sub", "reason", "status")  # a text line's extra fields start with these
# What we accept from X-Request-ID (fullmatch: `$` alone would let a trailing newline through);
# anything else is replaced, so a client cannot forge log lines or split the response header.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Control characters (C0, DEL, C1) and Unicode's line and paragraph separators: any of them in a
# value (a provider's `sub`, a reason quoting a response) could end a text line or rewrite a terminal.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Load balancers' health checks and Prometheus scrapes, every few seconds: out of the access log
# unless LOG_PROBES=true. gunicorn's access log only (the app logs nothing for them).
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def one_line(value: object) -> str:
    """`value` as text that cannot start a new log line: each control character becomes its Python
    escape (\\n, \\r, \\x1b, \\u2028)."""
    return CONTROL.sub(lambda match: repr(match[0])[1:-1], str(value))


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Every `extra={...}` key a log call set, request_id aside: event, sub, reason and status first."""
    extras = {k: v for k, v in vars(record).items() if k not in STANDARD | {"request_id"} and not k.startswith("_")}
    return {**{k: extras.pop(k) for k in FIRST if k in extras}, **extras}


def iso_time(record: logging.LogRecord) -> str:
    """When the record was made, in ISO 8601 UTC to the millisecond: 2026-12-01T06:27:22.410Z."""
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(record.created))}.{int(record.msecs):03d}Z"


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request's id ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class ProbeFilter(logging.Filter):
    """For gunicorn's access log: drops the lines of /healthz, /readyz and /metrics (PROBE_PATHS).
    gunicorn passes the request's atoms as the record's args; `U` is the path without its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        return not (isinstance(atoms, Mapping) and atoms.get("U") in PROBE_PATHS)


class TextFormatter(logging.Formatter):
    """One line a record: the message and every extra field (but those set to None) escaped by one_line(). A traceback
    follows on lines of its own, each indented, so none of them reads as a record either."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", "-")
        line = f"{self.formatTime(record)} {record.levelname} {record.name} [{request_id}] {record.getMessage()}"
        extras = " ".join(f"{k}={v}" for k, v in extra_fields(record).items() if v is not None)
        line = one_line(f"{line} {extras}" if extras else line)
        if record.exc_info:
            line += "".join(f"\n    {one_line(part)}" for part in self.formatException(record.exc_info).splitlines())
        return line


class JsonFormatter(BaseJsonFormatter):
    """One JSON object a line (python-json-logger): time (ISO 8601 UTC), level, logger, message,
    request_id, then every extra field; an exception's traceback stays inside its line (exc_info).
    JSON escapes every control character, and ensure_ascii the line and paragraph separators.

    gunicorn.conf.py formats gunicorn's own lines with a subclass of this one.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         reserved_attrs=sorted(STANDARD), json_ensure_ascii=True)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        if log_data.get("request_id") is None:  # a record no RequestIdFilter saw: gunicorn's, a library's
            log_data["request_id"] = "-"


class AppHandler(logging.StreamHandler[TextIO]):
    """The app's stdout handler, marked so that the next app created in this process replaces it."""

    _app_handler = True


def init_logging(app: Flask) -> None:
    """One stdout handler on the root logger (replacing ours from an earlier app), the request id, and
    (LOG_PROBES false) the probe filter on gunicorn's access log, which gunicorn sets up before the app."""
    handler = AppHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if app.config["LOG_FORMAT"] == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_app_handler", False)]
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"].upper())
    app.logger.handlers.clear()  # propagate to the root handler; Flask's own would print twice
    access = logging.getLogger("gunicorn.access")
    access.filters = [f for f in access.filters if not isinstance(f, ProbeFilter)]
    if not app.config["LOG_PROBES"]:
        access.addFilter(ProbeFilter())

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.environ.get("HTTP_X_REQUEST_ID", "")  # the X-Request-ID header, read directly
        g.request_id = incoming if REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)  # 32 hex digits

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers.add("X-Request-ID", g.get("request_id", ""))  # ours alone: added, nothing to replace
        return response
