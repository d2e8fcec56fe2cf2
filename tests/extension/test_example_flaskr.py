"""A flaskr-shaped host (examples/flaskr/): Flask's tutorial app, with its own `auth` blueprint, `user`
table, `g.user` and `login_required`, gets Google sign-in under /google.

Through the test client against the fake Google: the password login works as in flaskr; a Google
sign-in makes (or finds, or links by verified email) a row of the app's own `user` table, and
`g.user` is that row; both login pages exist side by side; signing out of Google is the extension's
POST with its token. (In Chromium under gunicorn: tests/system/test_example_flaskr_in_chromium.py.)
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sqlite3
import sys
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import g

import flask_google_signin
from flask_google_signin import signed_out

from ..helpers import CLIENT_ID, CLIENT_SECRET, GOOGLE, ROOT, AuthActions

FLASKR = ROOT / "examples" / "flaskr"
ENV_PREFIX = "FLASK_"  # create_app reads its settings with app.config.from_prefixed_env()
PREFIX = "/google"  # where create_app mounts the sign-in


def flaskr_env(**settings: str) -> dict[str, str]:
    """The example's settings as environment variables, under Flask's prefix."""
    return {ENV_PREFIX + name: value for name, value in settings.items()}


def forget_flaskr() -> None:
    for name in [name for name in sys.modules if name == "flaskr" or name.startswith("flaskr.")]:
        del sys.modules[name]


@pytest.fixture
def load_flaskr(monkeypatch):
    """A fresh import of the examples/flaskr package, as `flaskr`, under `env` alone (FLASK_* of the
    caller removed); its modules leave sys.modules with the test."""

    def load(env: dict[str, str]) -> ModuleType:
        for name in list(os.environ):
            if name.startswith(ENV_PREFIX):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        forget_flaskr()
        spec = importlib.util.spec_from_file_location("flaskr", FLASKR / "__init__.py",
                                                      submodule_search_locations=[str(FLASKR)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["flaskr"] = module
        spec.loader.exec_module(module)
        return module

    yield load
    forget_flaskr()


@pytest.fixture
def flaskr(load_flaskr, tmp_path):
    """create_app({"TESTING": True, "DATABASE": ...}) as flaskr's own tests call it; the extension's
    settings from the environment, as the app is deployed."""
    env = flaskr_env(SECRET_KEY="flaskr-secret-key", GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                     GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"),
                     GOOGLE_SIGNIN_LOGIN_RATE_LIMIT="1000/second")
    return load_flaskr(env).create_app({"TESTING": True, "DATABASE": str(tmp_path / "db" / "flaskr.sqlite")})


def users(app) -> list[dict]:
    with sqlite3.connect(app.config["DATABASE"]) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT id, username, google_sub, email, password FROM user")]


def register(client, username: str, password: str = "secret", email: str = ""):
    return client.post("/auth/register", data={"username": username, "password": password, "email": email})


def log_in(client, username: str, password: str = "secret"):
    return client.post("/auth/login", data={"username": username, "password": password})


def g_user(client, path: str = "/") -> dict | None:
    """`g.user` as the app set it for a request of `client`, as a dict (None: nobody)."""
    with client:
        assert client.get(path).status_code == 200
        return None if g.user is None else dict(g.user)


def google_sign_out(auth: AuthActions):
    """The nav's "Sign out" button: a POST to /google/logout with the extension's token."""
    return auth.client.post(f"{PREFIX}/logout", data={"csrf_token": auth.csrf_token()})


# --------------------------------------------------------------------------- the app as the tutorial has it


def test_the_database_is_created_at_the_first_start_and_init_db_clears_it(flaskr):
    assert os.path.exists(flaskr.config["DATABASE"]) and users(flaskr) == []
    register(flaskr.test_client(), "grace")
    assert [u["username"] for u in users(flaskr)] == ["grace"]
    result = flaskr.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0 and "Initialized the database." in result.output
    assert users(flaskr) == []


def test_register_log_in_post_and_log_out_with_a_password_as_in_flaskr(flaskr):
    client = flaskr.test_client()
    assert client.get("/auth/register").status_code == 200
    response = register(client, "grace")
    assert response.status_code == 302 and response.location == "/auth/login"
    assert "already registered" in register(client, "grace").text
    assert "Username is required." in register(client, "").text
    assert "Incorrect password." in log_in(client, "grace", "wrong").text
    assert "Incorrect username." in log_in(client, "nobody").text
    assert client.get("/create").location == "/auth/login"  # the app's own login_required

    response = log_in(client, "grace")
    assert response.status_code == 302 and response.location == "/"
    assert g_user(client)["username"] == "grace"
    page = client.get("/").text
    assert 'href="/auth/logout"' in page and "Sign in with Google" not in page
    assert "Title is required." in client.post("/create", data={"title": "", "body": ""}).text
    assert client.post("/create", data={"title": "Hello", "body": "First"}).location == "/"
    assert "Hello" in client.get("/").text and "by grace" in client.get("/").text

    assert client.get("/auth/logout").location == "/"
    assert g_user(client) is None
    assert client.get("/create").location == "/auth/login"


def test_the_apps_login_and_the_extensions_live_side_by_side(flaskr, google):
    endpoints = {rule.rule: rule.endpoint for rule in flaskr.url_map.iter_rules()}
    assert {path: endpoints.get(path) for path in ("/auth/login", "/auth/logout", "/auth/register")} == {
        "/auth/login": "auth.login", "/auth/logout": "auth.logout", "/auth/register": "auth.register"}
    assert {path for path, endpoint in endpoints.items() if endpoint.startswith("google_signin.")} == {
        "/google/login", "/google/callback", "/google/logout"}
    client = flaskr.test_client()
    login_page = client.get("/auth/login")
    assert login_page.status_code == 200 and 'href="/google/login"' in login_page.text
    assert 'name="password"' in login_page.text
    start = client.get("/google/login")
    assert start.status_code == 302 and start.location.startswith(GOOGLE["authorization_endpoint"])
    assert parse_qs(urlsplit(start.location).query)["redirect_uri"] == ["http://localhost/google/callback"]
    assert client.get("/login").status_code == 404  # nothing at the root: the prefix holds it all


def test_the_example_uses_only_the_extensions_public_names():
    for path in FLASKR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flask_google_signin"):
                assert node.module == "flask_google_signin", f"{path.name} imports {node.module}"
                assert {alias.name for alias in node.names} <= set(flask_google_signin.__all__)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("flask_google_signin.") for a in node.names), path.name


def test_the_example_fails_fast_without_its_secrets(load_flaskr, tmp_path):
    module = load_flaskr(flaskr_env(SECRET_KEY="s"))
    with pytest.raises(flask_google_signin.ConfigError, match="GOOGLE_CLIENT_ID is not set"):
        module.create_app({"DATABASE": str(tmp_path / "flaskr.sqlite")})


# --------------------------------------------------------------------------- Google accounts onto the user table


def test_a_google_sign_in_creates_a_user_row_linked_by_sub_and_g_user_is_that_row(flaskr, google):
    auth = AuthActions(flaskr.test_client(), google, prefix=PREFIX)
    response = auth.sign_in()
    assert response.status_code == 302 and response.location == "/"
    [row] = users(flaskr)
    assert row == {"id": row["id"], "username": "ada", "google_sub": google.sub, "email": "ada@example.com",
                   "password": None}
    assert g_user(auth.client) == {k: row[k] for k in ("id", "username", "password", "google_sub", "email")}
    page = auth.client.get("/").text
    assert "<span>ada</span>" in page and 'action="/google/logout"' in page and 'href="/auth/logout"' not in page
    assert auth.client.get("/create").status_code == 200  # the app's own login_required lets g.user in
    assert auth.client.post("/create", data={"title": "From Google", "body": "Hi"}).location == "/"
    assert "by ada" in auth.client.get("/").text
    assert "Incorrect password." in log_in(flaskr.test_client(), "ada", "").text  # no password to log in with


def test_a_second_google_sign_in_reuses_the_row(flaskr, google):
    first = AuthActions(flaskr.test_client(), google, prefix=PREFIX)
    first.sign_in()
    google_sign_out(first)
    second = AuthActions(flaskr.test_client(), google, prefix=PREFIX)  # another browser, same account
    second.sign_in()
    first.sign_in()
    [row] = users(flaskr)
    assert g_user(first.client)["id"] == g_user(second.client)["id"] == row["id"]


def test_another_google_account_gets_a_row_and_a_free_username(flaskr, google):
    register(flaskr.test_client(), "ada", email="someone-else@example.org")
    AuthActions(flaskr.test_client(), google, prefix=PREFIX).sign_in()
    google.sub = "200000000000000000002"  # a second Google account with the same address: not taken over
    AuthActions(flaskr.test_client(), google, prefix=PREFIX).sign_in()
    assert [(u["username"], u["google_sub"]) for u in users(flaskr)] == [
        ("ada", None), ("ada2", "110169484474386276334"), ("ada3", "200000000000000000002")]


def test_a_password_user_with_the_same_verified_email_is_linked_not_duplicated(flaskr, google):
    client = flaskr.test_client()
    register(client, "lovelace", email="Ada@Example.com")
    auth = AuthActions(flaskr.test_client(), google, prefix=PREFIX)
    assert auth.sign_in().location == "/"
    [row] = users(flaskr)
    assert (row["username"], row["google_sub"]) == ("lovelace", google.sub)
    assert g_user(auth.client)["id"] == row["id"]
    log_in(client, "lovelace")  # the password still works, for the same row
    assert g_user(client)["id"] == row["id"]


def test_an_unverified_email_links_nothing(flaskr, google):
    register(flaskr.test_client(), "lovelace", email="ada@example.com")
    google.id_claims = {"email_verified": False}
    auth = AuthActions(flaskr.test_client(), google, prefix=PREFIX)
    auth.sign_in()
    assert [(u["username"], u["google_sub"]) for u in users(flaskr)] == [("lovelace", None), ("ada", google.sub)]
    assert g_user(auth.client)["username"] == "ada"


# --------------------------------------------------------------------------- signing out


def test_signing_out_through_google_logout_ends_the_google_session(flaskr, google):
    auth = AuthActions(flaskr.test_client(), google, prefix=PREFIX)
    auth.sign_in()
    client = auth.client
    ended: list[str] = []
    assert client.get("/auth/login").location == "/"  # signed in already: the password form is not offered

    assert client.get("/auth/logout").location == "/google/logout"  # the app's link leads to the button
    page = client.get("/google/logout")
    assert page.status_code == 200 and "Flaskr" in page.text and "You are signed in as ada@example.com" in page.text
    assert client.post("/google/logout").status_code == 400  # without the token: refused
    assert g_user(client)["username"] == "ada"

    with signed_out.connected_to(lambda sender, **kw: ended.append(kw["reason"]), flaskr):
        response = google_sign_out(auth)
    assert response.status_code == 303 and response.location == "/"
    assert ended == ["sign_out"]
    page = client.get("/").text
    assert "You have been signed out." in page and 'href="/google/login"' in page
    assert g_user(client) is None
    assert client.get("/create").location == "/auth/login"
    assert len(users(flaskr)) == 1  # the user stays; only the session ended
