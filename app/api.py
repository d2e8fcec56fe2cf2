"""The app's JSON API: who is calling, by session cookie or by bearer ID token (an app, a service)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from flask_google_signin import current_user, login_required

bp = Blueprint("api", __name__)


@bp.get("/api/me")
@login_required(bearer=True)
def me() -> ResponseReturnValue:
    """The signed-in identity; `via` says whether the session cookie or a bearer token proved it."""
    return jsonify(sub=current_user.sub, email=current_user.email, email_verified=current_user.email_verified,
                   name=current_user.name, hd=current_user.hd, via=current_user.via)
