"""The pages people see: home and profile."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, session, url_for

from .auth import refresh_if_needed

bp = Blueprint("pages", __name__)


@bp.app_template_filter("isotime")
def isotime(timestamp: float | None) -> str:
    if not timestamp:
        return "unknown"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


@bp.get("/")
def home() -> str:
    return render_template("home.html")


@bp.get("/profile")
def profile() -> Response | str:
    if not g.user:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not refresh_if_needed():
        return redirect(url_for("pages.home"))
    token = session["token"]
    idle = current_app.permanent_session_lifetime.total_seconds()
    return render_template(
        "profile.html",
        userinfo=session["userinfo"],
        scopes=token.get("scope", "").split(),
        token_expires_at=token.get("expires_at"),
        has_refresh_token=bool(token.get("refresh_token")),
        signed_in_at=session["signed_in_at"],
        session_expires_at=min(session["signed_in_at"] + current_app.config["SESSION_ABSOLUTE_LIFETIME"],
                               session["last_seen"] + idle),
        idle_minutes=int(idle // 60),
        now=int(time.time()),
    )
