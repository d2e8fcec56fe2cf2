"""GoogleSignIn in a host app that is not the reference app: settings it sets in Python, defaults,
session-exempt views."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from flask import Flask

from flask_google_signin import ConfigError, GoogleSignIn, testing

from ..helpers import CLIENT_ID, CLIENT_SECRET


def host(tmp_path, **config) -> Flask:
    app = Flask("host", root_path=str(tmp_path))  # its own (empty) templates folder, not the repository's
    app.config.update({"SECRET_KEY": "host-secret", "GOOGLE_CLIENT_ID": CLIENT_ID,
                       "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
                       "GOOGLE_SIGNIN_SESSION_CACHELIB_DIR": str(tmp_path / "sessions"),
                       **config})
    GoogleSignIn(app)
    app.testing = True  # after init_app, which decided its cookie policy as the host's config said
    return app


def test_the_idle_timeout_is_ours_and_flasks_lifetime_stays_flasks(tmp_path):
    app = host(tmp_path)
    assert testing.settings(app)["IDLE_TIMEOUT"] == 8 * 3600
    assert app.permanent_session_lifetime == timedelta(days=31)  # Flask's, as Flask set it


def test_a_hosts_own_timedelta_is_read_as_seconds(tmp_path):
    assert testing.settings(host(tmp_path, GOOGLE_SIGNIN_IDLE_TIMEOUT=timedelta(hours=1)))["IDLE_TIMEOUT"] == 3600


@pytest.mark.parametrize(("name", "value"), [("GOOGLE_SIGNIN_IDLE_TIMEOUT", 0), ("GOOGLE_SIGNIN_PROVIDER_TIMEOUT", 0),
                                             ("GOOGLE_SIGNIN_PROVIDER_TIMEOUT", float("nan")),
                                             ("GOOGLE_SIGNIN_PENDING_SIGNINS_MAX", -5), ("SESSION_TYPE", "memcached"),
                                             ("GOOGLE_SIGNIN_LOGIN_RATE_LIMIT", "0/minute"),
                                             ("GOOGLE_SIGNIN_ABSOLUTE_TIMEOUT", 0.5)])
def test_values_set_in_python_are_checked_like_the_environments(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        host(tmp_path, **{name: value})


def test_lists_and_numbers_set_in_python_are_normalised(tmp_path):
    app = host(tmp_path, GOOGLE_SIGNIN_ALLOWED_DOMAINS=["Example.COM"], GOOGLE_SIGNIN_GOOGLE_OFFLINE_ACCESS=1,
               SECRET_KEY=1234)
    settings = testing.settings(app)
    assert settings["ALLOWED_DOMAINS"] == ["example.com"]
    assert settings["GOOGLE_OFFLINE_ACCESS"] is True and settings["SECRET_KEY"] == "1234"
    assert app.config["SECRET_KEY"] == 1234  # the host's value, as the host set it


def test_cookies_are_secure_unless_the_host_says_otherwise_and_then_it_is_warned_about(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="flask_google_signin.extension"):
        app = host(tmp_path)  # Flask's own SESSION_COOKIE_SECURE is False: ours is Secure all the same
    assert testing.settings(app)["COOKIE_SECURE"] is True and "COOKIE_SECURE" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="flask_google_signin.extension"):
        app = host(tmp_path, GOOGLE_SIGNIN_COOKIE_SECURE=False)
    assert testing.settings(app)["COOKIE_SECURE"] is False
    assert caplog.text.count("GOOGLE_SIGNIN_COOKIE_SECURE is off") == 1
    assert testing.settings(host(tmp_path, TESTING=True))["COOKIE_SECURE"] is False  # plain http in tests


def test_sign_out_lands_on_the_hosts_home_page(tmp_path):
    app = host(tmp_path, TESTING=True)
    response = app.test_client().post("/logout")
    assert response.status_code == 303 and response.location == "/"


def test_a_session_exempt_view_never_asks_the_store(tmp_path, monkeypatch):
    """A health check must answer while the store does not; the host's other pages get the 503."""
    app = host(tmp_path, TESTING=True)
    signin = app.extensions["google_signin"]

    @app.get("/ping")
    @signin.session_exempt
    def ping() -> str:
        return "pong"

    @app.get("/page")
    def page() -> str:
        return "page"

    def down(key):
        raise OSError("the session folder is gone")

    monkeypatch.setattr(testing.store(app), "get", down)
    client = app.test_client()
    client.set_cookie("session", f"{'a' * 43}.{'b' * 43}")  # a browser that has a session cookie
    assert client.get("/ping").get_data(as_text=True) == "pong"
    assert client.get("/page").status_code == 503


def test_a_session_exempt_view_needs_a_fixed_path(tmp_path):
    app = host(tmp_path, TESTING=True)

    @app.get("/items/<int:number>")
    @app.extensions["google_signin"].session_exempt
    def item(number: int) -> str:
        return str(number)

    with pytest.raises(ValueError, match="fixed paths"):
        app.test_client().get("/items/1")
