"""Prometheus metrics (flask_google_signin/metrics.py): routes labelled by endpoint, sign-in outcomes,
provider calls, store timings and errors, session ends by cause, security events, rate limits and
refreshes counted; served by gunicorn's master at METRICS_PORT and summed over every worker
(gunicorn.conf.py), never on the app's port.

The fast tests read prometheus_client's default registry around what they do (its counts grow over the
whole test run, so each test looks at differences); the slow ones scrape a real gunicorn.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app.config import ConfigError, load_settings
from flask_google_signin import testing
from flask_google_signin.accounts.risc import LOG_ONLY, Event, TransmitterUnavailable, apply, transmitter
from flask_google_signin.oidc.http import endpoint_name

from ..calendar_fakes import FakeCalendar, connect
from ..helpers import ROOT, AuthActions, docker_cmd, free_port, server_env
from ..servers import TIMEOUT, Browser

P = "google_signin_"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(P + name, labels) or 0.0


class Counted:
    """Samples of the default registry before a block; `.delta(name, **labels)` after it."""

    def __init__(self) -> None:
        self.before = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for family in REGISTRY.collect() if family.name.startswith(P) for s in family.samples}

    def delta(self, name: str, **labels: str) -> float:
        return value(name, **labels) - self.before.get((P + name, tuple(sorted(labels.items()))), 0.0)


# --------------------------------------------------------------------------- labels (fast)


def test_routes_are_flask_endpoints_never_paths(client):
    counted = Counted()
    assert client.get("/").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/no/such/page/4242").status_code == 404
    assert client.get("/metrics").status_code == 404  # never on the app's port
    assert client.get("/healthz").status_code == 200
    assert counted.delta("http_requests_total", route="pages.home", status="200") == 1
    assert counted.delta("http_requests_total", route="static", status="200") == 1
    assert counted.delta("http_requests_total", route="unknown", status="404") == 2
    assert counted.delta("http_requests_total", route="health.healthz", status="200") == 1
    routes = {s.labels["route"] for family in REGISTRY.collect() for s in family.samples if "route" in s.labels}
    assert not [r for r in routes if "/" in r], routes


def test_sign_in_outcomes_and_provider_calls_by_endpoint(client, auth, google):
    counted = Counted()
    assert auth.callback({**auth.start(), "state": "forged"}).status_code == 400
    assert counted.delta("signins_total", outcome="refused", reason="state_invalid") == 1
    assert auth.callback(auth.start(), error="access_denied").status_code == 403
    assert counted.delta("signins_total", outcome="refused", reason="access_denied") == 1

    assert auth.sign_in().status_code == 302
    assert counted.delta("signins_total", outcome="success", reason="none") == 1
    for endpoint in ("token", "userinfo", "jwks", "discovery"):
        assert counted.delta("provider_request_duration_seconds_count", endpoint=endpoint) >= 1, endpoint
    assert counted.delta("provider_request_duration_seconds_count", endpoint="other") == 0
    assert counted.delta("provider_request_duration_seconds_bucket", endpoint="token", le="+Inf") >= 1

    auth.logout()
    assert counted.delta("provider_request_duration_seconds_count", endpoint="revoke") == 1
    assert counted.delta("sessions_ended_total", cause="sign_out") == 1


def test_a_store_that_fails_is_timed_and_counted(app, auth, google, monkeypatch):
    records = testing.store(app)
    params = auth.start()
    counted = Counted()

    def full(*args, **kwargs):
        raise records.store_errors[0]("the store is full")

    monkeypatch.setattr(records, "put", full)  # the store itself fails, under the timing
    assert auth.callback(params).status_code == 503
    assert counted.delta("signins_total", outcome="failed", reason="store_unavailable") == 1
    assert counted.delta("session_store_errors_total", operation="put") == 1
    assert counted.delta("session_store_duration_seconds_count", operation="put") == 1
    assert counted.delta("session_store_duration_seconds_count", operation="pending") == 1  # the pending sign-in
    assert REGISTRY.get_sample_value(P + "session_store_errors_total", {"operation": "ping"}) == 0  # exported at 0


def test_expiry_and_sign_out_elsewhere_and_everywhere_are_causes(make_app, google, monkeypatch):
    from flask_google_signin.web import guard as sessions

    app = make_app(GOOGLE_OFFLINE_ACCESS=True)
    devices = [AuthActions(app.test_client(), google) for _ in range(4)]
    for device in devices:
        assert device.sign_in().status_code == 302
    counted = Counted()
    this, other, *_ = devices
    handle = re.findall(r'name="session" value="([^"]+)"', this.client.get("/sessions").get_data(as_text=True))[0]
    this.client.post("/sessions/end", data={"session": handle, "csrf_token": this.csrf_token()})
    assert counted.delta("sessions_ended_total", cause="elsewhere") == 1
    this.client.post("/sessions/others", data={"csrf_token": this.csrf_token()})
    assert counted.delta("sessions_ended_total", cause="elsewhere") == 3
    other.sign_in()
    this.client.post("/sessions/all", data={"csrf_token": this.csrf_token()})
    assert counted.delta("sessions_ended_total", cause="everywhere") == 2  # the other one and this one

    expiring = AuthActions(app.test_client(), google)
    expiring.sign_in()
    later = time.time() + 9 * 3600  # past the 8-hour idle lifetime
    monkeypatch.setattr(sessions, "time", type("Later", (), {"time": staticmethod(lambda: later)}))
    assert expiring.client.get("/profile").status_code == 302
    assert counted.delta("sessions_ended_total", cause="expiry") == 1


def test_security_events_by_type_and_the_others_as_one(app):
    counted = Counted()
    with app.test_request_context("/risc", method="POST"):
        for uri in LOG_ONLY:
            apply(Event(uri, uri.rsplit("/", 1)[-1]), "jti-1")
        apply(Event("https://example.com/secevent/made-up", "made-up"), "jti-2")
    assert counted.delta("security_events_total", event="verification") == 1
    assert counted.delta("security_events_total", event="account-enabled") == 1
    assert counted.delta("security_events_total", event="other") == 1
    assert counted.delta("security_events_total", event="made-up") == 0


def test_rate_limited_requests_by_route(make_app, google):
    client = make_app(LOGIN_RATE_LIMIT="1/minute").test_client()
    counted = Counted()
    assert client.get("/login").status_code == 302
    assert client.get("/login").status_code == 429
    assert counted.delta("rate_limited_total", route="google_signin.login") == 1
    assert counted.delta("http_requests_total", route="google_signin.login", status="429") == 1


def test_token_refresh_outcomes(make_app, google):
    app = make_app(GOOGLE_OFFLINE_ACCESS=True)
    auth = AuthActions(app.test_client(), google)
    auth.sign_in()

    def expire() -> None:
        with auth.client.session_transaction() as sess:
            sess["token"] = {**sess["token"], "expires_at": int(time.time())}

    counted = Counted()
    expire()
    assert auth.client.get("/profile").status_code == 200
    assert counted.delta("token_refreshes_total", outcome="success") == 1
    google.mocker.post("https://oauth2.googleapis.com/token", status_code=503)
    expire()
    assert auth.client.get("/profile").status_code == 200
    assert counted.delta("token_refreshes_total", outcome="failed") == 1


def test_provider_urls_get_fixed_names(make_app):
    app = make_app()
    with app.app_context():
        assert endpoint_name(app.config["GOOGLE_SERVER_METADATA_URL"]) == "discovery"
        assert endpoint_name(app.config["GOOGLE_SERVER_METADATA_URL"] + "x") == "other"
        assert endpoint_name("https://attacker.example/anything/at/all") == "other"
    assert endpoint_name("https://oauth2.googleapis.com/token") == "other"  # no app: no names


def test_google_api_calls_and_security_event_fetches_are_named_by_their_caller(app, auth, client, google):
    """authorized_get's calls are `google_api` (here the Calendar page's), the RISC configuration's
    and keys' `risc`, whatever their URL."""
    FakeCalendar(google)
    auth.sign_in()
    connect(auth)
    counted = Counted()
    assert client.get("/calendar").status_code == 200
    assert counted.delta("provider_request_duration_seconds_count", endpoint="google_api") == 1
    google.mocker.get(app.config["GOOGLE_SIGNIN_RISC_CONFIGURATION_URL"], status_code=500)
    with app.test_request_context(), pytest.raises(TransmitterUnavailable):
        transmitter().load()
    assert counted.delta("provider_request_duration_seconds_count", endpoint="risc") == 1


