"""Logs: LOG_FORMAT=json gives one JSON object a line, with an ISO 8601 UTC time and every `extra`
field; every line carries a request id; X-Request-ID is echoed when it is safe and replaced when it is
not; probe lines (/healthz, /readyz, /metrics) are filtered out unless LOG_PROBES=true; no value from a
provider or a request can start a new log line. (The same under gunicorn: tests/system/test_logs_gunicorn.py.)"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime

import pytest

from app.logs import JsonFormatter, ProbeFilter, RequestIdFilter, TextFormatter

from ..helpers import AuthActions

GENERATED = re.compile(r"[0-9a-f]{32}")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def json_lines(text: str) -> list[dict]:
    """Every non-empty line must parse as one JSON object."""
    entries = []
    for line in text.splitlines():
        if line.strip():
            entry = json.loads(line)  # raises on a line that is not JSON
            assert isinstance(entry, dict), line
            entries.append(entry)
    return entries


def test_json_log_lines_carry_the_request_id(capsys, make_app, google):
    json_app = make_app(LOG_FORMAT="json")  # in the test: the handler binds the sys.stdout capsys set up
    client = json_app.test_client()
    auth = AuthActions(client, google)
    params = auth.start()
    google.codes.add("4/code")
    client.get("/callback", query_string={"code": "4/code", "state": params["state"]},
               headers={"X-Request-ID": "req-sign-in-1"})
    entries = json_lines(capsys.readouterr().out)
    signed_in = [e for e in entries if e.get("event") == "sign_in"]
    assert len(signed_in) == 1, entries
    assert signed_in[0]["request_id"] == "req-sign-in-1"
    assert signed_in[0]["sub"] == google.sub and signed_in[0]["level"] == "INFO"
    assert all("request_id" in entry and entry["time"] for entry in entries)


def test_json_keeps_a_traceback_inside_its_line(capsys, make_app):
    json_app = make_app(LOG_FORMAT="json")
    with json_app.test_request_context(headers={"X-Request-ID": "boom-1"}):
        json_app.preprocess_request()
        try:
            raise ValueError("line one\nline two")
        except ValueError:
            logging.getLogger("app.test").exception("it broke")
    (entry,) = [e for e in json_lines(capsys.readouterr().out) if e["logger"] == "app.test"]
    assert entry["request_id"] == "boom-1" and "line two" in entry["exc_info"]


def test_text_format_names_the_request_id(capsys, make_app):
    app = make_app(LOG_FORMAT="text")
    with app.test_request_context(headers={"X-Request-ID": "text-1"}):
        app.preprocess_request()
        logging.getLogger("app.test").warning("hello", extra={"event": "test_event"})
    assert re.search(r"WARNING app\.test \[text-1\] hello event=test_event$", capsys.readouterr().out, re.MULTILINE)


def test_formatter_outside_a_request():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "no request here", None, None)
    RequestIdFilter().filter(record)
    assert json.loads(JsonFormatter().format(record))["request_id"] == "-"
    del record.request_id  # a record no filter saw (gunicorn's own, in the master)
    assert json.loads(JsonFormatter().format(record))["request_id"] == "-"


def test_json_time_is_iso_8601_utc_to_the_millisecond():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "at a known time", None, None)
    record.created, record.msecs = 1796106442.41, 410.0  # 2026-12-01 06:27:22.410 UTC
    entry = json.loads(JsonFormatter().format(record))
    assert entry["time"] == "2026-12-01T06:27:22.410Z"
    now = json.loads(JsonFormatter().format(logging.LogRecord("x", logging.INFO, __file__, 1, "now", None, None)))
    assert ISO_UTC.fullmatch(now["time"])
    assert abs(datetime.fromisoformat(now["time"]).timestamp() - time.time()) < 5  # UTC, not local time
    assert list(entry)[:5] == ["time", "level", "logger", "message", "request_id"]


def test_every_extra_field_is_logged(capsys, make_app):
    """Not a fixed list: whatever a log call passes in `extra` (a RISC event's jti, a count...)."""
    extra = {"event": "risc_duplicate", "jti": "jti-1", "count": 3, "nested": {"a": [1, 2]},
             "when": datetime(2026, 12, 1, 6, 27, tzinfo=UTC), "empty": None}
    for log_format in ("json", "text"):
        app = make_app(LOG_FORMAT=log_format)
        with app.test_request_context(headers={"X-Request-ID": f"extra-{log_format}"}):
            app.preprocess_request()
            logging.getLogger("app.test").info("with extras", extra=extra)
        out = capsys.readouterr().out
        if log_format == "json":
            (entry,) = [e for e in json_lines(out) if e["logger"] == "app.test"]
            assert entry["request_id"] == "extra-json" and entry["jti"] == "jti-1" and entry["count"] == 3
            assert entry["nested"] == {"a": [1, 2]} and entry["when"] == "2026-12-01T06:27:00+00:00"
            assert entry["event"] == "risc_duplicate" and entry["empty"] is None
        else:
            assert re.search(r"\[extra-text\] with extras event=risc_duplicate jti=jti-1 count=3 "
                             r"nested=\{'a': \[1, 2\]\} when=2026-12-01 06:27:00\+00:00$", out, re.MULTILINE), out


def access_record(path: str) -> logging.LogRecord:
    """An access-log record as gunicorn makes it: the format, and the request's atoms as args."""
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '"%(m)s %(U)s"', None, None)
    record.args = {"m": "GET", "U": path}
    return record


