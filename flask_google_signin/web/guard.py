"""Who is signed in, for every request: `check_session` loads them, `current_user` and
`login_required` are how a view asks."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g, redirect, request, url_for
from werkzeug.local import LocalProxy

from .. import metrics
from ..accounts import index as accounts
from ..errors import SESSION_EXPIRED, StoreUnavailable
from ..sessions.interface import TOUCH_INTERVAL, current_id, end_session, sealed_session, session_record

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

#: The signed-in user (`sub`, `name`, `email`, `email_verified`, `picture`, `hd`), or None.
current_user: Any = LocalProxy(lambda: g.get("user"))


def login_required(view: F) -> F:
    """Send anonymous visitors to the sign-in, and back here once they are signed in."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not g.get("user"):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def check_session() -> None:
    """Load the signed-in user into `g.user`, enforcing idle and absolute lifetimes."""
    g.user = None
    if request.endpoint == "static":  # the same file for everyone: the session is not read, so no
        return                        # `Vary: Cookie` keeps shared caches from keeping it (nor a store outage)
    if sealed_session().unavailable:
        raise StoreUnavailable("session store unavailable")
    record = session_record()
    user = record.get("user")
    if not user:
        return
    now = time.time()
    since_seen = now - record.get("last_seen", 0)
    if (now - record.get("signed_in_at", 0) > current_app.config["SESSION_ABSOLUTE_LIFETIME"]
            or since_seen > current_app.permanent_session_lifetime.total_seconds()):
        log.info("session expired", extra={"event": "session_expired", "sub": user.get("sub")})
        accounts.on_sign_out(user["sub"], current_id())
        end_session(SESSION_EXPIRED)
        metrics.session_ended("expiry")
        return
    g.user = user
    if since_seen >= TOUCH_INTERVAL:  # the idle clock, written at most once a minute
        record["last_seen"] = int(now)
        accounts.on_touch(user["sub"])
