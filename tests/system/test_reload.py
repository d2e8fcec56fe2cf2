"""Zero-loss reloads and graceful stops, through gunicorn.conf.py's ThreadWorker.

`kill -HUP` under load (clients that reuse keep-alive connections back to back, and clients that
pause between requests) loses no request, and the new workers run with the new settings. A
kept-alive connection left idle across a reload is still answered. SIGTERM lets the request in
flight finish, refuses new connections at once, and the master exits 0 within GRACEFUL_TIMEOUT.
"""

from __future__ import annotations

import http.client
import inspect
import os
import random
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

import pytest
import requests
from gunicorn.workers import gthread

from ..helpers import Provider
from ..servers import TIMEOUT, Browser

BOOTED = re.compile(r"Booting worker with pid: (\d+)")
EXITED = re.compile(r"Worker exiting \(pid: (\d+)\)")


def booted(server) -> list[int]:
    return [int(pid) for pid in BOOTED.findall(server.logs())]


def wait_for(condition: Callable[[], bool], seconds: float, what: str, server) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {seconds} s:\n{server.logs()}")
        time.sleep(0.05)


def reload(server, old: list[int]) -> list[int]:
    """kill -HUP, then wait until new workers booted and the old ones have exited; the new pids."""
    before = booted(server)
    os.kill(server.process.pid, signal.SIGHUP)
    wait_for(lambda: len(booted(server)) >= len(before) + 2, 30, "new workers", server)
    wait_for(lambda: set(old) <= {int(pid) for pid in EXITED.findall(server.logs())}, 30, "old workers' exit", server)
    new = [pid for pid in booted(server) if pid not in before]
    assert len(new) == 2, server.logs()
    return new


class Client(threading.Thread):
    """GET one path in a loop until `stop`; every answer is noted, and every failure: an exception
    (connection refused or reset, no answer) or a status other than 200."""

    def __init__(self, browser: Browser, url: str, stop: threading.Event, pause: float) -> None:
        super().__init__(daemon=True)
        self.browser, self.url, self.stop, self.pause = browser, url, stop, pause
        self.answered: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                response = self.browser.get(self.url)
                if response.status_code != 200:
                    self.failures.append(f"{self.url}: {response.status_code}")
                else:
                    self.answered.append(time.monotonic())
            except requests.RequestException as exc:
                self.failures.append(f"{self.url}: {exc!r}")
            if self.pause:  # an idle kept-alive connection, reused within the keep-alive timeout (5 s)
                self.stop.wait(random.uniform(0.2, self.pause))


@pytest.mark.slow
def test_hup_under_load_loses_no_request(gunicorn_factory, local_provider, tmp_path):
    env_file = tmp_path / "reload.env"
    env_file.write_text("# settings read again by each reload\n")
    server = gunicorn_factory(ENV_FILE=str(env_file), GOOGLE_CLIENT_ID="reload-client", GOOGLE_CLIENT_SECRET="secret",
                              GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url)
    wait_for(lambda: len(booted(server)) == 2, 30, "two workers", server)
    workers = booted(server)
    stop = threading.Event()
    clients = []
    for pause in (0, 0, 2.5):  # back to back on one connection (two of each), or pausing up to 2.5 s
        for path in ("/", "/healthz", "/profile"):
            browser = Browser()
            if path == "/profile":
                browser.sign_in(server.url, "alice")
            clients.append(Client(browser, server.url + path, stop, pause))
    for client in clients:
        client.start()
    try:
        time.sleep(1.5)
        started = time.monotonic()
        workers_1 = reload(server, workers)  # new code: every module of the app imported afresh
        reloaded = time.monotonic()
        env_file.write_text("PUBLIC_BASE_URL=https://reloaded.example\n")
        workers_2 = reload(server, workers_1)  # new settings
        reloaded_again = time.monotonic()
        time.sleep(1)
    finally:
        stop.set()
        for client in clients:
            client.join(TIMEOUT)
    assert not any(client.is_alive() for client in clients)

    failures = [failure for client in clients for failure in client.failures]
    assert failures == [], failures
    answered = sorted(t for client in clients for t in client.answered)
    assert all(client.answered for client in clients)
    for since, until in ((started, reloaded), (reloaded, reloaded_again)):  # the load ran through each reload
        assert sum(since <= t <= until for t in answered) >= 20, (since, until, len(answered))
    assert len({*workers, *workers_1, *workers_2}) == 6
    login = requests.get(server.url + "/login", headers={"Host": "reloaded.example"}, allow_redirects=False,
                         timeout=TIMEOUT)
    assert f"redirect_uri={quote('https://reloaded.example/callback', safe='')}" in login.headers["Location"]
    other = requests.get(server.url + "/login", allow_redirects=False, timeout=TIMEOUT)
    assert other.status_code == 400  # the pinned address is the one the sign-in answers for


