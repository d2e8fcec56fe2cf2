"""Who is signed in, for every request: `load_identity` reads the session (and runs the host's
user_loader); `current_user` and `login_required` are how a view asks."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import current_app, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.local import LocalProxy

from ..accounts import index as accounts
from ..accounts.policy import check_access, fingerprint
from ..errors import POLICY_CHANGED, SESSION_EXPIRED, SIGNED_OUT, SignInError, StoreUnavailable
from ..sessions.identity import ANONYMOUS, LOADER, GoogleIdentity, host_user, identity, is_loaded, set_identity
from ..sessions.interface import TOUCH_INTERVAL, current_id, end_session, sealed_session, session_end, session_record
from .pages import this_path

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


@dataclass
class Hooks:
    """What the host gave GoogleSignIn: its user_loader and unauthorized_handler (None: the defaults)."""

    user_loader: Callable[[GoogleIdentity], Any] | None = None
    unauthorized_handler: Callable[[], ResponseReturnValue] | None = None


def hooks() -> Hooks:
    found: Hooks = current_app.extensions["google_signin_hooks"]
    return found


def _current_user() -> Any:
    user = host_user()
    return ANONYMOUS if user is None else user


#: The signed-in user: the host's own object (user_loader), else a GoogleIdentity; a visitor is an
#: AnonymousIdentity (falsy, `is_authenticated` False). Never None.
current_user: Any = LocalProxy(_current_user)


def load_identity() -> None:
    """Once a request (before it, or when first asked): who is signed in, looked up for the request,
    the idle and absolute timeouts enforced, the idle clock moved once a minute, and the host's
    user_loader run."""
    if is_loaded():
        return
    set_identity(None)
    if request.endpoint == "static":  # the same file for everyone: the session is not read, so no
        return                        # `Vary: Cookie` keeps shared caches from keeping it
    sess = sealed_session()
    if sess.unavailable:
        raise StoreUnavailable("session store unavailable")
    if not sess.server_side:
        return
    record = session_record()
    user = record.get("user")
    if not user:
        return
    found = GoogleIdentity(user, record.get("userinfo"))
    now = time.time()
    end, why = session_end(record)
    if now >= end:  # within the grace the record outlives its session by
        log.info("session expired", extra={"event": "session_expired", "reason": why, "sub": found.sub})
        end_this_session(found, why, SESSION_EXPIRED)
        return
    if record.get("policy") != fingerprint():  # admitted under other allow-lists: checked again
        try:
            check_access(user)
        except SignInError as exc:
            log.info("session ended: the allow-lists no longer admit the user",
                     extra={"event": "session_ended", "reason": f"policy: {exc.reason}", "sub": found.sub})
            end_this_session(found, "policy", POLICY_CHANGED)
            return
        record["policy"] = fingerprint()
    set_identity(found)
    if now - record.get("last_seen", 0) >= TOUCH_INTERVAL:  # the idle clock, written at most once a minute
        record["last_seen"] = int(now)
        accounts.on_touch(found.sub)
    loader = hooks().user_loader
    host_user = loader(found) if loader else found
    if host_user is None:
        log.info("user_loader refused the user: session ended", extra={"event": "session_ended",
                                                                         "reason": "user_loader", "sub": found.sub})
        end_this_session(found, "user_loader", SIGNED_OUT)
        return
    set_identity(found, host_user)


def end_this_session(who: GoogleIdentity, reason: str, message: str) -> None:
    """This request's session ends: out of the index, its record deleted, the signal sent, a message left."""
    accounts.on_sign_out(who.sub, current_id())
    end_session(message)
    set_identity(None)
    accounts.announce_end(who.sub, reason, user=who)


# --------------------------------------------------------------------------- asking for a signed-in user


def is_navigation() -> bool:
    """A browser loading a page, as opposed to a script or an API client: a request that asks for
    JSON without HTML, says it is an XMLHttpRequest, or carries a Sec-Fetch-Mode other than
    `navigate` is not one; a request without these headers is."""
    asked = {value for value, quality in request.accept_mimetypes if quality}
    if "application/json" in asked and "text/html" not in asked:
        return False
    if request.headers.get("X-Requested-With", "").lower() == "xmlhttprequest":
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    return mode is None or mode == "navigate"


def login_url() -> str:
    """Where a visitor signs in, coming back to this request's page."""
    return url_for("google_signin.login", next=this_path())


def unauthorized() -> ResponseReturnValue:
    """What a visitor gets from a view that needs a signed-in user: the host's unauthorized_handler,
    else a redirect to the sign-in for a page, and 401 problem details (RFC 9457) for anything else."""
    handler = hooks().unauthorized_handler
    if handler is not None:
        return handler()
    if is_navigation():
        return redirect(login_url())
    response = jsonify(type="about:blank", status=401, title="Sign-in required",
                       detail="Sign in with Google to use this resource.", login_url=login_url())
    response.status_code = 401
    response.mimetype = PROBLEM_JSON
    return response


def login_required(view: F) -> F:
    """A view for signed-in users only: a visitor gets `unauthorized()`. It asks whether a Google
    identity is signed in (whatever the host's user_loader gives); OPTIONS passes (CORS preflight)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method != "OPTIONS" and identity() is None:
            return unauthorized()
        return view(*args, **kwargs)

    return cast(F, wrapper)


LOADER.append(load_identity)
