"""Faults, against gunicorn: Redis stopped, Redis hung, provider stopped, provider hung.

The module has its own redis-server and provider (the shared ones stay untouched), and one
gunicorn with a single worker, so that "warm" means warm for the process that serves the request.
"""

from __future__ import annotations

import time

import pytest
import redis

from flask_google_signin import testing

from ..helpers import Provider, private_redis
from ..servers import Browser

pytestmark = [pytest.mark.slow, pytest.mark.redis]

STORE_DOWN = "Our session store is not answering"
PROVIDER_DOWN = "The sign-in provider could not be reached"
SESSION_PATHS = ("/", "/profile", "/login", "/callback?state=abc&code=def")


@pytest.fixture(scope="module")
def fault_redis(tmp_path_factory):
    server = private_redis(tmp_path_factory, "fault-redis")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fault_provider(tmp_path_factory):
    provider = Provider(log_path=tmp_path_factory.mktemp("fault-provider") / "provider.log")
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def server(gunicorn_factory, fault_redis, fault_provider):
    return gunicorn_factory(SESSION_TYPE="redis", REDIS_URL=fault_redis.url, WEB_CONCURRENCY="1",
                            GOOGLE_CLIENT_ID="fault-client", GOOGLE_CLIENT_SECRET="fault-secret",
                            GOOGLE_SERVER_METADATA_URL=fault_provider.metadata_url)


@pytest.fixture
def redis_back(fault_redis):
    """Whatever a test does to Redis, the next test finds it running."""
    yield fault_redis
    if fault_redis.process.poll() is None:
        import os
        import signal

        os.kill(fault_redis.process.pid, signal.SIGCONT)
    else:
        fault_redis.start()


@pytest.fixture
def provider_back(fault_provider):
    yield fault_provider
    if fault_provider.process.poll() is None:
        fault_provider.resume()
    else:
        fault_provider.start()


def timed(call, *args, **kwargs):
    started = time.monotonic()
    response = call(*args, **kwargs)
    return response, time.monotonic() - started


def wait_ready(base: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if Browser().get(f"{base}/readyz").status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"{base} not ready after {seconds} s")


def assert_store_down_page(response, elapsed: float) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert elapsed < 2, f"took {elapsed:.2f} s"
    assert STORE_DOWN in response.text
    assert "Traceback" not in response.text and "redis" not in response.text.lower()


