"""One Tap in a host app of its own: under the host's url_prefix, past the host's blanket Flask-WTF
CSRFProtect (Google's double-submit token is the check), with the host's user_loader deciding, and
the template global where the host puts its sign-in button."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask import Flask, render_template_string
from flask_wtf import CSRFProtect

from flask_google_signin import GoogleSignIn, csp_sources, current_user

from ..helpers import CLIENT_ID, CLIENT_SECRET

PAGE = "{% if current_user %}hello {{ current_user.name }}{% else %}<a href=/google/login>Sign in</a>" \
       "{{ google_signin_one_tap('/members') }}{% endif %}"


def host(tmp_path, users: dict[str, str] | None = None, **config) -> Flask:
    app = Flask("host", root_path=str(tmp_path))
    config.setdefault("GOOGLE_SIGNIN_ONE_TAP", True)
    app.config.update(SECRET_KEY="host-secret", GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                      GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"), GOOGLE_SIGNIN_COOKIE_SECURE=False,
                      **config)

    @app.get("/")
    def home() -> str:
        return render_template_string(PAGE)

    @app.get("/members")
    def members() -> str:
        return f"members: {current_user.name}"

    CSRFProtect(app)
    signin = GoogleSignIn(app, url_prefix="/google")
    if users is not None:
        @signin.user_loader
        def load(identity):
            return type("User", (), {"name": users[identity.email], "is_authenticated": True})() \
                if identity.email in users else None
    app.testing = True
    return app


def tap(app, google):
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    nonce = re.search(r'data-nonce="([^"]+)"', page).group(1)
    login_uri = urlsplit(re.search(r'data-login_uri="([^"]+)"', page).group(1).replace("&amp;", "&"))
    client.set_cookie("g_csrf_token", "t1")
    credential = google.sign({**google.claims(), "nonce": nonce})
    return client, login_uri, client.post(f"{login_uri.path}?{login_uri.query}",
                                          data={"credential": credential, "g_csrf_token": "t1"})


def test_under_the_hosts_prefix_past_its_csrf_protect_to_its_next(tmp_path, google):
    app = host(tmp_path, users={"ada@example.com": "Ada of the host"})
    client, login_uri, response = tap(app, google)
    assert login_uri.path == "/google/login/one-tap" and login_uri.query == "next=/members"
    assert response.status_code == 303 and response.location == "/members"
    assert client.get("/members").get_data(as_text=True) == "members: Ada of the host"  # the host's own user


def test_the_hosts_user_loader_can_refuse(tmp_path, google):
    app = host(tmp_path, users={})
    client, _, response = tap(app, google)
    assert response.status_code == 403
    assert "Sign in" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("on", [True, False])
def test_the_template_global_and_csp_sources_follow_the_setting(tmp_path, google, on):
    app = host(tmp_path, GOOGLE_SIGNIN_ONE_TAP=on)
    page = app.test_client().get("/").get_data(as_text=True)
    assert ("g_id_onload" in page) is on
    assert bool(csp_sources(app)) is on
