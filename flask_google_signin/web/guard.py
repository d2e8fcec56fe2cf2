"""Who is signed in, for every request: `load_identity` reads the session (or, on a view that accepts
one, a bearer ID token: bearer.py) and runs the host's user_loader; `current_user` and
`login_required` are how a view asks."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload

from flask import Response, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.local import LocalProxy

from ..accounts import index as accounts
from ..accounts.groups import member_groups, recheck
from ..accounts.policy import check_access, fingerprint
from ..errors import (
    GROUP_LEFT,
    GROUP_UNVERIFIED,
    GROUPS_UNAVAILABLE,
    NOT_IN_REQUIRED_GROUP,
    POLICY_CHANGED,
    SESSION_EXPIRED,
    SIGNED_OUT,
    GroupsUnavailable,
    SignInError,
    StoreUnavailable,
)
from ..sessions.identity import ANONYMOUS, LOADER, GoogleIdentity, host_user, identity, is_loaded, set_identity
from ..sessions.interface import TOUCH_INTERVAL, current_id, end_session, sealed_session, session_end, session_record
from ..settings import settings
from . import bearer as bearer_tokens
from .pages import error_page, problem, this_path

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)


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
    """Once a request (before it, or when first asked): who is signed in. A signed-in session wins;
    without one, a view that accepts bearer tokens looks at the request's token."""
    if is_loaded():
        return
    set_identity(None)
    if request.endpoint == "static":  # the same file for everyone: the session is not read, so no
        return                        # `Vary: Cookie` keeps shared caches from keeping it
    load_session_identity()
    if identity() is None and bearer_tokens.for_this_view():
        bearer_tokens.load_bearer(hooks().user_loader)


def load_session_identity() -> None:
    """The session's user, looked up for the request, the idle and absolute timeouts enforced, the
    idle clock moved once a minute, and the host's user_loader run."""
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
    ended = recheck(record, found)  # ALLOWED_GROUPS, asked again once its answers are GROUPS_TTL old
    if ended is not None:
        log.info("session ended: group membership", extra={"event": "session_ended", "reason": ended,
                                                            "sub": found.sub})
        end_this_session(found, ended, GROUP_LEFT if ended == "group" else GROUP_UNVERIFIED)
        return
    set_identity(found)
    if sess.stale:  # the first request since a SECRET_KEY rotation: resealed, and indexed anew
        accounts.on_new_secret_key(found.sub)
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
    return sign_in_required()


def sign_in_required() -> Response:
    return problem(401, "Sign-in required", "Sign in with Google to use this resource.", login_url=login_url())


def unauthorized_api_call() -> Response:
    """What a caller without credentials gets from a view that accepts bearer tokens: the host's
    unauthorized_handler or the 401 problem details, with RFC 6750's challenge on a 401."""
    handler = hooks().unauthorized_handler
    response = current_app.make_response(handler() if handler is not None else sign_in_required())
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = bearer_tokens.challenge()
    return response


def refuse(accepts_bearer: bool) -> ResponseReturnValue:
    """The answer to a request without a signed-in user. On a view that accepts bearer tokens (with
    GOOGLE_SIGNIN_BEARER_AUDIENCES set), a request without the session cookie is an API call, never
    sent to the sign-in; a browser with the cookie is, as on any other view."""
    if not accepts_bearer:
        return unauthorized()
    refused = bearer_tokens.refusal()
    if refused is not None:
        return bearer_tokens.refused_response(refused)
    if settings()["cookie_name"] in request.cookies and is_navigation():
        return unauthorized()
    return unauthorized_api_call()


@overload
def login_required(view: F) -> F: ...


@overload
def login_required(*, bearer: bool = False) -> Callable[[F], F]: ...


