"""The host-app benchmark's apps (bench/host_run.py): one small signed-in page, served four ways.

GET /page renders the same template in each: the user's name and email and a sign-out
`<form method=post>` with a hidden CSRF token.

    bare          constants for the user and the token; no SECRET_KEY, so no session at all (the floor)
    flask_login   Flask-Login on Flask's signed-cookie session: LoginManager, user_loader from a dict,
                  @login_required, the token from Flask-WTF's generate_csrf() (CSRFProtect's csrf_token())
    files         GoogleSignIn(app), SESSION_TYPE=cachelib (GOOGLE_SIGNIN_SESSION_CACHELIB_DIR): current_user,
                  @login_required, google_signin_csrf_token()
    redis         the same with SESSION_TYPE=redis (GOOGLE_SIGNIN_REDIS_URL)

Each is built lazily as a module attribute, for gunicorn: `gunicorn bench.hosts:flask_login_app`
(bare_app, flask_login_app, files_app, redis_app). The extension's two read their store from the
environment: BENCH_HOSTS_DIR (the cachelib folder; default a `host-sessions` folder in the system's
temporary folder) and BENCH_HOSTS_REDIS_URL.

`signed_in_cookie(app)` makes a signed-in session cookie for one of them in this process:
Flask-Login's by `login_user` (and the CSRF token's raw value) in a setup request, the extension's
by `flask_google_signin.testing.sign_in` through its real session layer into the shared store.
Any process with the same settings (the same SECRET_KEY, folder or Redis) may then send it:

    python -m bench.hosts --cookie flask_login      # prints the cookie's value (cookie name: session)

Every request must carry `User-Agent: host-bench` (UA): Flask-Login's default session protection
ties the session to the address and user agent it was made for, and marks it not fresh (a new
cookie on every response) when they differ.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from flask import Flask, render_template, session
from jinja2 import DictLoader

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))  # this tree's flask_google_signin, not another checkout's editable install

import flask_google_signin  # noqa: E402

if not Path(flask_google_signin.__file__).resolve().is_relative_to(ROOT):
    raise ImportError(f"flask_google_signin comes from {flask_google_signin.__file__}, not from {ROOT}")

SECRET_KEY = "host-bench-secret-key-0123456789abcdef"
UA = "host-bench"
NAME, EMAIL = "Ada Lovelace", "ada@example.com"
# The one page; TOKEN is each host's call for its sign-out token.
PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Your account</title>
<main><h1>{{ current_user.name }}</h1><p>{{ current_user.email }}</p>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{ TOKEN }}">
<button>Sign out</button></form></main></html>
"""
HOSTS = ("bare", "flask_login", "files", "redis")


def page_app(name: str, token_call: str) -> Flask:
    app = Flask(f"host_{name}", root_path=str(ROOT / "bench"))
    app.jinja_loader = DictLoader({"page.html": PAGE.replace("TOKEN", token_call)})  # type: ignore[assignment]
    return app


# --------------------------------------------------------------------------- the four hosts


class BareUser:
    name, email = NAME, EMAIL


def build_bare() -> Flask:
    """Constants: no SECRET_KEY (Flask opens a NullSession and never reads a cookie), no login."""
    app = page_app("bare", "csrf_token()")
    app.add_template_global(BareUser(), "current_user")
    token = "x" * 91  # the length of Flask-WTF's signed token
    app.add_template_global(lambda: token, "csrf_token")

    @app.get("/page")
    def page() -> str:
        return render_template("page.html")

    return app


def build_flask_login() -> Flask:
    """What a Flask developer would write with Flask-Login and Flask-WTF, on Flask's signed cookie."""
    from flask_login import LoginManager, UserMixin, login_required
    from flask_wtf import CSRFProtect

    class User(UserMixin):
        def __init__(self, id: str, name: str, email: str) -> None:
            self.id, self.name, self.email = id, name, email

    users = {"1": User("1", NAME, EMAIL)}
    app = page_app("flask_login", "csrf_token()")  # CSRFProtect's template global: generate_csrf()
    app.config.update(SECRET_KEY=SECRET_KEY, SESSION_COOKIE_SECURE=False)
    CSRFProtect(app)  # what checks the sign-out POST; on a GET it returns at once
    login_manager = LoginManager(app)
    login_manager.user_loader(users.get)

    @app.get("/page")
    @login_required
    def page() -> str:
        return render_template("page.html")

    app.extensions["host_bench_users"] = users
    return app


def build_extension(store: str) -> Flask:
    """A host with GoogleSignIn on one store; the settings by their GOOGLE_SIGNIN_ names."""
    from flask_google_signin import GoogleSignIn, login_required

    app = page_app(store, "google_signin_csrf_token()")
    app.config.update(SECRET_KEY=SECRET_KEY, GOOGLE_CLIENT_ID="host-bench-client",
                      GOOGLE_CLIENT_SECRET="host-bench", GOOGLE_SIGNIN_COOKIE_SECURE=False)
    if store == "files":
        app.config.update(SESSION_TYPE="cachelib", GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=sessions_dir())
    elif store == "redis":
        app.config.update(SESSION_TYPE="redis", GOOGLE_SIGNIN_REDIS_URL=os.environ["BENCH_HOSTS_REDIS_URL"])
    else:
        raise ValueError(store)
    GoogleSignIn(app)

    @app.get("/page")
    @login_required
    def page() -> str:
        return render_template("page.html")

    return app


def sessions_dir() -> str:
    return os.environ.get("BENCH_HOSTS_DIR") or os.path.join(tempfile.gettempdir(), "host-sessions")


def build(name: str) -> Flask:
    if name == "bare":
        return build_bare()
    if name == "flask_login":
        return build_flask_login()
    return build_extension(name)


def __getattr__(attribute: str) -> Flask:
    name = attribute.removesuffix("_app")
    if not attribute.endswith("_app") or name not in HOSTS:
        raise AttributeError(attribute)
    app = build(name)
    globals()[attribute] = app
    return app


# --------------------------------------------------------------------------- a signed-in cookie


def signed_in_cookie(app: Flask) -> str | None:
    """A signed-in session cookie's value for `app` (cookie name `session`); None for the bare host."""
    if "host_bench_users" in app.extensions:  # Flask-Login: login_user in a setup request
        from flask_login import login_user
        from flask_wtf.csrf import generate_csrf

        with app.test_request_context("/page", headers={"User-Agent": UA},
                                      environ_base={"REMOTE_ADDR": "127.0.0.1"}):
            login_user(app.extensions["host_bench_users"]["1"])
            generate_csrf()  # its raw token in the session now, as after the first page a user sees
            response = app.response_class()
            app.session_interface.save_session(app, session, response)  # type: ignore[arg-type]
        header = response.headers["Set-Cookie"]
        return header.split(";", 1)[0].partition("=")[2]
    if "google_signin" in app.extensions:
        from flask_google_signin import testing

        testing_was = app.testing
        app.testing = True  # testing.sign_in refuses otherwise; off again for the measurement
        try:
            client = app.test_client()
            testing.sign_in(client, name=NAME, email=EMAIL)
            cookie = client.get_cookie("session")
            assert cookie is not None
            return cookie.value
        finally:
            app.testing = testing_was
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cookie", choices=HOSTS[1:], required=True, help="print a signed-in cookie for this host")
    args = parser.parse_args()
    print(signed_in_cookie(build(args.cookie)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
