"""The "Your sessions" page: every session of the signed-in user, on every instance, and sign-out
of one, of all others, or everywhere (POST forms, CSRF-checked)."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..accounts.google_api import revoke_at_google
from ..accounts.index import (
    announce_end,
    end_indexed_session,
    end_user_sessions,
    handle,
    is_handle,
    on_sign_out,
    user_sessions,
)
from ..errors import SIGNED_OUT_EVERYWHERE
from ..sessions.identity import GoogleIdentity, identity, set_identity
from ..sessions.interface import current_id, end_session
from .csrf import exempt_from_flask_wtf, valid_csrf
from .pages import refuse_other_hosts

log = logging.getLogger(__name__)
bp = Blueprint("google_signin_sessions", __name__, template_folder="templates")
exempt_from_flask_wtf(bp)
bp.before_request(refuse_other_hosts)


@bp.app_template_filter("google_signin_time")
def minute(timestamp: int) -> str:
    """The minute is enough: "2026-12-01 18:40 UTC"."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


@bp.app_template_filter("google_signin_datetime")
def machine_time(timestamp: int) -> str:
    """For `<time datetime="...">`, which a host's script may show in the reader's time zone: "2026-12-01T18:40:00Z"."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@bp.get("/sessions")
def sessions_page() -> ResponseReturnValue:
    who = identity()
    if who is None:
        return redirect(url_for("google_signin.login", next=url_for(".sessions_page")))
    current = current_id()
    entries = sorted(user_sessions(who.sub).items(),
                     key=lambda item: (item[0] != current, -item[1]["last_active"]))
    rows = [{"handle": handle(sid), "current": sid == current, **entry} for sid, entry in entries]
    others = sum(not row["current"] for row in rows)  # "Sign out all other sessions" alone would do nothing
    return render_template("google_signin/sessions.html", rows=rows, others=others)


def signed_in_user() -> GoogleIdentity:
    """The forms below act for a signed-in user only, with this session's CSRF token (else 400)."""
    who = identity()
    if who is None:
        abort(403)
    if not valid_csrf():
        abort(400, "The form expired. Please reload the page and try again.")
    return who


@bp.post("/sessions/end")
def end_one() -> ResponseReturnValue:
    who = signed_in_user()
    wanted = request.form.get("session", "")
    for session_id in user_sessions(who.sub):
        if is_handle(wanted, session_id) and session_id != current_id():
            end_indexed_session(who.sub, session_id, "ended_elsewhere")
    return redirect(url_for(".sessions_page"), code=303)


@bp.post("/sessions/others")
def end_others() -> ResponseReturnValue:
    who = signed_in_user()
    end_user_sessions(who.sub, "ended_elsewhere", keep_sid=current_id())
    return redirect(url_for(".sessions_page"), code=303)


@bp.post("/sessions/all")
def end_all() -> ResponseReturnValue:
    """Every session, this one included; the grant at Google too (it covers every device)."""
    who = signed_in_user()
    revoke_at_google(who.sub)
    end_user_sessions(who.sub, "everywhere", keep_sid=current_id())
    on_sign_out(who.sub, current_id())
    log.info("session ended", extra={"event": "session_ended", "reason": "everywhere", "sub": who.sub})
    end_session(SIGNED_OUT_EVERYWHERE)
    set_identity(None)
    announce_end(who.sub, "everywhere", user=who)
    return redirect(request.script_root + "/", code=303)
