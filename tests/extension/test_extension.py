"""GoogleSignIn in a host app that is not the reference app: settings it sets in Python, defaults."""

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
                       "GOOGLE_CLIENT_SECRET": CLIENT_SECRET, "SESSION_CACHELIB_DIR": str(tmp_path / "sessions"),
                       **config})
    GoogleSignIn(app)
    return app


def test_flasks_own_31_day_lifetime_counts_as_unset(tmp_path):
    app = host(tmp_path)
    assert app.config["PERMANENT_SESSION_LIFETIME"] == 8 * 3600
    assert app.permanent_session_lifetime == timedelta(hours=8)


def test_a_hosts_own_timedelta_is_kept(tmp_path):
    assert host(tmp_path, PERMANENT_SESSION_LIFETIME=timedelta(hours=1)).config["PERMANENT_SESSION_LIFETIME"] == 3600


@pytest.mark.parametrize(("name", "value"), [("PERMANENT_SESSION_LIFETIME", 0), ("PROVIDER_TIMEOUT", 0),
                                             ("PROVIDER_TIMEOUT", float("nan")), ("PENDING_SIGNINS_MAX", -5),
                                             ("SESSION_TYPE", "memcached"), ("LOGIN_RATE_LIMIT", "0/minute")])
def test_values_set_in_python_are_checked_like_the_environments(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        host(tmp_path, **{name: value})


def test_lists_and_numbers_set_in_python_are_normalised(tmp_path):
    app = host(tmp_path, ALLOWED_DOMAINS=["Example.COM"], GOOGLE_OFFLINE_ACCESS=1, SECRET_KEY=1234)
    assert app.config["ALLOWED_DOMAINS"] == ["example.com"]
    assert app.config["GOOGLE_OFFLINE_ACCESS"] is True and app.config["SECRET_KEY"] == "1234"


def test_a_cookie_without_secure_is_warned_about_outside_debug_and_testing(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="flask_google_signin.extension"):
        host(tmp_path)  # Flask's own default: Secure off
    assert "SESSION_COOKIE_SECURE is off" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flask_google_signin.extension"):
        host(tmp_path, SESSION_COOKIE_SECURE=True)
    assert "SESSION_COOKIE_SECURE" not in caplog.text


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