@pytest.mark.parametrize(("path", "logged"), [
    ("/healthz", False), ("/readyz", False), ("/metrics", False),
    ("/", True), ("/profile", True), ("/healthz/", True), ("/static/style.css", True),
])
def test_probe_filter_drops_health_checks_and_scrapes(path, logged):
    assert ProbeFilter().filter(access_record(path)) is logged
    assert ProbeFilter().filter(logging.LogRecord("gunicorn.error", logging.INFO, __file__, 1, "hi", None, None))


@pytest.mark.parametrize(("setting", "filtered"), [(None, True), ("false", True), ("true", False)])
def test_log_probes_decides_the_filter_on_gunicorns_access_log(make_app, setting, filtered):
    access = logging.getLogger("gunicorn.access")
    overrides = {} if setting is None else {"LOG_PROBES": setting == "true"}
    for _ in range(2):  # a second app in the process replaces the filter, never stacks it
        make_app(**overrides)
        probes = [f for f in access.filters if isinstance(f, ProbeFilter)]
        assert len(probes) == (1 if filtered else 0)
    make_app(LOG_PROBES=True)  # leave the logger as the next test expects it
    assert not [f for f in access.filters if isinstance(f, ProbeFilter)]


def test_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123_DEF.4:5"})
    assert response.headers["X-Request-ID"] == "abc-123_DEF.4:5"


def test_request_id_is_generated_when_absent(client):
    first = client.get("/").headers["X-Request-ID"]
    second = client.get("/nope").headers["X-Request-ID"]
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second


@pytest.mark.parametrize("hostile", [
    "abc\n",  # a trailing newline slips past a `^...$` pattern
    "abc\r\nX-Injected: 1",
    "forged\n2026-01-01 INFO fake log line",
    "x" * 129,
    "has space",
    '"quoted"',
    "<script>",
    "",
])
def test_hostile_request_id_is_replaced(client, hostile):
    # environ_overrides: the test client's Headers would refuse a newline before the app saw it
    response = client.get("/healthz", environ_overrides={"HTTP_X_REQUEST_ID": hostile})
    assert response.status_code == 200
    assert GENERATED.fullmatch(response.headers["X-Request-ID"]), response.headers["X-Request-ID"]


def test_longest_accepted_request_id(client):
    assert client.get("/healthz", headers={"X-Request-ID": "r" * 128}).headers["X-Request-ID"] == "r" * 128


# --------------------------------------------------------------------------- hostile values

HOSTILE = "evil\n2026-01-01 00:00:00,000 INFO app.auth [-] forged\r\x1b[31mred\x1b[0m\u2028end"
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+ \[[^\]]+\] ")


def hostile_record(message: str = "refused %s") -> logging.LogRecord:
    record = logging.LogRecord("app.auth", logging.WARNING, __file__, 1, message, (HOSTILE,), None)
    record.sub, record.reason, record.event = HOSTILE, f"provider said {HOSTILE}", "sign_in_refused"
    record.request_id = "-"
    return record


def test_text_format_escapes_control_characters_in_message_and_fields():
    line = TextFormatter().format(hostile_record())
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    escaped = r"evil\n2026-01-01 00:00:00,000 INFO app.auth [-] forged\r\x1b[31mred\x1b[0m\u2028end"
    assert line.endswith(f"refused {escaped} event=sign_in_refused sub={escaped} reason=provider said {escaped}")


def test_text_format_indents_a_traceback_that_quotes_a_value():
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        record = hostile_record()
        record.exc_info = sys.exc_info()
    first, *rest = TextFormatter().format(record).split("\n")
    assert LOG_LINE.match(first) and rest and all(line.startswith("    ") for line in rest), rest
    assert not any("\r" in line or "\x1b" in line for line in rest)


def test_json_format_keeps_hostile_values_on_one_line():
    line = JsonFormatter().format(hostile_record())
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    entry = json.loads(line)
    assert entry["sub"] == HOSTILE and entry["message"] == f"refused {HOSTILE}"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_hostile_provider_values_never_start_a_log_line(capsys, make_app, google, log_format):
    """A sign-in whose sub and name carry newlines and an ANSI escape: every line is still one record."""
    client = make_app(LOG_FORMAT=log_format).test_client()
    google.sub = HOSTILE
    google.userinfo_extra = {"name": HOSTILE}
    AuthActions(client, google).sign_in()
    client.get("/profile")
    client.get("/callback", query_string={"state": HOSTILE, "code": "x", "error": HOSTILE})
    out = capsys.readouterr().out
    lines = [line for line in out.split("\n") if line]
    assert lines and "\r" not in out and "\x1b" not in out and "\u2028" not in out
    if log_format == "json":
        assert any(e.get("sub") == HOSTILE for e in json_lines(out)), out
    else:
        assert all(LOG_LINE.match(line) for line in lines), lines
        assert any(r"sub=evil\n2026" in line for line in lines), lines
