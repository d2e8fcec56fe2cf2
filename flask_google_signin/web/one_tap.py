"""One Tap (Google Identity Services, on the browser's FedCM): Google's prompt on the site's own page,
which POSTs an ID token to `POST /login/one-tap`. Registered only with GOOGLE_SIGNIN_ONE_TAP on.

The page's nonce is bound to the browser without a store write: the browser holds a random value in
an HttpOnly cookie, and the page gives Google an HMAC of it. Only a successful sign-in writes: the
nonce, marked used until the credential expires, so a replayed credential is refused even with
the original cookies. The redirect sign-in stays the fallback (FedCM blocked, prompt closed).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, after_this_request, redirect, request, url_for
from markupsafe import Markup, escape
from werkzeug.wrappers import Response as BaseResponse

from .. import metrics
from ..accounts import index as accounts
from ..accounts.policy import check_access
from ..errors import SignInError
from ..oidc.client import LEEWAY, google, provider_errors
from ..sessions import limits
from ..sessions.identity import identity
from ..sessions.interface import session_interface
from ..settings import GIS_CLIENT_URL, settings
from ..signals import signed_in
from ..store import digest
from .csrf import exempt_from_flask_wtf, keyed_mac
from .pages import readable_query, refuse_other_hosts, safe_next, this_path
from .signin import _app, sign_in

bp = Blueprint("google_signin_one_tap", __name__)
exempt_from_flask_wtf(bp)  # checked by Google's double-submit token instead
bp.before_request(refuse_other_hosts)
log = logging.getLogger(__name__)

# What the ID token says of the user, kept as the session's userinfo: One Tap gives no access token,
# so there is no userinfo call to make.
PROFILE_CLAIMS = ("sub", "name", "given_name", "family_name", "picture", "email", "email_verified", "hd", "locale")
# Google's set-up guide for the client script: exactly these sources, and only with One Tap on.
GIS_SOURCES = {"script-src": GIS_CLIENT_URL, "frame-src": "https://accounts.google.com/gsi/",
               "connect-src": "https://accounts.google.com/gsi/", "style-src": "https://accounts.google.com/gsi/style"}


def nonce_cookie() -> str:
    return f"{settings()['cookie_name']}_one_tap"


def page_nonce(browser_value: str, secret_key: str) -> str:
    return keyed_mac("one tap", secret_key, browser_value)


def one_tap_markup(next_url: str | None = None) -> Markup:
    """The template global `google_signin_one_tap(next)`: for a visitor, Google's client script
    and its `g_id_onload` element; for a signed-in user the script alone, so a sign-out button with
    Google's `g_id_signout` class stops the prompt signing them straight back in. Empty with One
    Tap off. The page must not be cached for others: it carries this browser's nonce."""
    config = settings()
    if not config["ONE_TAP"]:
        return Markup("")
    script = Markup('<script src="{}" async></script>').format(config["GIS_CLIENT_URL"])
    if identity() is not None:
        return script
    value = request.cookies.get(nonce_cookie(), "")
    fresh = len(value) != 43  # ours are 32 random bytes, base64url: anything else is replaced
    if fresh:
        value = secrets.token_urlsafe(32)
    secure = config["COOKIE_SECURE"]

    @after_this_request
    def remember(response: Response) -> Response:
        if fresh:
            response.set_cookie(nonce_cookie(), value, httponly=True, secure=secure, samesite="Lax", path="/")
        response.vary.add("Cookie")  # the page holds this browser's nonce: never one cached for another
        return response

    path = url_for("google_signin_one_tap.one_tap", next=safe_next(next_url or this_path()))
    base = (config["PUBLIC_BASE_URL"] or request.host_url).rstrip("/")  # as the redirect URI is built
    attributes = {"client_id": config["GOOGLE_CLIENT_ID"], "login_uri": base + path,
                  "nonce": page_nonce(value, config["SECRET_KEY"]),
                  "auto_select": "true" if config["ONE_TAP_AUTO_SELECT"] else "false",
                  "use_fedcm_for_prompt": "true", "context": "signin"}
    data = Markup(" ").join(Markup('data-{}="{}"').format(name, escape(value)) for name, value in attributes.items())
    return script + Markup('<div id="g_id_onload" {}></div>').format(data)


