"""The sign-in story: /login starts it, /callback finishes it, POST /logout ends it; and
`connect_scopes`, which asks Google for more access through the same /callback."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import BadRequest
from werkzeug.local import LocalProxy
from werkzeug.wrappers import Response as BaseResponse

from .. import metrics
from ..accounts import index as accounts
from ..accounts.devices import describe_browser
from ..accounts.google_api import revoke_at_google
from ..accounts.groups import check_allowed_groups
from ..accounts.policy import check_access, fingerprint
from ..errors import SIGN_OUT_CROSS_SITE, SIGN_OUT_FORM_EXPIRED, SIGNED_OUT, SignInError, StoreUnavailable
from ..oidc.client import google, keep_token, provider_errors
from ..sessions.identity import GoogleIdentity, identity, set_identity
from ..sessions.interface import current_id, end_session, sealed_session, session_interface, session_record
from ..sessions.record import Connect, SessionRecord, User
from ..settings import settings
from ..signals import signed_in
from .csrf import exempt_from_flask_wtf, valid_csrf
from .guard import hooks
from .pages import refuse_other_hosts, refuse_unreadable_query, safe_next, this_path

bp = Blueprint("google_signin", __name__, template_folder="templates")
# What a session holds for the sign-in; anything else in it is the host's, and a visitor's is kept
# through sign-in. Flask-WTF's raw CSRF token is not: a token a visitor's cookie carried (maybe
# planted) must not protect the signed-in session.
SIGN_IN_KEYS = frozenset(SessionRecord.__annotations__) - {"_flashes"}
exempt_from_flask_wtf(bp)
bp.before_request(refuse_other_hosts)
bp.before_request(refuse_unreadable_query)
log = logging.getLogger(__name__)

PROVIDER_ERRORS = {"access_denied": "access_denied", "temporarily_unavailable": "provider_busy",
                   "server_error": "provider_failed"}


def redirect_uri() -> str:
    """Pinned by PUBLIC_BASE_URL when set; otherwise from the request (trusted proxies only)."""
    base = settings()["PUBLIC_BASE_URL"]
    if base:
        return f"{base.rstrip('/')}{url_for('google_signin.callback')}"
    return url_for("google_signin.callback", _external=True)


def _app() -> Flask:
    """The app itself rather than its proxy, as the sender of a signal (Flask types the proxy as Flask)."""
    return cast("LocalProxy[Flask]", current_app)._get_current_object()


@bp.get("/login")
def login() -> BaseResponse:
    next_url = safe_next(request.args.get("next"))
    if identity() is not None and session_record().get("token"):
        return redirect(next_url)  # signed in with Google access: nothing to renew
    params: dict[str, str] = {}
    if settings()["GOOGLE_OFFLINE_ACCESS"]:
        params.update(access_type="offline", prompt="consent")  # Google only sends a refresh token then
    domains = settings()["ALLOWED_DOMAINS"]
    if domains:  # only a hint for Google's account chooser; the hd claim is what we check
        params["hd"] = domains[0] if len(domains) == 1 else "*"
    with provider_errors():
        return redirect(google().start(redirect_uri(), next_url, **params))


@bp.get("/callback")
def callback() -> BaseResponse:
    """The end of a sign-in, or of a connect (`connect_scopes`): the pending record says which."""
    client = google()
    state = request.args.get("state")
    sub = None
    connect = None
    try:
        with provider_errors():
            pending = client.pending(state)
            g.signin_next = pending.get("next") if pending else None  # "Try again" keeps it
            connect = pending.get("connect") if pending else None
            g.signin_connect = connect  # the error page says nothing was connected, and offers the connect again
            error = request.args.get("error")
            if connect and pending and error == "access_denied":
                return connect_declined(connect, pending["next"])
            if error:
                raise provider_error(error, request.args.get("error_description"), trusted=pending is not None)
            if pending is None:
                raise SignInError("state_invalid", "state missing, unknown, expired or replayed")
            if not request.args.get("code"):
                raise SignInError("no_code", "callback without code")
            token = client.authorize_access_token()
            claims = dict(token["userinfo"])
            sub = claims["sub"]
            if connect:
                check_connect(connect, claims)
            else:
                userinfo = client.fetch_userinfo(token, claims)
            check_access(claims)
    except SignInError as exc:  # the pending sign-in was taken when read: a failed attempt is spent
        what, event = ("connect", "connect_refused") if connect else ("sign-in", "sign_in_refused")
        log.warning(f"{what} refused", extra={"event": event, "reason": exc.reason, "sub": sub})
        if not connect:
            metrics.signin("refused", exc.code)
        raise
    except StoreUnavailable:
        if not connect:
            metrics.signin("failed", "store_unavailable")
        raise
    if connect:
        return finish_connect(connect, token, pending["next"])
    try:
        who = sign_in(claims, userinfo, token)
    except StoreUnavailable:
        metrics.signin("failed", "store_unavailable")
        raise
    except SignInError as exc:  # the host's user_loader refused the user
        log.warning("sign-in refused", extra={"event": "sign_in_refused", "reason": exc.reason, "sub": sub})
        metrics.signin("refused", exc.code)
        raise
    metrics.signin("success")
    log.info("signed in", extra={"event": "sign_in", "sub": sub})
    signed_in.send(_app(), user=who, userinfo=userinfo)
    return redirect(pending.get("next") or request.script_root + "/")


def provider_error(error: str, description: str | None, trusted: bool) -> SignInError:
    """The provider's `error` redirect. Its free text is shown (escaped) only with a valid state,
    so nobody can put words on our page with a crafted link."""
    code = error if re.fullmatch(r"[a-z_]{1,40}", error) else "unknown_error"
    kind = PROVIDER_ERRORS.get(code, "provider_error")
    if kind == "access_denied" and not trusted:  # a sign-in or a connect? Without its state, nobody can tell
        kind = "access_denied_unknown"
    return SignInError(kind, f"provider error {code}", provider_code=code, said=(description or "") if trusted else "")


def sign_in(claims: Mapping[str, Any], userinfo: dict[str, Any], token: Mapping[str, Any] | None,
            method: str | None = None) -> GoogleIdentity:
    """A new server-side session under a new id (no fixation), holding what the pages need, and
    what the host kept in the visitor's session; stored before it returns. The host's user_loader
    is asked first: None refuses the sign-in (403), and nothing is stored. Before it, with
    GOOGLE_SIGNIN_ALLOWED_GROUPS set, the user's groups: every way in comes through here. `method`:
    "one_tap", or None for the redirect."""
    now = int(time.time())
    groups = check_allowed_groups(claims, signing_in=True)

    def claim(name: str) -> Any:  # userinfo's value, else the ID token's
        return userinfo.get(name, claims.get(name))

    user: User = {"sub": claim("sub"), "name": claim("name"), "email": claim("email"),
                  "email_verified": claim("email_verified"), "picture": claim("picture"), "hd": claims.get("hd")}
    who = GoogleIdentity(user, userinfo)
    loader = hooks().user_loader
    if loader is not None:
        who.signing_in = True
        try:
            if loader(who) is None:
                raise SignInError("user_refused", "the host's user_loader refused the user")
        finally:
            who.signing_in = False
    kept = {key: value for key, value in session.items() if key not in SIGN_IN_KEYS and key != "csrf_token"}
    session.clear()
    record: SessionRecord = {"user": user, "userinfo": userinfo, "signed_in_at": now, "last_seen": now,
                             "policy": fingerprint()}
    if token is not None:
        record["token"] = keep_token(token)
    if method:
        record["method"] = method
    if groups is not None:
        record["groups"] = groups
    record["browser"] = describe_browser(request.headers.get("User-Agent", ""))
    session.update({**kept, **record})
    session_interface().regenerate(sealed_session())
    session_interface().write_now(sealed_session())  # stored before "signed in" is logged
    accounts.on_sign_in(user["sub"])
    set_identity(who)
    return who


class SignOutRefused(BadRequest):
    title = "Sign-out could not be completed"


@bp.get("/logout")
def logout_page() -> str:
    """A page with the sign-out button, for a bookmarked or typed /logout; it signs nobody out."""
    return render_template("google_signin/logout.html")


@bp.post("/logout")
def logout() -> BaseResponse:
    """Ends the session (303), from any page, also when it already expired.

    Exempt from the host's Flask-WTF checks, whose strict Referer rule fails over https on the
    /callback error page (Referrer-Policy: no-referrer). Checked here instead: a browser's
    cross-site POST is refused, and a live session needs its CSRF token. With no live session
    there is nothing to end and nothing is written.
    """
    if not same_origin():
        raise SignOutRefused(SIGN_OUT_CROSS_SITE)
    who = identity()
    if who is not None:
        if not valid_csrf():
            raise SignOutRefused(SIGN_OUT_FORM_EXPIRED)
        if not accounts.other_live_sessions(who.sub):  # the grant covers every device: revoke it with the last
            revoke_at_google(who.sub)
        accounts.on_sign_out(who.sub, current_id())
        log.info("signed out", extra={"event": "sign_out", "sub": who.sub})
        end_session(SIGNED_OUT)
        set_identity(None)
        accounts.announce_end(who.sub, "sign_out", user=who)
    return redirect(request.script_root + "/", code=303)  # the host's home page, whatever it is called


def same_origin() -> bool:
    """Fetch metadata (Sec-Fetch-Site), else Origin: a browser says when a POST comes from elsewhere."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin in (None, "null") or origin == request.host_url.rstrip("/")


