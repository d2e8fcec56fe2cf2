"""The pages people see: home and profile."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from flask_google_signin import (
    GoogleAccess,
    current_session,
    current_user,
    google_access,
    member_of,
    refresh_google_access,
)

from .calendar import CALENDAR_SCOPE, calendar_connected

bp = Blueprint("pages", __name__)


NAME_LENGTH = 80  # characters of a name in the header and headings
CLAIM_LENGTH = 200  # characters of one value in the profile's claims table

# Template filters. Every value from the provider may be of any JSON type or size (a name that is
# a list, a picture that is a number): the templates show provider values only through these.


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(user: object, key: str) -> str:
    """The user's `key` attribute (a mapping's item) when it is a non-blank string, else ""."""
    value = user.get(key) if isinstance(user, Mapping) else getattr(user, key, None)
    return value.strip() if isinstance(value, str) else ""


@bp.app_template_filter("display_name")
def display_name(user: object, fallback: str = "Signed in") -> str:
    """The name to show: the provider's name, else the email, else `fallback`."""
    return shorten(_text(user, "name") or _text(user, "email") or fallback, NAME_LENGTH)


@bp.app_template_filter("initials")
def initials(user: object) -> str:
    """Up to two initials for the avatar, from the name or the email; "?" without either."""
    words = (_text(user, "name") or _text(user, "email")).split()
    return "".join(word[0] for word in words[:2]).upper() or "?"


@bp.app_template_filter("picture_url")
def picture_url(user: object) -> str:
    """The avatar's address only when it is an https URL (the CSP allows no other); "" draws the initials."""
    url = _text(user, "picture")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ in the host
        return ""
    return url if parts.scheme == "https" and parts.hostname and len(url) <= 2048 else ""


@bp.app_template_filter("claim")
def claim(value: object) -> str:
    """A claim as text: strings as they are, anything else as compact JSON (true, null, [..], {..}); long values cut."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                                                           default=str)
    return shorten(text, CLAIM_LENGTH)


def _utc(timestamp: object) -> datetime | None:
    """A Unix time as a UTC datetime; None for anything else (missing, a string, an impossible year)."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float) or not timestamp:
        return None
    try:
        return datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


@bp.app_template_filter("isotime")
def isotime(timestamp: object) -> str:
    """For people: 2026-12-01 18:40 UTC."""
    moment = _utc(timestamp)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "unknown"


@bp.app_template_filter("datetime_attr")
def datetime_attr(timestamp: object) -> str:
    """For a <time datetime="...">: ISO 8601 in UTC, 2026-12-01T18:40:00Z ("" when there is no time)."""
    moment = _utc(timestamp)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def refresh_token_asked(access: GoogleAccess) -> str:
    """Who asked Google for a refresh token ("sign-in", "calendar"), or "" when nothing did. Google sends
    one only when asked for offline access; some providers (the local one) send one anyway, and the
    profile does not show that one as if this site had wanted it."""
    if current_app.config.get("GOOGLE_SIGNIN_GOOGLE_OFFLINE_ACCESS"):
        return "sign-in"
    if CALENDAR_SCOPE in access.scopes | access.declined_scopes:  # a Calendar connect asks for offline access
        return "calendar"
    return ""


@bp.get("/")
def home() -> str:
    return render_template("home.html")


@bp.get("/profile")
def profile() -> BaseResponse | str:
    if not current_user:  # back to the path only: the page reads no query (full_path fails on one not UTF-8)
        return redirect(url_for("google_signin.login", next=request.path))
    refresh_google_access()
    access = google_access()
    info = current_session()
    if info is None:  # ended by the refresh (a security event): signed out meanwhile
        return redirect(url_for("google_signin.login", next=request.path))
    return render_template(
        "profile.html",
        userinfo=info.userinfo,
        scopes=sorted(access.scopes),
        token_expires_at=access.expires_at,
        has_refresh_token=access.has_refresh_token,
        refresh_token_asked=refresh_token_asked(access),
        google_access=access.active,
        signed_in_with=info.signed_in_with,
        calendar_connected=calendar_connected(),
        groups=member_of(),  # the allowed groups that let the user in (none configured: empty)
        signed_in_at=info.signed_in_at,
        session_expires_at=info.expires_at,
        idle_minutes=info.idle_timeout // 60,
        now=int(time.time()),
    )
