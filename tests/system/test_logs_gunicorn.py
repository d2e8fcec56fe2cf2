"""The logs under gunicorn (the Dockerfile's command): with LOG_FORMAT=json every line, gunicorn's own
included, is one JSON object with a request id and an ISO 8601 UTC time; the text access log has the
time and the request id; health checks and scrapes stay out of the access log unless LOG_PROBES=true;
an authorization code in a query string never reaches the log.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

from ..app.test_logs import ISO_UTC, json_lines

CLF_TIME = r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"  # gunicorn's %(t)s


def wait_for_log(server, needle: str, seconds: float = 5) -> str:
    deadline = time.monotonic() + seconds
    while needle not in server.logs():
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not in the log:\n{server.logs()}")
        time.sleep(0.05)
    return server.logs()


@pytest.mark.slow
def test_gunicorn_json_every_line(gunicorn_factory, local_provider):
    """gunicorn's own lines (master, workers, access log) are JSON too, with the request id and an
    ISO 8601 UTC time; with LOG_PROBES=true the health checks are logged as well."""
    server = gunicorn_factory(LOG_FORMAT="json", GOOGLE_CLIENT_ID="json-client", GOOGLE_CLIENT_SECRET="json-secret",
                              GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url, LOG_PROBES="true")
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
    assert all(ISO_UTC.fullmatch(e["time"]) for e in entries), [e["time"] for e in entries]
    assert any(e["logger"] == "gunicorn.error" and "Booting worker" in e["message"] for e in entries)
    access = {e["request_id"]: e for e in entries if e["logger"] == "gunicorn.access"}
    assert access["json-404"]["status"] == 404 and access["json-404"]["path"] == "/nope"
    assert access["json-refused"]["status"] == 400 and access[generated]["path"] == "/healthz"
    refused_log = [e for e in entries if e.get("event") == "sign_in_refused"]
    assert refused_log and refused_log[0]["request_id"] == "json-refused"
    assert "secret-code" not in text, "a query string (the authorization code) reached the log"


@pytest.mark.slow
def test_gunicorn_text_access_log_has_the_time_and_the_request_id(app_server):
    requests.get(app_server.url + "/", headers={"X-Request-ID": "text-access-1"}, timeout=5)
    text = wait_for_log(app_server, "request_id=text-access-1")
    line = rf'^127\.0\.0\.1 {CLF_TIME} "GET / HTTP/1\.1" 200 .* request_id=text-access-1$'
    assert re.search(line, text, re.MULTILINE), text


@pytest.mark.slow
def test_gunicorn_leaves_probes_out_of_the_access_log(app_server):
    """LOG_PROBES unset: load balancers' checks and scrapes every few seconds would drown the log."""
    for path in ("/healthz", "/readyz", "/metrics"):
        requests.get(app_server.url + path, headers={"X-Request-ID": f"probe{path.replace('/', '-')}"}, timeout=5)
    for attempt in range(2):  # each worker has logged a later request: a probe's line would be in by now
        requests.get(app_server.url + "/nope", headers={"X-Request-ID": f"after-probes-{attempt}"}, timeout=5)
    text = wait_for_log(app_server, "request_id=after-probes-1")
    wait_for_log(app_server, "request_id=after-probes-0")
    assert "request_id=probe-" not in text and '"GET /healthz' not in text and '"GET /readyz' not in text