# --------------------------------------------------------------------------- more Google access


def connect_scopes(purpose: str, scopes: Sequence[str], next_url: str = "/") -> BaseResponse:
    """Incremental authorization: ask Google for `scopes` on top of the sign-in's, for the signed-in user.

    The request carries `include_granted_scopes=true` (the new token also covers what the user granted
    before), `access_type=offline` and `prompt=consent` (Google sends a refresh token only then),
    `login_hint` (the signed-in account), and state, nonce and PKCE as a sign-in does. It comes back
    through /callback, which puts the new token in the session only if its ID token passes every
    check and names the same user. What was granted is the token response's `scope` (granular
    consent: the user may untick scopes); `granted_scopes()` reads it. Another error from Google is the
    error page, whose "Try again" is this request again (a GET). Anonymous visitors
    sign in first, then come back here. `purpose` names it in the logs; `next_url` is where the
    browser lands afterwards, a local path. A host's view returns it::

        return connect_scopes("drive", ["https://www.googleapis.com/auth/drive.file"], url_for("files"))
    """
    who = identity()
    if who is None:
        return redirect(url_for("google_signin.login", next=this_path()))
    connect: Connect = {"purpose": purpose, "scopes": list(scopes), "sub": who.sub}
    if request.method == "GET":  # a link can start it again
        connect["retry"] = safe_next(request.script_root + this_path())
    params = {"include_granted_scopes": "true", "access_type": "offline", "prompt": "consent",
              "login_hint": who.sub}
    with provider_errors():
        return redirect(google().start(redirect_uri(), safe_next(next_url), connect, **params))


