"""Sign in with Google: the app factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app
from flask_wtf import CSRFProtect

from . import auth, health, pages
from .config import GOOGLE_METADATA_URL, ROOT, check_required, load_settings
from .errors import register_errorhandlers
from .limits import init_limits
from .logs import init_logging
from .oidc import init_oauth
from .security import init_security
from .sessions import init_sessions

csrf = CSRFProtect()


def create_app(overrides: dict[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Defaults -> `.env` -> environment (or `environ`) -> `overrides`; fails fast on a missing secret."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.update(load_settings(environ))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # Strict would drop the cookie on the provider's redirect back
        SESSION_REFRESH_EACH_REQUEST=False,  # the idle clock is written once a minute (sessions.py)
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    app.config.update(overrides or {})
    check_required(app.config)

    init_logging(app)
    init_security(app)
    init_sessions(app)
    csrf.init_app(app)
    init_oauth(app)
    register_blueprints(app)
    csrf.exempt(auth.logout)  # checks its own origin and token (auth.logout says why)
    init_limits(app)
    register_errorhandlers(app)
    app.context_processor(template_globals)
    return app


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)


def template_globals() -> dict[str, Any]:
    """The banner: anything but Google's own discovery URL is a test provider."""
    return {"local_provider": current_app.config["GOOGLE_SERVER_METADATA_URL"] != GOOGLE_METADATA_URL}
