"""Google ID tokens as bearer credentials, on the views that accept them (`login_required(bearer=True)`).

An Android or iOS app, or another service, calls such a view with `Authorization: Bearer <ID token>`
(RFC 6750 2.1) instead of a session cookie. The token is verified as the OpenID client verifies any ID
token it did not ask for (`GoogleClient.verify_id_token`), against GOOGLE_SIGNIN_BEARER_AUDIENCES; then
the allow-lists and the host's user_loader decide, as at a sign-in. Nothing of a session takes part: no
store read or write, no cookie, no CSRF token (a browser never adds this header by itself, so a request
forged from another site cannot carry it).

The answers are RFC 6750 3.1's: no credentials, 401 with a bare `Bearer realm` challenge (guard.py);
a token that fails a check, 401 with `error="invalid_token"`; a valid token of a user who is refused,
403. The token is never logged; a refusal is, with its reason and the `sub` once known.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Response, after_this_request, current_app, request
from joserfc.errors import JoseError

from .. import metrics
from ..accounts.groups import check_allowed_groups
from ..accounts.policy import check_access
from ..errors import TITLES, SignInError
from ..oidc.client import FAILURE_TTL, IDTokenError, google
from ..sessions.identity import GoogleIdentity, set_identity
from ..settings import settings
from .pages import problem

log = logging.getLogger(__name__)

BEARER_VIEW = "google_signin_bearer"  # set on a view function that accepts bearer tokens
KEY = "flask_google_signin.bearer"  # in the request's WSGI environ: its token was looked at, and why refused
MAX_LENGTH = 8192  # characters: Google's ID tokens are one or two thousand; anything longer is not one
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
NOT_IN_REALM = re.compile(r"[^A-Za-z0-9.:\[\]-]")  # a Host header goes into a quoted string


class BearerRefused(Exception):
    """A bearer token that gives no identity: `status` 401 (the token), 403 (the user), or the provider's
    5xx; `reason` is for the log and the answer, and never holds anything of the token but its `sub`."""

    def __init__(self, status: int, reason: str, sub: str | None = None, detail: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.sub = sub
        self.detail = detail  # what a 5xx says: the provider's keys, or group membership, could not be had


def mark(view: Callable[..., Any]) -> None:
    setattr(view, BEARER_VIEW, True)


def enabled() -> bool:
    """Whether any audience is configured: without one, bearer tokens are ignored everywhere."""
    return bool(settings()["BEARER_AUDIENCES"])


def for_this_view() -> bool:
    """Whether the view this request reached accepts bearer tokens (looked up before it runs, so that
    `current_user` is the token's from the first asker of the request on)."""
    if not enabled():  # asked of every request without a session: nothing more to do in the usual case
        return False
    return getattr(current_app.view_functions.get(request.endpoint or ""), BEARER_VIEW, False)


def bearer_token() -> str | None:
    """The token of `Authorization: Bearer <token>` (the scheme in any case, RFC 7235 2.1); None for
    no header, another scheme, or no token."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def load_bearer(loader: Callable[[GoogleIdentity], Any] | None) -> None:
    """Once a request, on a view that accepts them and without a signed-in session: this request's
    identity from its bearer token, or the reason it has none (`refusal()`)."""
    if KEY in request.environ:
        return
    request.environ[KEY] = None
    after_this_request(vary_on_authorization)
    raw = bearer_token()
    if raw is None:
        return
    try:
        who, user = identify(raw, loader)
    except BearerRefused as refused:
        request.environ[KEY] = refused
        outcome = {401: "invalid_token", 403: "refused"}.get(refused.status, "unavailable")
        level = logging.WARNING if outcome == "unavailable" else logging.INFO
        log.log(level, "bearer token refused", extra={"event": "bearer_refused", "reason": refused.reason,
                                                      "sub": refused.sub, "status": refused.status})
        metrics.bearer(outcome)
        return
    set_identity(who, user)
    metrics.bearer("accepted")


def identify(raw: str, loader: Callable[[GoogleIdentity], Any] | None) -> tuple[GoogleIdentity, Any]:
    """The Google identity a token proves and the host's user for it; raises BearerRefused."""
    if len(raw) > MAX_LENGTH or not COMPACT_JWS.fullmatch(raw):
        raise BearerRefused(401, "malformed")
    try:
        claims = google().verify_id_token(raw, settings()["BEARER_AUDIENCES"])
    except IDTokenError as exc:  # its messages are the verifier's own fixed sentences
        raise BearerRefused(401, str(exc)) from None
    except JoseError as exc:  # its messages may quote the token (a kid): only the error's code
        raise BearerRefused(401, exc.error or "malformed") from None
    except (ValueError, TypeError):
        raise BearerRefused(401, "malformed") from None
    except SignInError as exc:  # the provider's keys could not be had: not the caller's fault
        raise BearerRefused(exc.status, exc.code) from None
    who = GoogleIdentity(claims, claims, via="bearer")
    try:
        check_access(claims)
        check_allowed_groups(claims, signing_in=False)  # the cached answers are the only store write
    except SignInError as exc:
        if exc.code == "groups_unavailable":  # never let in unchecked
            raise BearerRefused(503, exc.code, who.sub, "Group membership cannot be checked now. Try again shortly.") \
                from None
        raise BearerRefused(403, exc.reason, who.sub) from None
    user = loader(who) if loader else who
    if user is None:
        raise BearerRefused(403, "user_loader", who.sub)
    return who, user


def refusal() -> BearerRefused | None:
    """Why this request's bearer token gave no identity; None when it had none, or was not looked at."""
    refused: BearerRefused | None = request.environ.get(KEY)
    return refused


def refused_response(refused: BearerRefused) -> Response:
    """RFC 6750 3.1 for a token that fails a check, 403 for a refused user, the provider's status
    (with Retry-After) when its keys could not be had; problem details (RFC 9457) every time."""
    if refused.status == 401:
        response = problem(401, "Invalid token", f"The bearer token was refused: {refused.reason}.")
        response.headers["WWW-Authenticate"] = challenge(error="invalid_token", error_description=refused.reason)
    elif refused.status == 403:
        response = problem(403, TITLES[403], "This account has no access to this resource.")
    else:
        response = problem(refused.status, TITLES.get(refused.status, "Error"), refused.detail or
                           "The sign-in provider's keys could not be fetched to check the token. Try again shortly.")
        response.headers["Retry-After"] = str(int(FAILURE_TTL))
    return response


def challenge(**params: str) -> str:
    """`Bearer realm="<the site's host>"`, then `params` (RFC 6750 3: none when no token was sent)."""
    realm = settings()["public_host"] or NOT_IN_REALM.sub("", request.host)
    return ", ".join([f'Bearer realm="{realm}"', *(f'{name}="{value}"' for name, value in params.items())])


def vary_on_authorization(response: Response) -> Response:
    """A bearer view's answer depends on the Authorization header: a cache must key on it."""
    response.vary.add("Authorization")
    return response