def check_connect(connect: Connect, claims: Mapping[str, Any]) -> None:
    """The ID token of a connect must name the user who started it, who must still be signed in here."""
    who = identity()
    if who is None or who.sub != connect["sub"]:
        raise SignInError("connect_signed_out", "the session that started connecting ended or changed user")
    if claims["sub"] != connect["sub"]:
        raise SignInError("wrong_account", "connect came back with a different Google account")


def finish_connect(connect: Connect, token: Mapping[str, Any], next_url: str) -> BaseResponse:
    """The new token replaces the session's; the scopes asked for and not granted are remembered."""
    record = session_record()
    record["token"] = keep_token(token)
    record.pop("google_access_ended", None)
    granted = set(record["token"]["scope"].split())
    declined = [scope for scope in connect["scopes"] if scope not in granted]
    if declined:
        record["declined_scopes"] = declined
    else:
        record.pop("declined_scopes", None)
    accounts.on_sign_in(connect["sub"])  # the new refresh token, for Cross-Account Protection
    outcome = "granted" if not declined else "not granted"
    log.info("Google access connected", extra={"event": "google_connected", "reason": f"{connect['purpose']}: "
                                                f"{outcome}", "sub": connect["sub"]})
    return redirect(next_url)


def connect_declined(connect: Connect, next_url: str) -> BaseResponse:
    """The user said no at Google: still signed in, with the token they had; the page can say so."""
    who = identity()
    if who is not None and who.sub == connect["sub"]:
        session_record()["declined_scopes"] = list(connect["scopes"])
    log.info("Google access not granted", extra={"event": "google_connect_declined", "reason": connect["purpose"],
                                                 "sub": connect["sub"]})
    return redirect(next_url)
