"""The "Your sessions" page: every session of the signed-in user, on every instance, and sign-out
of one, of all others, or everywhere (POST forms, CSRF-checked)."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request
from flask.typing import ResponseReturnValue

from .. import metrics
from ..accounts.google_api import revoke_at_google
from ..accounts.index import end_indexed_session, end_user_sessions, handle, index
from ..errors import SIGNED_OUT_EVERYWHERE
from ..sessions.interface import current_id, end_session

log = logging.getLogger(__name__)
bp = Blueprint("sessions", __name__, template_folder="templates")


@bp.app_template_filter("google_signin_time")
def minute(timestamp: int) -> str:
    """The minute is enough: "2026-12-01 18:40 UTC"."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


@bp.get("/sessions")
def sessions_page() -> ResponseReturnValue:
    user = g.get("user")
    if not user:
        return redirect(f"{request.script_root}/login?next=/sessions")
    current = current_id()
    entries = sorted(index().entries(index().user_key(user["sub"])).items(),
                     key=lambda item: (item[0] != current, -item[1]["last_active"]))
    rows = [{"handle": handle(sid), "current": sid == current, **entry} for sid, entry in entries]
    return render_template("google_signin/sessions.html", rows=rows)


def signed_in_user() -> Any:
    """The forms below act for a signed-in user only (CSRFProtect has already checked the token)."""
    user = g.get("user")
    if not user:
        abort(403)
    return user


@bp.post("/sessions/end")
def end_one() -> ResponseReturnValue:
    user = signed_in_user()
    wanted, key = request.form.get("session", ""), index().user_key(user["sub"])
    for session_id in index().entries(key):
        if hmac.compare_digest(handle(session_id), wanted) and session_id != current_id():
            end_indexed_session(user["sub"], key, session_id, "signed out elsewhere")
    return redirect(f"{request.script_root}/sessions", code=303)


@bp.post("/sessions/others")
def end_others() -> ResponseReturnValue:
    user = signed_in_user()
    end_user_sessions(user["sub"], "signed out elsewhere", keep_sid=current_id())
    return redirect(f"{request.script_root}/sessions", code=303)


@bp.post("/sessions/all")
def end_all() -> ResponseReturnValue:
    """Every session, this one included; the grant at Google too (it covers every device)."""
    user = signed_in_user()
    revoke_at_google(user["sub"])
    end_user_sessions(user["sub"], "signed out everywhere", keep_sid=current_id())
    index().remove(index().user_key(user["sub"]), current_id())
    log.info("session ended", extra={"event": "session_ended", "reason": "signed out everywhere", "sub": user["sub"]})
    end_session(SIGNED_OUT_EVERYWHERE)
    metrics.session_ended("everywhere")
    return redirect(request.script_root + "/", code=303)