@pytest.mark.parametrize(("raw", "parsed"), [(None, None), ("", None), ("9100", 9100), (" 65535 ", 65535)])
def test_metrics_port_is_a_port_or_nothing(raw, parsed):
    assert load_settings({} if raw is None else {"METRICS_PORT": raw})["METRICS_PORT"] == parsed


@pytest.mark.parametrize("raw", ["0", "65536", "-1", "ninety", "9100.5"])
def test_a_malformed_metrics_port_names_the_variable(raw):
    with pytest.raises(ConfigError, match=r"^METRICS_PORT is invalid: "):
        load_settings({"METRICS_PORT": raw})


# --------------------------------------------------------------------------- gunicorn (slow)


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def metrics_folders(pids: list[int]) -> set[Path]:
    """The PROMETHEUS_MULTIPROC_DIR folders (gunicorn.conf.py's, on /dev/shm or in /tmp) where these
    workers write their counts. (/proc/PID/environ shows only the environment a process was started with.)"""
    folders = [*Path("/dev/shm").glob("gunicorn-metrics-*"), *Path(tempfile.gettempdir()).glob("gunicorn-metrics-*")]
    return {folder for folder in folders for pid in pids if any(folder.glob(f"*_{pid}.db"))}


def listening_ports(pids: list[int]) -> set[int]:
    """TCP ports these processes listen on (their socket inodes, found in /proc/net/tcp and tcp6)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with_target = os.readlink(fd) if fd.is_symlink() else ""
            if with_target.startswith("socket:["):
                inodes.add(with_target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def per_worker(folder: Path, pid: int, name: str, **labels: str) -> float:
    """One worker's own count, from its files in PROMETHEUS_MULTIPROC_DIR."""
    files = [str(path) for path in folder.glob(f"*_{pid}.db")]
    wanted = tuple(sorted(labels.items()))
    return sum(s.value for family in MultiProcessCollector.merge(files) for s in family.samples
               if s.name == P + name and tuple(sorted(s.labels.items())) == wanted)


