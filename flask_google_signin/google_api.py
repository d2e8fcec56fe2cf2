"""Google APIs on the signed-in user's behalf: an authorized GET, and a token refresh done once per session.

`authorized_get(url, params)` calls a Google API with the session's access token, under the same
hard deadline as every provider call (PROVIDER_TIMEOUT, provider_http.py). A 401 gets one refresh
and one retry. Whatever goes wrong comes back as `GoogleAPIError`, with a sentence for the page
(errors.API_MESSAGES), never as an error page: the user is still signed in.

`refresh_token` is single-flight per session. Two requests of one browser that need a refresh at
the same moment (two tabs, two instances) must not both spend the refresh token (oauth2-proxy
issues 1580 and 3456): the first takes a lock record in the session store, with a lease longer than
the refresh can last; the others wait, then take the new token from the session's own record,
which every request of the session can open. A holder that crashed blocks only until its lease ends.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import requests
from authlib.integrations.flask_client import OAuthError
from flask import current_app, g, session

from . import accounts, metrics
from .errors import GoogleAPIError, SignInError, StoreUnavailable
from .oidc import google, provider_errors
from .provider_http import ProviderSession
from .sessions import Token, drop_google_access, session_interface, session_record

log = logging.getLogger(__name__)

REFUSED = ("invalid_grant", "invalid_client", "unauthorized_client")  # the grant is gone: drop the tokens
LOCK_POLL = 0.05  # seconds between looks at the store while another request refreshes


def granted_scopes() -> set[str]:
    """The scopes of the session's token, as Google's token response listed them (granular consent:
    the user may have granted fewer than were asked for); empty without Google access."""
    token = session_record().get("token")
    return set(token.get("scope", "").split()) if token else set()


def authorized_get(url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
    """GET a Google API as the signed-in user; the JSON object it answers.

    Raises GoogleAPIError: `no_access` without tokens, `access_ended` when a refresh was refused
    (the tokens are dropped), `unauthorized` on a second 401, `forbidden` on 403 (API not enabled,
    scope not granted), `unavailable` on 429/5xx or a failed connection, `timeout` at the deadline.
    """
    token = session_record().get("token")
    if not token:
        raise GoogleAPIError("no_access")
    response = _get(url, params, token)
    if response.status_code == 401:  # expired or revoked early: one refresh, one retry
        if not token.get("refresh_token"):
            drop_google_access("expired")
            fresh = None
        else:
            fresh = refresh_token(token)
        if fresh is None:
            raise GoogleAPIError("access_ended", 401)
        response = _get(url, params, fresh)
    if response.status_code != 200:
        status = response.status_code
        kind = {401: "unauthorized", 403: "forbidden", 429: "unavailable"}.get(status, "bad_response")
        kind = "unavailable" if status >= 500 else kind
        log.warning("Google API call failed", extra={"event": "google_api_failed", "reason": f"{kind} ({status})"})
        raise GoogleAPIError(kind, status)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        log.warning("Google API call failed", extra={"event": "google_api_failed", "reason": "not a JSON object"})
        raise GoogleAPIError("bad_response", 200)
    return data


def _get(url: str, params: Mapping[str, str] | None, token: Token) -> requests.Response:
    """One bearer GET under the request's deadline; no redirects (the token is for Google only)."""
    headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"}
    try:
        with ProviderSession() as http:
            response: requests.Response = http.request("GET", url, params=params, headers=headers,
                                                       withhold_token=True, allow_redirects=False)
            return response
    except requests.RequestException as exc:
        kind = "timeout" if isinstance(exc, requests.Timeout) else "unavailable"
        log.warning("Google API call failed", extra={"event": "google_api_failed",
                                                      "reason": f"{kind} ({type(exc).__name__})"})
        raise GoogleAPIError(kind) from None


def lock_lease() -> int:
    """Seconds a refresh lock lasts: more than the refresh can take (the hard PROVIDER_TIMEOUT deadline,
    plus the store reads and writes around it), so a live holder never loses it."""
    config = current_app.config
    return math.ceil(float(config["PROVIDER_TIMEOUT"]) + 4 * float(config["REDIS_TIMEOUT"])) + 2


def refresh_token(stale: Token) -> Token | None:
    """The session's token renewed, with one token call however many requests ask at the same moment.

    Returns the new token (this request's, or the one another request of the session got), or None
    when Google access ended (a refused refresh: the tokens are dropped, the user stays signed in).
    Raises GoogleAPIError when Google could not be asked: the tokens stay, a later request tries again.
    """
    interface = session_interface()
    records = interface.records
    lock = f"refresh-lock:{interface.key_prefix}{accounts.current_id()}"
    lease = lock_lease()
    give_up = time.monotonic() + lease + 1
    try:
        while not records.put(lock, b"refreshing", lease, exists=False):
            if _taken_from_store(stale):
                return session_record().get("token")
            if time.monotonic() > give_up:
                raise GoogleAPIError("unavailable")
            time.sleep(LOCK_POLL)
        try:
            return _refresh_holding_lock(stale)
        finally:
            records.delete(lock)
    except records.store_errors as exc:
        raise StoreUnavailable(type(exc).__name__) from None


def _taken_from_store(stale: Token) -> bool:
    """Did another request of this session refresh (or drop) the token since `stale`? Then this
    request takes its result, and makes no token call of its own."""
    stored = session_interface().stored(session)
    token = stored.get("token") if stored is not None else None
    if token is not None and token["access_token"] == stale["access_token"]:
        return False
    if token is not None:
        session_record()["token"] = token
    else:
        drop_google_access(stored.get("google_access_ended", "expired") if stored is not None else "session_ended")
    return True


def _refresh_holding_lock(stale: Token) -> Token | None:
    """The token call itself; its outcome is stored before the lock goes, for the requests waiting."""
    if _taken_from_store(stale):  # done by another request just before we took the lock
        return session_record().get("token")
    sub = g.user["sub"] if g.get("user") else None
    if sub and not accounts.tokens_still_valid(sub):  # a security event revoked it: dropped, never used
        session_interface().write_now(session)
        return None
    try:
        with provider_errors():
            try:
                fresh = google().refresh(stale)
            except OAuthError as exc:
                if exc.error not in REFUSED:
                    raise
                extra = {"event": "refresh_refused", "reason": exc.error, "sub": sub}
                log.warning("token refresh refused: Google tokens dropped, still signed in", extra=extra)
                metrics.token_refresh("refused")
                drop_google_access(exc.error)
                session_interface().write_now(session)
                return None
    except SignInError as exc:  # provider down or slow: keep the tokens
        log.warning("token refresh failed", extra={"event": "refresh_failed", "reason": exc.reason, "sub": sub})
        metrics.token_refresh("failed")
        raise GoogleAPIError("timeout" if "Timeout" in exc.reason else "unavailable") from None
    session_record()["token"] = fresh
    metrics.token_refresh("success")
    session_interface().write_now(session)
    log.info("token refreshed", extra={"event": "token_refreshed", "sub": sub})
    return fresh