def test_readyz_names_nothing_when_all_is_well(server):
    response = Browser().get(f"{server.url}/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "session_store": "redis"}


def test_warm_sign_in_costs_one_token_and_one_userinfo_call(server, fault_provider):
    Browser().sign_in(server.url, "warm-up@example.com")  # discovery and JWKS now cached
    before = len(fault_provider.calls())
    Browser().sign_in(server.url, "warm@example.com")
    calls = [c for c in fault_provider.calls()[before:] if c != "POST /oauth2/authorize"]  # the browser's
    assert calls == ["POST /oauth2/token", "GET /userinfo"]


def test_redis_stopped_gives_503_and_recovers_without_restart(server, redis_back):
    user = Browser()
    user.sign_in(server.url, "redis-down@example.com")
    redis_back.stop()

    for path in SESSION_PATHS:
        assert_store_down_page(*timed(user.get, f"{server.url}{path}"))
    response, elapsed = timed(user.post, f"{server.url}/logout", data={"csrf_token": "x"})
    assert_store_down_page(response, elapsed)
    health, elapsed = timed(user.get, f"{server.url}/healthz")
    assert health.status_code == 200 and elapsed < 0.5
    ready, elapsed = timed(user.get, f"{server.url}/readyz")
    assert ready.status_code == 503 and elapsed < 2
    assert ready.json()["status"] == "unavailable" and ready.json()["failed"] == "session_store"

    redis_back.start()  # same port, empty (no persistence): the sessions are gone, the app is not
    wait_ready(server.url)
    assert user.get(f"{server.url}/profile").status_code == 302
    again = Browser()
    again.sign_in(server.url, "redis-back@example.com")
    page = again.get(f"{server.url}/profile")
    assert page.status_code == 200 and "redis-back@example.com" in page.text
    assert "Traceback" not in server.logs()


def test_redis_hung_gives_503_within_2_seconds_and_keeps_sessions(server, redis_back):
    """SIGSTOP: connections are accepted but nothing answers, so only the timeouts save us."""
    import os
    import signal

    user = Browser()
    user.sign_in(server.url, "redis-hung@example.com")
    os.kill(redis_back.process.pid, signal.SIGSTOP)
    try:
        assert_store_down_page(*timed(user.get, f"{server.url}/profile"))
        ready, elapsed = timed(user.get, f"{server.url}/readyz")
        assert ready.status_code == 503 and elapsed < 2 and ready.json()["failed"] == "session_store"
        health, elapsed = timed(user.get, f"{server.url}/healthz")
        assert health.status_code == 200 and elapsed < 0.5
    finally:
        os.kill(redis_back.process.pid, signal.SIGCONT)
    wait_ready(server.url)
    page = user.get(f"{server.url}/profile")  # the data survived the pause: still signed in
    assert page.status_code == 200 and "redis-hung@example.com" in page.text


def test_provider_hung_gives_error_page_within_10_seconds(server, provider_back):
    """PROVIDER_TIMEOUT (8 s by default) bounds every provider call a request makes."""
    user = Browser()
    back = user.authorize(server.url, "provider-hung@example.com")
    provider_back.pause()
    try:
        response, elapsed = timed(user.callback, back)
    finally:
        provider_back.resume()
    assert response.status_code == 503 and elapsed < 10, (response.status_code, elapsed)
    assert PROVIDER_DOWN in response.text
    assert Browser().get(f"{server.url}/healthz").status_code == 200


def test_store_failure_during_sign_in_is_a_503_not_a_500(make_app, google, redis_server, monkeypatch, caplog):
    """Redis can fail between taking the pending sign-in and storing the new session: a 503,
    nobody signed in, and no "signed in" line in the log."""
    from ..helpers import AuthActions

    app = make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url)
    auth = AuthActions(app.test_client(), google)
    params = auth.start()

    def broken(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(testing.store(app).client, "set", broken)
    response = auth.callback(params)
    assert response.status_code == 503
    assert STORE_DOWN in response.get_data(as_text=True)
    assert not any(getattr(r, "event", None) == "sign_in" for r in caplog.records)
    monkeypatch.undo()
    assert auth.client.get("/profile").status_code == 302


def test_provider_stopped_gives_error_page_and_signed_in_users_carry_on(server, provider_back):
    reader = Browser()
    reader.sign_in(server.url, "reader@example.com")
    user = Browser()
    back = user.authorize(server.url, "provider-down@example.com")  # the code is issued...
    provider_back.stop()  # ...and the provider goes away before the app redeems it

    response, elapsed = timed(user.callback, back)
    assert response.status_code == 503 and elapsed < 10
    assert PROVIDER_DOWN in response.text and "Traceback" not in response.text
    assert user.get(f"{server.url}/profile").status_code == 302  # not signed in
    page = reader.get(f"{server.url}/profile")  # a session does not need the provider
    assert page.status_code == 200 and "reader@example.com" in page.text
    assert Browser().get(f"{server.url}/readyz").status_code == 200  # Redis is fine: stay in rotation
    # Last in the module: the restarted mock signs with a new key but puts no `kid` in its ID
    # tokens, so this app instance (JWKS cached for an hour) could not verify its sign-ins.


def test_hung_redis_costs_a_request_at_most_about_a_second(redis_back):
    """Two attempts of REDIS_TIMEOUT (0.5 s), even on a connection idle long enough that a
    health-check PING would be due: nothing stacks extra timeouts in front of the command."""
    import os
    import signal

    from flask_google_signin.store.redis import make_redis

    client = make_redis(redis_back.url, 0.5)
    client.set("probe", "1")
    for connection in list(client.connection_pool._available_connections):
        connection.next_health_check = 0  # as if idle for a long time
    os.kill(redis_back.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.get("probe")
        elapsed = time.monotonic() - started
    finally:
        os.kill(redis_back.process.pid, signal.SIGCONT)
    assert elapsed < 1.3, f"took {elapsed:.2f} s"  # 2 x 0.5 s; a health check first made it 1.5-2 s
    assert client.get("probe") == b"1"  # and the same client recovers by itself
    client.close()
