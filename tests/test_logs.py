"""Issue 5 logs: LOG_FORMAT=json gives one JSON object a line, every line carries a request id,
and X-Request-ID is echoed when it is safe and replaced when it is not."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

import pytest
import requests

from app.logs import JsonFormatter, RequestIdFilter

from .helpers import AuthActions

GENERATED = re.compile(r"[0-9a-f]{32}")


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


# --------------------------------------------------------------------------- under gunicorn


def wait_for_log(server, needle: str, seconds: float = 5) -> str:
    deadline = time.monotonic() + seconds
    while needle not in server.logs():
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not in the log:\n{server.logs()}")
        time.sleep(0.05)
    return server.logs()


@pytest.mark.slow
def test_gunicorn_json_every_line(gunicorn_factory, local_provider):
    """gunicorn's own lines (master, workers, access log) are JSON too, with the request id."""
    server = gunicorn_factory(LOG_FORMAT="json", GOOGLE_CLIENT_ID="json-client", GOOGLE_CLIENT_SECRET="json-secret",
                              GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url)
    requests.get(server.url + "/nope?code=secret-code", headers={"X-Request-ID": "json-404"}, timeout=5)
    refused = requests.get(server.url + "/callback?state=bogus&code=secret-code",
                           headers={"X-Request-ID": "json-refused"}, timeout=5)
    assert refused.status_code == 400 and refused.headers["X-Request-ID"] == "json-refused"
    generated = requests.get(server.url + "/healthz", timeout=5).headers["X-Request-ID"]
    for request_id in ("json-404", "json-refused"):  # two workers: their access lines come in any order
        wait_for_log(server, f'"request_id": "{request_id}", "method"')
    text = wait_for_log(server, generated)

    entries = json_lines(text)
    assert all("request_id" in e and "level" in e and "message" in e for e in entries)
    assert any(e["logger"] == "gunicorn.error" and "Booting worker" in e["message"] for e in entries)
    access = {e["request_id"]: e for e in entries if e["logger"] == "gunicorn.access"}
    assert access["json-404"]["status"] == 404 and access["json-404"]["path"] == "/nope"
    assert access["json-refused"]["status"] == 400 and access[generated]["path"] == "/healthz"
    refused_log = [e for e in entries if e.get("event") == "sign_in_refused"]
    assert refused_log and refused_log[0]["request_id"] == "json-refused"
    assert "secret-code" not in text, "a query string (the authorization code) reached the log"


@pytest.mark.slow
def test_gunicorn_text_access_log_has_the_request_id(app_server):
    requests.get(app_server.url + "/healthz", headers={"X-Request-ID": "text-access-1"}, timeout=5)
    text = wait_for_log(app_server, "request_id=text-access-1")
    assert re.search(r'"GET /healthz HTTP/1\.1" 200 .* request_id=text-access-1$', text, re.MULTILINE)


# --------------------------------------------------------------------------- hostile values

HOSTILE = "evil\n2026-01-01 00:00:00,000 INFO app.auth [-] forged\r\x1b[31mred\x1b[0m\u2028end"
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+ \[[^\]]+\] ")


def hostile_record(message: str = "refused %s") -> logging.LogRecord:
    record = logging.LogRecord("app.auth", logging.WARNING, __file__, 1, message, (HOSTILE,), None)
    record.sub, record.reason, record.event = HOSTILE, f"provider said {HOSTILE}", "sign_in_refused"
    record.request_id = "-"
    return record


def test_text_format_escapes_control_characters_in_message_and_fields():
    from app.logs import TextFormatter

    line = TextFormatter().format(hostile_record())
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    escaped = r"evil\n2026-01-01 00:00:00,000 INFO app.auth [-] forged\r\x1b[31mred\x1b[0m\u2028end"
    assert line.endswith(f"refused {escaped} event=sign_in_refused sub={escaped} reason=provider said {escaped}")


def test_text_format_indents_a_traceback_that_quotes_a_value():
    from app.logs import TextFormatter

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