def csp_sources(app: Flask) -> dict[str, str]:
    """What the app's Content Security Policy must add, by directive, for Google's client script:
    the sources Google's set-up guide lists with One Tap on (those of GIS_CLIENT_URL's origin when
    it names another script), nothing with it off."""
    config = app.extensions["google_signin_settings"]
    if not config["ONE_TAP"]:
        return {}
    sources = dict(GIS_SOURCES)
    if config["GIS_CLIENT_URL"] != GIS_CLIENT_URL:
        parts = urlsplit(config["GIS_CLIENT_URL"])
        origin = f"{parts.scheme}://{parts.netloc}"
        sources = {directive: f"{origin} {origin}/" if directive != "script-src" else config["GIS_CLIENT_URL"]
                   for directive in GIS_SOURCES}
    return sources


@bp.post("/login/one-tap")
def one_tap() -> BaseResponse:
    """Google's script posts `credential` (the ID token) and `g_csrf_token`, and sets the cookie of
    that name: the double-submit check comes first, then every check of the credential, then the
    same session a redirect sign-in makes (rate limit, new id, user_loader, `signed_in`)."""
    field, cookie = request.form.get("g_csrf_token", ""), request.cookies.get("g_csrf_token", "")
    if not field or not cookie or not hmac.compare_digest(field.encode(), cookie.encode()):
        raise SignInError("one_tap_csrf", "g_csrf_token cookie and field missing or unequal")
    credential = request.form.get("credential", "")
    browser_value = request.cookies.get(nonce_cookie(), "")
    if not credential or len(browser_value) != 43:
        raise SignInError("one_tap_nonce", "no credential, or no nonce cookie")
    wait = session_interface().vault.records.count(limits.windows("login"))
    if wait:
        raise limits.refuse(wait)
    config, sub = settings(), None
    try:
        with provider_errors():
            nonces = [page_nonce(browser_value, key) for key in (config["SECRET_KEY"], *config["SECRET_KEY_FALLBACKS"])]
            claims = verify(credential, nonces)
            sub = claims["sub"]
            check_access(claims)
            spend(claims["nonce"], claims["exp"])
        userinfo = {name: claims[name] for name in PROFILE_CLAIMS if name in claims}
        who = sign_in(claims, userinfo, None, method="one_tap")
    except SignInError as exc:
        log.warning("sign-in refused", extra={"event": "sign_in_refused", "reason": exc.reason, "sub": sub})
        metrics.signin("refused", exc.code)
        raise
    metrics.signin("success")
    log.info("signed in", extra={"event": "sign_in", "reason": "one_tap", "sub": sub})
    signed_in.send(_app(), user=who, userinfo=userinfo)
    response = redirect(safe_next(request.args.get("next") if readable_query() else None), code=303)
    response.delete_cookie(nonce_cookie(), path="/")  # the next page gets a fresh nonce
    return response


def verify(credential: str, nonces: list[str]) -> dict[str, Any]:
    """The credential's checks (oidc verify_id_token, audience: the site's client id) with the nonce
    the page gave this browser, under the current SECRET_KEY or a fallback."""
    client = google()
    claims = client.verify_id_token(credential, [client.client_id])
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not any(hmac.compare_digest(sent.encode(), nonce.encode()) for nonce in nonces):
        raise SignInError("one_tap_nonce", "the credential's nonce is not the one this browser was given")
    return claims


def spend(nonce: str, expires: float) -> None:
    """A nonce serves one sign-in: marked used (a create, which only one request wins) until the
    credential it is in has expired."""
    records = session_interface().vault.records
    key = f"one-tap-nonce:{accounts.index().space}:{digest(nonce)}"
    ttl = max(1, int(expires - time.time()) + LEEWAY)
    if not records.put(key, b"", ttl, exists=False):
        raise SignInError("one_tap_replayed", "this credential's nonce was used already")
