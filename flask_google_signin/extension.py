"""`GoogleSignIn`: the whole sign-in as one Flask extension."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask_wtf import CSRFProtect
from flask_wtf.csrf import generate_csrf
from werkzeug.local import LocalProxy

from . import accounts, metrics, risc, views
from .errors import register_error_handlers
from .limits import init_limits
from .oidc import init_oauth
from .sessions import init_sessions
from .settings import apply_settings, check_redis, check_required
from .signals import signed_in, signed_out

__all__ = ["GoogleSignIn", "current_user", "login_required", "signed_in", "signed_out"]

#: The signed-in user (a `sessions.User`: `sub`, `name`, `email`, `email_verified`, `picture`, `hd`), or None.
current_user: Any = LocalProxy(lambda: g.get("user"))

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)


def login_required(view: F) -> F:
    """Send anonymous visitors to /login, and back here once they are signed in."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not g.get("user"):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def check_csrf(csrf: CSRFProtect) -> None:
    """CSRFProtect's check of every form, exemptions applied, as its own before_request does it; but
    that one looks up the view's exemption on every request, and this one only for the methods it
    protects (POST, PUT, PATCH, DELETE), not on each page view."""
    config = current_app.config
    if request.method in config["WTF_CSRF_METHODS"] and config["WTF_CSRF_ENABLED"]:
        csrf.protect(apply_exemptions=True)


class SignedCsrfTokens:
    """The templates' `csrf_token()`: Flask-WTF's signed token, signed once per session in this worker.

    Flask-WTF signs the session's raw token (HMAC and a timestamp) on every page. With
    WTF_CSRF_TIME_LIMIT None a signature stays valid as long as the raw token, so the first one is
    kept, keyed by the raw token: a new session (sign-in, sign-out) has a new raw token and gets a
    new signature, and validation (validate_csrf against the session) is Flask-WTF's as before.
    """

    MAX_SIZE = 4096  # sessions remembered per worker; when full, the whole cache starts over

    def __init__(self) -> None:
        self.signed: dict[str, str] = {}

    def __call__(self) -> str:
        field = current_app.config["WTF_CSRF_FIELD_NAME"]
        if field not in g:  # the request's first call (generate_csrf keeps its answer in g, as this does)
            raw = session.get(field)
            signed = self.signed.get(raw) if isinstance(raw, str) else None
            if signed is None:
                signed = generate_csrf()  # signs the raw token, made first if the session has none
                if len(self.signed) >= self.MAX_SIZE:
                    self.signed.clear()
                self.signed[session[field]] = signed
            setattr(g, field, signed)  # where generate_csrf looks first: one token all request
        token: str = getattr(g, field)
        return token


class GoogleSignIn:
    """Sign in with Google for a Flask app, with the OpenID Connect and OAuth 2.0 security rules.

    It brings `/login`, `/callback`, `GET`/`POST /logout` (blueprint `auth`), sealed server-side
    sessions (files or Redis, through Flask-Session), CSRF protection for the sign-out form
    (Flask-WTF), the rate limit on `/login` (`LOGIN_RATE_LIMIT`), `current_user`, `login_required`,
    and the signals `signed_in` / `signed_out`. Configuration is the app's config, under the names
    the README lists (`SECRET_KEY`, `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET` are required);
    values given as text are parsed and checked, so an app may copy them from the environment::

        app = Flask(__name__)
        app.config.from_prefixed_env(prefix="APP")  # or any loader
        google_signin = GoogleSignIn(app)           # or GoogleSignIn() then init_app(app)

    Google APIs on the user's behalf come from the same package, asked for only when needed:
    `connect_scopes` (incremental authorization), `granted_scopes`, `authorized_get` (a 401 gets one
    refresh and a retry; refreshes are single-flight per session) and `disconnect_google`.

    The pages are templates the host may override: `google_signin/error.html` and
    `google_signin/logout.html` in the app's own templates folder win over the defaults.

    It takes over the app's session interface (`app.session_interface`) and sets the cookie
    policy the sign-in needs: HttpOnly, `SameSite=Lax` (Strict would drop the cookie on the
    provider's redirect back), and the idle clock written once a minute rather than each request.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        apply_settings(app.config, app.default_config)
        check_required(app.config)
        check_redis(app.config)
        if not app.config["SESSION_COOKIE_SECURE"] and not (app.debug or app.testing):
            log.warning("SESSION_COOKIE_SECURE is off: the session cookie also travels over plain http. "
                        "Set it to true wherever the site is served over https.")
        app.config.update(
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
            SESSION_REFRESH_EACH_REQUEST=False,  # the idle clock is written once a minute (sessions.py)
            WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        )
        init_sessions(app)
        csrf = app.extensions.get("csrf") or CSRFProtect(app)
        if app.config["WTF_CSRF_CHECK_DEFAULT"]:  # the same check, asked only where it can refuse (check_csrf)
            app.config["WTF_CSRF_CHECK_DEFAULT"] = False
            app.before_request(functools.partial(check_csrf, csrf))
        init_oauth(app)
        app.register_blueprint(views.bp)
        app.register_blueprint(accounts.bp)
        app.register_blueprint(risc.bp)
        app.cli.add_command(risc.cli)  # flask risc register|verify|status (risc_cli.py)
        csrf.exempt(risc.bp)  # a machine endpoint: the security event token is its authentication
        csrf.exempt(views.logout)  # checks its own origin and token (views.logout says why)
        init_limits(app)
        register_error_handlers(app)
        metrics.init_metrics(app)  # google_signin_* in prometheus_client's registry (metrics.py)
        csrf_token = SignedCsrfTokens()
        app.jinja_env.globals["csrf_token"] = csrf_token
        # After CSRFProtect's context processor, so this `csrf_token` replaces its generate_csrf.
        app.context_processor(lambda: {"current_user": current_user, "csrf_token": csrf_token})
        app.extensions["google_signin"] = self