def sign_in_and_out(base: str, sub: str) -> None:
    user = Browser()  # a new connection: either worker may take it
    user.sign_in(base, sub)
    assert user.get(f"{base}/profile").status_code == 200
    assert user.logout(base).status_code == 303


@pytest.mark.slow
def test_metrics_are_summed_over_the_workers_on_their_own_port(gunicorn_factory, local_provider):
    port = free_port()
    server = gunicorn_factory(METRICS_PORT=str(port), WEB_CONCURRENCY="2", GOOGLE_CLIENT_ID="metrics-client",
                              GOOGLE_CLIENT_SECRET="e2e-secret", GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url)
    # /healthz answered once one worker was up; the other may still boot. A booting worker writes its
    # histogram file a moment before its counter file (metrics.TimedRecords): wait for the counters.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        workers = children(server.process.pid)
        folders = metrics_folders(workers)
        if len(workers) == 2 and folders and all(any((f / f"counter_{pid}.db").exists() for f in folders)
                                                 for pid in workers):
            break
        time.sleep(0.1)
    assert len(workers) == 2, server.logs()
    assert len(folders) == 1, f"the workers' counts are not in one folder: {folders}"
    (folder,) = folders
    assert all((folder / f"counter_{pid}.db").exists() for pid in workers), sorted(p.name for p in folder.iterdir())

    signed_in = 0
    with ThreadPoolExecutor(8) as pool:
        for _ in range(6):  # until both workers served sign-ins (connections go to whichever accepts first)
            list(pool.map(lambda i: sign_in_and_out(server.url, f"metrics-{i}@example.com"), range(signed_in,
                                                                                                  signed_in + 8)))
            signed_in += 8
            served = [per_worker(folder, pid, "signins_total", outcome="success", reason="none") for pid in workers]
            if all(served):
                break
    assert all(served), f"one worker served every sign-in: {served}"

    samples = scrape(port)

    def scraped(name: str, **labels: str) -> float:
        return samples.get((P + name, tuple(sorted(labels.items()))), 0.0)

    assert scraped("signins_total", outcome="success", reason="none") == signed_in == sum(served)
    assert scraped("http_requests_total", route="google_signin.callback", status="302") == signed_in
    assert scraped("http_requests_total", route="google_signin.login", status="302") == signed_in
    assert scraped("http_requests_total", route="pages.profile", status="200") == signed_in
    assert scraped("sessions_ended_total", cause="sign_out") == signed_in
    assert scraped("sessions_ended_total", cause="expiry") == 0  # exported before anything ended that way
    assert scraped("provider_request_duration_seconds_count", endpoint="token") == signed_in
    assert scraped("provider_request_duration_seconds_count", endpoint="userinfo") == signed_in
    # cached by each worker, once its threads that started together have it: at most one a thread
    assert 1 <= scraped("provider_request_duration_seconds_count", endpoint="discovery") <= 2 * 4
    assert scraped("provider_request_duration_seconds_bucket", endpoint="token", le="+Inf") == signed_in
    assert scraped("provider_request_duration_seconds_bucket", endpoint="token", le="10.0") == signed_in
    for operation in ("get", "put", "delete", "index", "pending"):
        assert scraped("session_store_duration_seconds_count", operation=operation) > 0, operation
        assert scraped("session_store_errors_total", operation=operation) == 0, operation
    assert (P + "session_store_duration_seconds_bucket", (("le", "0.0005"), ("operation", "put"))) in samples
    for pid in workers:
        assert per_worker(folder, pid, "http_requests_total", route="google_signin.callback", status="302") > 0, pid

    assert "GET /metrics" not in server.logs()  # the metrics port's own server logs nothing
    assert requests.get(f"{server.url}/metrics", timeout=TIMEOUT).status_code == 404  # never on the app's port
    assert listening_ports([server.process.pid, *workers]) == {server.port, port}

    # kill -HUP: new workers (the app's code imported afresh) add to the same sums
    os.kill(server.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        renewed = children(server.process.pid)
        if len(renewed) == 2 and not set(renewed) & set(workers) and all(metrics_folders([p]) for p in renewed):
            break
        time.sleep(0.1)
    assert len(renewed) == 2 and not set(renewed) & set(workers), server.logs()
    sign_in_and_out(server.url, "after-reload@example.com")
    samples = scrape(port)
    assert scraped("signins_total", outcome="success", reason="none") == signed_in + 1

    server.stop()
    assert not folder.exists()  # the workers' files go with the master


@pytest.mark.slow
def test_without_metrics_port_nothing_more_listens(app_server):
    workers = children(app_server.process.pid)
    assert workers
    assert listening_ports([app_server.process.pid, *workers]) == {app_server.port}
    assert not metrics_folders(workers)  # workers count in memory only
    assert requests.get(f"{app_server.url}/metrics", timeout=TIMEOUT).status_code == 404


def run_gunicorn(**settings: str) -> subprocess.CompletedProcess:
    argv = docker_cmd()
    env = server_env(GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="secret", HOST="127.0.0.1", **settings)
    gunicorn = str(Path(sys.executable).parent / argv[0])
    return subprocess.run([gunicorn, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.slow  # starts a server
def test_a_metrics_port_that_cannot_be_had_stops_gunicorn_with_one_line():
    port = str(free_port())
    result = run_gunicorn(PORT=port, METRICS_PORT=port)
    assert result.returncode == 4
    assert (result.stdout + result.stderr).strip().splitlines() == [
        "error: METRICS_PORT is invalid: it is PORT; metrics need a port of their own"]

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_gunicorn(PORT=str(free_port()), METRICS_PORT=str(taken.getsockname()[1]))
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert "error: METRICS_PORT is invalid: cannot listen on 127.0.0.1:" in output
    assert "Traceback" not in output and "Booting worker" not in output, output


def listening_addresses(port: int) -> set[str]:
    """Where something listens on `port`, from /proc/net/tcp (IPv4): '127.0.0.1', '0.0.0.0', ..."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "address"), [(None, "127.0.0.1"), ("127.0.0.2", "127.0.0.2")])
def test_the_metrics_port_listens_on_metrics_host_loopback_by_default(gunicorn_factory, setting, address):
    port = free_port()
    extra = {"METRICS_HOST": setting} if setting else {}
    server = gunicorn_factory(METRICS_PORT=str(port), GOOGLE_CLIENT_ID="metrics-host-client",
                              GOOGLE_CLIENT_SECRET="e2e-secret", **extra)
    assert listening_addresses(port) == {address}, server.logs()
    assert requests.get(f"http://{address}:{port}/metrics", timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize("raw", ["", "10.0.0.1:9100", "a b", "http://x"])
def test_a_malformed_metrics_host_names_the_variable(raw):
    if raw == "":
        assert load_settings({"METRICS_HOST": raw})["METRICS_HOST"] == "127.0.0.1"
        return
    with pytest.raises(ConfigError, match=r"^METRICS_HOST is invalid: "):
        load_settings({"METRICS_HOST": raw})
