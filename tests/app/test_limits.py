"""LOGIN_RATE_LIMIT on /login, per client address.

Beyond the limit /login answers 429 with Retry-After and writes nothing; other addresses carry
on; the address is the one ProxyFix believes; with Redis the count is shared by every instance,
and a Redis that fails never turns /login into a 500.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import pytest

from app import create_app
from flask_google_signin import ConfigError, testing
from flask_google_signin.store import digest
from flask_google_signin.store.redis import make_redis

from ..helpers import AuthActions, base_config, free_port, pending_count, private_redis

STORE_DOWN = "Our session store is not answering"


def default_limit_app(tmp_path: Path, **overrides):
    """The app with LOGIN_RATE_LIMIT left at its default (conftest sets a high one for other tests)."""
    config = base_config(tmp_path, **overrides)
    del config["LOGIN_RATE_LIMIT"]
    return create_app(config, environ={})


def stranger(app, address: str):
    """A cookieless client at `address`: each /login is a new browser, as a flood is."""
    client = app.test_client(use_cookies=False)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def unique_address() -> str:
    """A documentation IPv6 address in a /64 of its own (limits count IPv6 clients by their /64), so
    counts left in the shared Redis never collide."""
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"


# --------------------------------------------------------------------------- one process, memory


def test_the_21st_login_in_a_minute_is_refused_and_writes_nothing(tmp_path, google):
    app = default_limit_app(tmp_path)
    flood = stranger(app, "198.51.100.20")
    for _ in range(20):
        assert flood.get("/login").status_code == 302
    assert pending_count(app) == 20  # the 20 allowed ones did write their pending sign-ins

    response = flood.get("/login")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "Set-Cookie" not in response.headers
    page = response.get_data(as_text=True)
    assert "<h1>Too many sign-in attempts</h1>" in page and "Error 429" in page  # the app's error page
    assert 'href="/login"' not in page.split("<main", 1)[1]  # no "Try again" that would fail again
    assert pending_count(app) == 20


def test_an_ipv6_client_counts_by_its_64_and_ipv4_by_its_address(tmp_path, google):
    """200 /login from 200 addresses of one IPv6 /64: one client, limited after 20; another /64 and
    an IPv4 address next door still sign in."""
    app = default_limit_app(tmp_path)
    statuses = [stranger(app, f"2001:db8:5:6::{i:x}").get("/login").status_code for i in range(200)]
    assert statuses[:20] == [302] * 20 and set(statuses[20:]) == {429}
    assert stranger(app, "2001:db8:5:7::1").get("/login").status_code == 302
    v4 = [stranger(app, f"198.51.100.{i}").get("/login").status_code for i in range(30, 60)]
    assert v4 == [302] * 30  # 30 IPv4 addresses are 30 clients
    assert stranger(app, "::ffff:198.51.100.30").get("/login").status_code == 302  # the same as 198.51.100.30


def test_other_addresses_sign_in_while_one_is_limited(tmp_path, google):
    app = default_limit_app(tmp_path)
    flood = stranger(app, "198.51.100.21")
    for _ in range(25):
        flood.get("/login")
    assert flood.get("/login").status_code == 429

    assert stranger(app, "198.51.100.22").get("/login").status_code == 302
    user = app.test_client()
    user.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    auth = AuthActions(user, google)
    assert auth.sign_in().status_code == 302
    assert user.get("/profile").status_code == 200


FLOODS = {
    "500 addresses of one IPv6 /64": [f"2001:db8:7:8::{i:x}" for i in range(500)],
    "30 IPv4 addresses, 10 requests each": [f"198.51.100.{100 + i % 30}" for i in range(300)],
}


@pytest.fixture(params=["files", pytest.param("redis", marks=[pytest.mark.slow, pytest.mark.redis])])
def store_settings(request):
    if request.param == "files":
        return {}
    url = request.getfixturevalue("redis_server").url
    make_redis(url, 2).flushdb()
    return {"SESSION_TYPE": "redis", "REDIS_URL": url}


SLOW = pytest.mark.slow  # a few hundred requests: the fast tier keeps the one case the cap alone decides


@pytest.mark.parametrize(("flood", "limit"), [
    pytest.param(FLOODS["500 addresses of one IPv6 /64"], "default", id="one /64, 500 addresses-default", marks=SLOW),
    pytest.param(FLOODS["500 addresses of one IPv6 /64"], "100000/minute", id="one /64, 500 addresses-no limit",
                 marks=SLOW),
    pytest.param(FLOODS["30 IPv4 addresses, 10 requests each"], "default", id="30 IPv4 addresses x 10-default"),
    pytest.param(FLOODS["30 IPv4 addresses, 10 requests each"], "100000/minute", id="30 IPv4 addresses x 10-no limit",
                 marks=SLOW),
])
def test_a_flood_does_not_stop_a_sign_in_from_another_network(tmp_path, google, store_settings, flood, limit):
    """PENDING_SIGNINS_MAX at 40, and a flood that would fill it many times over, with the default
    LOGIN_RATE_LIMIT and without one: a visitor who started before the flood, and one who started
    during it, both finish; the cap holds."""
    settings = {**store_settings, "PENDING_SIGNINS_MAX": 40}
    app = default_limit_app(tmp_path, **settings) if limit == "default" else \
        create_app(base_config(tmp_path, **settings, LOGIN_RATE_LIMIT=limit), environ={})
    visitors = []

    def visitor(address):
        user = app.test_client()
        user.environ_base["REMOTE_ADDR"] = address
        auth = AuthActions(user, google)
        visitors.append((auth, auth.start()))

    visitor("203.0.113.5")
    statuses = set()
    for n, address in enumerate(flood):
        statuses.add(stranger(app, address).get("/login").status_code)
        if n == len(flood) // 2:
            visitor("2001:db8:99::5")
    assert statuses <= {302, 429} and pending_count(app) <= 40
    for auth, params in visitors:
        google.nonce, google.code_challenge = params["nonce"], params["code_challenge"]
        assert auth.callback(params).status_code == 302
        assert auth.client.get("/profile").status_code == 200


def test_only_login_is_limited(make_app, google):
    app = make_app(LOGIN_RATE_LIMIT="1/minute")
    client = stranger(app, "198.51.100.23")
    assert client.get("/login").status_code == 302
    assert client.get("/login").status_code == 429
    for _ in range(3):
        assert client.get("/").status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/callback?state=abc&code=def").status_code == 400  # refused, but not limited


def test_forwarded_for_is_the_key_behind_a_trusted_proxy(make_app, google):
    app = make_app(LOGIN_RATE_LIMIT="2/minute", TRUSTED_PROXIES=1)
    proxy = stranger(app, "10.0.0.1")

    def via_proxy(forwarded_for: str) -> int:
        return proxy.get("/login", headers={"X-Forwarded-For": forwarded_for}).status_code

    # The proxy appends the address it saw; what a client wrote in front of it changes nothing.
    assert via_proxy("198.51.100.30") == 302
    assert via_proxy("1.1.1.1, 198.51.100.30") == 302
    assert via_proxy("2.2.2.2, 198.51.100.30") == 429
    assert via_proxy("198.51.100.31") == 302  # another client behind the same proxy


def test_forwarded_for_is_ignored_without_trusted_proxies(make_app, google):
    app = make_app(LOGIN_RATE_LIMIT="2/minute")
    client = stranger(app, "198.51.100.40")
    statuses = [client.get("/login", headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code for i in range(3)]
    assert statuses == [302, 302, 429]  # a made-up header is not a new address


@pytest.mark.parametrize("value", ["lots", "20/fortnight", "0/minute"])
def test_malformed_limit_stops_the_app(tmp_path, value):
    config = base_config(tmp_path)
    del config["LOGIN_RATE_LIMIT"]
    with pytest.raises(ConfigError, match=r"^LOGIN_RATE_LIMIT is invalid"):
        create_app(config, environ={"LOGIN_RATE_LIMIT": value})


def test_refused_redis_never_makes_login_a_500(tmp_path, google):
    """Nothing listens on the port: the count lives in the store, so every /login is the store's 503
    (nothing can be written anyway), never a 500."""
    app = default_limit_app(tmp_path, SESSION_TYPE="redis", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    client = stranger(app, "198.51.100.50")
    responses = [client.get("/login") for _ in range(21)]
    assert [r.status_code for r in responses] == [503] * 21
    assert STORE_DOWN in responses[0].get_data(as_text=True)


def test_a_limited_login_keeps_the_browsers_other_sign_ins(make_app, google):
    """Refused before anything is written: the pending sign-ins of its other tabs (as many as a browser
    keeps, so a new one would drop the oldest) stay, their cookies untouched."""
    app = make_app(LOGIN_RATE_LIMIT="4/minute")
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = "198.51.100.55"
    assert [browser.get("/login").status_code for _ in range(4)] == [302] * 4
    tabs = [cookie.key for cookie in browser._cookies.values() if "_signin_" in cookie.key]
    refused = browser.get("/login")
    assert refused.status_code == 429 and "Set-Cookie" not in refused.headers
    assert len(tabs) == 4 and all(browser.get_cookie(name) for name in tabs)
    records = testing.store(app)
    assert all(records.take_pending(records.pending_key(digest(browser.get_cookie(name).value.partition(".")[2])))
               for name in tabs)  # and their records


# --------------------------------------------------------------------------- Redis, several instances


@pytest.mark.slow
@pytest.mark.redis
def test_two_instances_share_the_count_and_others_still_sign_in(tmp_path, google, redis_server):
    config = dict(SESSION_TYPE="redis", REDIS_URL=redis_server.url)
    a, b = default_limit_app(tmp_path, **config), default_limit_app(tmp_path, **config)
    address = unique_address()
    flood_a, flood_b = stranger(a, address), stranger(b, address)
    statuses = [(flood_a if i % 2 else flood_b).get("/login").status_code for i in range(30)]
    assert statuses == [302] * 20 + [429] * 10  # 20 in all, not 20 on each

    user = b.test_client()  # another address signs in, start to finish, while the flood is refused
    user.environ_base["REMOTE_ADDR"] = unique_address()
    auth = AuthActions(user, google)
    params = auth.start()
    assert flood_a.get("/login").status_code == 429 and flood_b.get("/login").status_code == 429
    assert auth.callback(params).status_code == 302
    assert user.get("/profile").status_code == 200


@pytest.mark.slow
@pytest.mark.redis
def test_hung_redis_gives_the_stores_503_quickly_not_a_500(tmp_path, tmp_path_factory, google):
    """SIGSTOP: connections are accepted and nothing answers. The store (which also counts) spends its
    own timeouts and answers 503."""
    server = private_redis(tmp_path_factory, "limits-redis")
    try:
        app = default_limit_app(tmp_path, SESSION_TYPE="redis", REDIS_URL=server.url)
        client = stranger(app, "198.51.100.60")
        assert client.get("/login").status_code == 302
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            for _ in range(2):
                started = time.monotonic()
                response = client.get("/login")
                elapsed = time.monotonic() - started
                assert response.status_code == 503 and elapsed < 2, (response.status_code, elapsed)
                assert STORE_DOWN in response.get_data(as_text=True)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
    finally:
        server.stop()