def login_required(view: F | None = None, *, bearer: bool = False) -> F | Callable[[F], F]:
    """A view for signed-in users only: a visitor gets `unauthorized()`. It asks whether a Google
    identity is signed in (whatever the host's user_loader gives); OPTIONS passes (CORS preflight).

    `@login_required(bearer=True)`: the view also takes a Google ID token in `Authorization: Bearer`
    whose audience is one of GOOGLE_SIGNIN_BEARER_AUDIENCES (bearer.py); without that setting it is
    the plain decorator."""
    if view is None:
        return functools.partial(_guard, bearer=bearer)
    return _guard(view, bearer=bearer)


def _guard(view: F, *, bearer: bool) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method == "OPTIONS":
            return view(*args, **kwargs)
        accepts_bearer = bearer and bearer_tokens.enabled()
        if accepts_bearer and identity() is None:  # a no-op when load_identity found this view marked
            bearer_tokens.load_bearer(hooks().user_loader)
        if identity() is None:
            return refuse(accepts_bearer)
        return view(*args, **kwargs)

    if bearer:
        bearer_tokens.mark(wrapper)
    return cast(F, wrapper)


def group_refusal(who: GoogleIdentity | Any, groups: list[str]) -> ResponseReturnValue | None:
    """What `who` gets when a member of none of `groups` (403), or when membership cannot be told
    (503, never let in unchecked); None for a member, whose groups are then in `g`. `who` is a
    signed-in identity or an ID token's claims (a bearer token), so every way in is checked alike.
    A page for a browser, problem details for anything else (as `login_required` decides)."""
    try:
        found = member_groups(who, groups)
    except GroupsUnavailable:
        if is_navigation():
            return error_page(503, GROUPS_UNAVAILABLE)
        return problem(503, "Group membership cannot be checked", GROUPS_UNAVAILABLE)
    if not found:
        sub = who.sub if isinstance(who, GoogleIdentity) else who.get("sub")
        log.info("refused: not in the required group", extra={"event": "group_refused", "reason": ",".join(groups),
                                                                "sub": sub})
        if is_navigation():
            return error_page(403, NOT_IN_REQUIRED_GROUP)
        return problem(403, "Group membership required", NOT_IN_REQUIRED_GROUP)
    g.google_signin_groups = sorted(found)
    return None


def group_required(*groups: str) -> Callable[[F], F]:
    """A view for members of any of the named Google Workspace groups (their email addresses)::

        @group_required("admins@example.com")
        def admin(): ...

    A visitor gets `unauthorized()` (as from `login_required`); a signed-in user in none of the
    groups 403, and 503 when membership cannot be told (the Cloud Identity API down, the group not
    found); the rest of the site stays theirs. Answers are shared and kept for GROUPS_TTL seconds
    (docs/groups.md), so a member removed from the group is refused within that time. OPTIONS passes
    (CORS preflight). `member_of(...)` in the view says which group let the user in.
    """
    wanted = [group.strip().lower() for group in groups if group.strip()]
    if not wanted:
        raise ValueError("group_required needs at least one group email")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if request.method == "OPTIONS":
                return view(*args, **kwargs)
            who = identity()
            if who is None:
                return unauthorized()
            refused = group_refusal(who, wanted)
            if refused is not None:
                return refused
            return view(*args, **kwargs)

        wrapper.google_signin_groups = wanted  # type: ignore[attr-defined]  # configured_groups(): readiness
        return cast(F, wrapper)

    return decorate


def member_of(*groups: str) -> list[str]:
    """The groups the signed-in user is a member of: of those named (asking the Cloud Identity API
    only for answers older than GROUPS_TTL; raises GroupsUnavailable when it cannot tell), or, with
    none named, the GOOGLE_SIGNIN_ALLOWED_GROUPS that admitted the session (no call). Empty for a visitor."""
    who = identity()
    if who is None:
        return []
    if not groups:
        seen = session_record().get("groups")
        return list(seen["member_of"]) if seen else []
    wanted = [group.strip().lower() for group in groups]
    if set(wanted) <= set(g.get("google_signin_groups", [])):  # group_required asked just now
        return wanted
    return sorted(member_groups(who, wanted))


LOADER.append(load_identity)
