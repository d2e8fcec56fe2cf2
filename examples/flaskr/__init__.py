"""Flask's tutorial app, flaskr, with "Sign in with Google" added beside its own password login.

Its users, `auth` blueprint, `g.user` and `login_required` stay its own; flask_google_signin is
mounted under /google and maps each Google account to a row of the app's `user` table
(auth.load_google_user). Settings come from the environment through Flask's loader:
FLASK_SECRET_KEY, FLASK_GOOGLE_CLIENT_ID, FLASK_GOOGLE_CLIENT_SECRET, and any other setting in
docs/configuration.md (FLASK_GOOGLE_SERVER_METADATA_URL, FLASK_GOOGLE_SIGNIN_COOKIE_SECURE, ...);
FLASK_DATABASE moves the SQLite file out of the instance folder.

    flask --app examples/flaskr init-db      # optional: the first start creates the tables
    flask --app examples/flaskr run          # or, in examples/: gunicorn "flaskr:create_app()"
"""

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import auth, blog, db


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        DATABASE=os.path.join(app.instance_path, "flaskr.sqlite"),
        GOOGLE_SIGNIN_BASE_TEMPLATE="base.html",  # the extension's pages (sign-out, errors) in this app's layout
    )
    app.config.from_prefixed_env()  # FLASK_SECRET_KEY=... becomes app.config["SECRET_KEY"], and so on
    if test_config is not None:
        app.config.from_mapping(test_config)
    os.makedirs(os.path.dirname(app.config["DATABASE"]), exist_ok=True)
    db.init_app(app)
    auth.google_signin.init_app(app, url_prefix="/google")  # its routes at /google/..., beside /auth/...
    app.register_blueprint(auth.bp)
    app.register_blueprint(blog.bp)
    app.add_url_rule("/", endpoint="index")
    return app