@pytest.mark.slow
def test_an_idle_keepalive_connection_is_answered_across_a_reload(gunicorn_factory, local_provider):
    """gunicorn alone closes it 2 s after the reload, whenever a client may be sending on it; the
    stopping worker keeps it until its keep-alive timeout (5 s), as it would without a reload."""
    server = gunicorn_factory(GOOGLE_CLIENT_ID="idle-client", GOOGLE_CLIENT_SECRET="idle-secret",
                              GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)  # never reconnects by itself
    try:
        connection.request("GET", "/healthz")
        first = connection.getresponse()
        first.read()
        assert first.status == 200 and first.getheader("Connection") != "close"
        os.kill(server.process.pid, signal.SIGHUP)
        time.sleep(3.5)
        connection.request("GET", "/healthz")
        again = connection.getresponse()
        again.read()
    finally:
        connection.close()
    assert again.status == 200
    assert again.getheader("Connection") == "close"  # answered by the old worker, which is stopping


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.slow
def test_sigterm_lets_the_request_in_flight_finish(gunicorn_factory):
    provider = Provider()  # its own: paused below
    client = requests.Session()  # keeps its connection open, idle, after the answer, as browsers do
    try:
        server = gunicorn_factory(GOOGLE_CLIENT_ID="term-client", GOOGLE_CLIENT_SECRET="term-secret",
                                  GOOGLE_SERVER_METADATA_URL=provider.metadata_url, PROVIDER_TIMEOUT="2.5",
                                  GRACEFUL_TIMEOUT="6")
        provider.pause()  # /login waits for the discovery document: PROVIDER_TIMEOUT, then a 503 page
        answer: dict = {}

        def slow_request() -> None:
            try:
                answer["response"] = client.get(server.url + "/login", allow_redirects=False, timeout=TIMEOUT)
            except requests.RequestException as exc:
                answer["error"] = exc
            answer["at"] = time.monotonic()

        in_flight = threading.Thread(target=slow_request, daemon=True)
        in_flight.start()
        time.sleep(0.5)
        signalled = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)

        wait_for(lambda: refused(server.port), 1.5, "refused connection", server)
        assert in_flight.is_alive(), "the slow request was answered before SIGTERM could matter"
        in_flight.join(TIMEOUT)
        assert "error" not in answer, answer
        response = answer["response"]
        assert response.status_code == 503 and response.text.rstrip().endswith("</html>")
        assert len(response.content) == int(response.headers["Content-Length"])
        assert answer["at"] - signalled > 1  # the worker kept serving it after the signal
        # The worker closes the client's idle connection in time to exit by itself, before GRACEFUL_TIMEOUT.
        assert server.process.wait(6 + 5) == 0
        assert time.monotonic() - signalled < 6, "the master outlived GRACEFUL_TIMEOUT"
        assert refused(server.port)
        assert "SIGKILL" not in server.logs() and "WORKER TIMEOUT" not in server.logs(), server.logs()
    finally:
        client.close()
        provider.stop()


def test_gthread_internals_the_worker_relies_on():
    """gunicorn.conf.py's ThreadWorker sets gthread.STOP_KEEPALIVE_LINGER and extends set_accept_enabled
    and murder_keepalived; a gunicorn release that changes them fails here, not in production."""
    assert isinstance(gthread.STOP_KEEPALIVE_LINGER, int | float)
    run = inspect.getsource(gthread.ThreadWorker.run)
    assert "STOP_KEEPALIVE_LINGER" in run and "self.set_accept_enabled(False)" in run
    assert "STOP_KEEPALIVE_LINGER" in inspect.getsource(gthread.ThreadWorker.finish_request)
    assert list(inspect.signature(gthread.ThreadWorker.set_accept_enabled).parameters) == ["self", "enabled"]
    assert list(inspect.signature(gthread.ThreadWorker.murder_keepalived).parameters) == ["self", "force"]
    assert "self.murder_keepalived()" in run and "timeout = 1.0" in run  # the stopping loop wakes each second
    accept = inspect.getsource(gthread.ThreadWorker.accept)
    assert "listener.accept()" in accept and "EAGAIN" in accept and "self.nr_conns += 1" in accept
