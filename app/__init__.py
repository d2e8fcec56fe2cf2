"""The reference app: Google sign-in (the `flask_google_signin` extension) plus its own pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf import CSRFProtect

from flask_google_signin import GOOGLE_METADATA_URL, GoogleSignIn

from . import admin, api, calendar, health, pages
from .assets import init_assets
from .config import ROOT, ConfigError, app_config, by_variable
from .env import environment
from .errors import register_errorhandlers
from .logs import init_logging
from .security import init_csp, init_security


def create_app(overrides: dict[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Defaults -> `.env` -> environment (or `environ`) -> `overrides`; fails fast on a missing secret."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.update(app_config(environment() if environ is None else environ, overrides or {}))

    init_logging(app)
    init_security(app)
    init_assets(app)
    CSRFProtect(app)  # the app's own forms (Calendar's disconnect); the extension checks its own
    try:
        google_signin = GoogleSignIn(app)
    except ConfigError as exc:
        raise ConfigError(by_variable(str(exc))) from None
    init_csp(app)
    register_blueprints(app)
    google_signin.session_exempt(health.healthz)  # probes answer whatever the session store does
    google_signin.session_exempt(health.readyz)
    register_errorhandlers(app)
    # The banner: anything but Google's own discovery URL is a test provider (set once: the provider is
    # chosen at start, so no page has to work it out again).
    app.add_template_global(app.config["GOOGLE_SERVER_METADATA_URL"] != GOOGLE_METADATA_URL, "local_provider")
    return app


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(calendar.bp)
    app.register_blueprint(api.bp)
    admin.init_admin(app)

