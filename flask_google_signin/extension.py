"""`GoogleSignIn`: the extension object, which wires the layers below into a Flask app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from flask_wtf import CSRFProtect

from . import metrics
from .accounts.index import SessionIndex
from .oidc.client import init_oauth
from .sessions.interface import PENDING_LIFETIME, init_sessions
from .sessions.limits import init_limits
from .settings import apply_settings, check_redis, check_required
from .store import TimedRecords, Vault, namespace, open_records
from .web import cli, guard, pages, risc, sessions_page, signin

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class GoogleSignIn:
    """Sign in with Google for a Flask app, with the OpenID Connect and OAuth 2.0 security rules.

    It brings `/login`, `/callback`, `GET`/`POST /logout` (blueprint `auth`), sealed server-side
    sessions (files or Redis, through Flask-Session), CSRF protection for the sign-out form
    (Flask-WTF), the rate limit on `/login` (`LOGIN_RATE_LIMIT`), `current_user`, `login_required`,
    and the signals `signed_in` / `signed_out`. Configuration is the app's config, under the names
    docs/configuration.md lists (`SECRET_KEY`, `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET` are
    required); values given as text are parsed and checked, so an app may copy them from the
    environment::

        app = Flask(__name__)
        app.config.from_prefixed_env(prefix="APP")  # or any loader
        google_signin = GoogleSignIn(app)           # or GoogleSignIn() then init_app(app)

    The pages are templates the host may override: `google_signin/error.html`,
    `google_signin/logout.html` and `google_signin/sessions.html` in the app's own templates folder
    win over the defaults.

    It takes over the app's session interface (`app.session_interface`) and sets the cookie
    policy the sign-in needs: HttpOnly, `SameSite=Lax` (Strict would drop the cookie on the
    provider's redirect back), and the idle clock written once a minute rather than each request.
    """

    def __init__(self, app: Flask | None = None) -> None:
        self.exempt_views: list[Callable[..., Any]] = []
        if app is not None:
            self.init_app(app)

    def session_exempt(self, view: F) -> F:
        """Mark a view that never uses the session, such as a health check: its requests never ask
        the session store, so it answers even when the store does not. Its path must be fixed (no
        `<variables>`). Use it as a decorator, or call it with the view function."""
        self.exempt_views.append(view)
        return view

    def init_app(self, app: Flask) -> None:
        config = app.config
        config.setdefault("SESSION_CACHELIB_DIR", None)
        apply_settings(config, app.default_config)
        check_required(config)
        check_redis(config)
        config["SESSION_CACHELIB_DIR"] = config["SESSION_CACHELIB_DIR"] or f"{app.instance_path}/sessions"
        if not config["SESSION_COOKIE_SECURE"] and not (app.debug or app.testing):
            log.warning("SESSION_COOKIE_SECURE is off: the session cookie also travels over plain http. "
                        "Set it to true wherever the site is served over https.")
        config.update(
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
            SESSION_REFRESH_EACH_REQUEST=False,  # the idle clock is written once a minute (web/guard.py)
            WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        )
        space = namespace(config["GOOGLE_CLIENT_ID"])
        vault = Vault(TimedRecords(open_records(config, space, PENDING_LIFETIME)), config["SECRET_KEY"], space)
        init_sessions(app, vault, space).exempt_views = self.exempt_views
        app.extensions["google_signin_index"] = SessionIndex(vault, config["SECRET_KEY"], space)
        app.before_request(guard.check_session)
        csrf = app.extensions.get("csrf") or CSRFProtect(app)
        init_oauth(app)
        init_limits(app)
        app.register_blueprint(signin.bp)
        app.register_blueprint(sessions_page.bp)
        app.register_blueprint(risc.bp)
        app.cli.add_command(cli.cli)  # flask risc register|verify|status
        csrf.exempt(risc.bp)  # a machine endpoint: the security event token is its authentication
        csrf.exempt(signin.logout)  # checks its own origin and token (signin.logout says why)
        pages.register_error_handlers(app, vault.store_errors)
        metrics.init_metrics(app)
        app.context_processor(lambda: {"current_user": guard.current_user})
        app.extensions["google_signin"] = self
