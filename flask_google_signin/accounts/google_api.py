"""Google access on the signed-in user's behalf: what was granted, an authorized GET, a token refresh
done once per session, revocation.

`authorized_get(url, params)` calls a Google API with the session's access token, under the same
hard deadline as every provider call (PROVIDER_TIMEOUT, oidc/http.py). A 401 gets one refresh
and one retry. Whatever goes wrong comes back as `GoogleAPIError`, with a sentence for the page
(errors.API_MESSAGES), never as an error page: the user is still signed in.

`refresh_token` is single-flight per session. Two requests of one browser that need a refresh at
the same moment (two tabs, two instances) must not both spend the refresh token (oauth2-proxy
issues 1580 and 3456): the first takes a lock record in the session store, with a lease longer than
the refresh can last; the others wait, then take the new token from the session's own record,
which every request of the session can open. A holder that crashed blocks only until its lease ends.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.flask_client import OAuthError

from .. import metrics
from ..errors import GoogleAPIError, SignInError, StoreUnavailable
from ..oidc.client import google, provider_errors
from ..oidc.http import ProviderSession
from ..sessions.identity import identity
from ..sessions.interface import current_id, drop_google_access, sealed_session, session_interface, session_record
from ..sessions.record import Token
from ..settings import settings
from . import index as accounts

log = logging.getLogger(__name__)

REFUSED = ("invalid_grant", "invalid_client", "unauthorized_client")  # the grant is gone: drop the tokens
LOCK_POLL = 0.05  # seconds between looks at the store while another request refreshes
REFRESH_MARGIN = 60  # refresh an access token that expires within a minute


@dataclass(frozen=True)
class GoogleAccess:
    """The signed-in session's access to the user's Google account, as the token response gave it."""

    scopes: frozenset[str]  # granted, as Google listed them (granular consent: maybe fewer than asked)
    declined_scopes: frozenset[str]  # asked for by the last connect_scopes and not granted
    expires_at: int | None  # the access token's expiry, Unix time
    has_refresh_token: bool
    ended: str | None  # why access ended ("disconnected", "invalid_grant", "token_revoked", "expired", ...)
    active: bool  # the session holds Google tokens


def google_access() -> GoogleAccess:
    """What the signed-in session may do at Google; for a visitor, nothing (`active` is False)."""
    record = session_record()
    token = record.get("token")
    return GoogleAccess(
        scopes=frozenset(token.get("scope", "").split()) if token else frozenset(),
        declined_scopes=frozenset(record.get("declined_scopes", [])),
        expires_at=token.get("expires_at") if token else None,
        has_refresh_token=bool(token and token.get("refresh_token")),
        ended=None if token else record.get("google_access_ended"),
        active=token is not None,
    )


def granted_scopes() -> set[str]:
    """The scopes of the session's token, as Google's token response listed them (granular consent:
    the user may have granted fewer than were asked for); empty without Google access."""
    token = session_record().get("token")
    return set(token.get("scope", "").split()) if token else set()


class GoogleAPISession(requests.Session):
    """A requests session that calls Google APIs as the signed-in user: any method, any body.

    Each call carries the session's access token (the host never handles it), runs under the same
    hard deadline as every provider call, and follows no redirect (the token is for Google only).
    A 401 gets one refresh (single-flight per session, refresh_token) and one retry. The answer
    comes back as requests gives it, whatever its status; what cannot give an answer raises
    GoogleAPIError: `no_access` without tokens, `access_ended` when the refresh was refused (the
    tokens are dropped), `timeout` at the deadline, `unavailable` for a failed connection.
    """

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        token = session_record().get("token")
        if not token:
            raise GoogleAPIError("no_access")
        response = self._send(str(method), str(url), token, kwargs)
        if response.status_code == 401:  # expired or revoked early: one refresh, one retry
            if not token.get("refresh_token"):
                drop_google_access("expired")
                fresh = None
            else:
                fresh = refresh_token(token)
            if fresh is None:
                raise GoogleAPIError("access_ended", 401)
            response = self._send(str(method), str(url), fresh, kwargs)
        return response

    @staticmethod
    def _send(method: str, url: str, token: Token, options: dict[str, Any]) -> requests.Response:
        headers = {**(options.get("headers") or {}), "Authorization": f"Bearer {token['access_token']}"}
        options = {**options, "headers": headers, "allow_redirects": False}
        try:
            with ProviderSession(endpoint="google_api") as http:
                response: requests.Response = http.request(method, url, withhold_token=True, **options)
                return response
        except requests.RequestException as exc:
            kind = "timeout" if isinstance(exc, requests.Timeout) else "unavailable"
            log.warning("Google API call failed", extra={"event": "google_api_failed",
                                                          "reason": f"{kind} ({type(exc).__name__})"})
            raise GoogleAPIError(kind) from None


def google_session() -> GoogleAPISession:
    """A requests-compatible session for Google APIs on the signed-in user's behalf (GoogleAPISession)::

        response = google_session().post(f"{DRIVE}/files", json={"name": "notes.txt"})
    """
    return GoogleAPISession()


def authorized_get(url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
    """GET a Google API as the signed-in user; the JSON object it answers.

    Raises GoogleAPIError: `no_access` without tokens, `access_ended` when a refresh was refused
    (the tokens are dropped), `unauthorized` on a second 401, `forbidden` on 403 (API not enabled,
    scope not granted), `unavailable` on 429/5xx or a failed connection, `timeout` at the deadline.
    """
    with google_session() as http:
        response = http.get(url, params=params, headers={"Accept": "application/json"})
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


def lock_lease() -> int:
    """Seconds a refresh lock lasts: more than the refresh can take (the hard PROVIDER_TIMEOUT deadline,
    plus the store reads and writes around it), so a live holder never loses it."""
    config = settings()
    return math.ceil(float(config["PROVIDER_TIMEOUT"]) + 4 * float(config["REDIS_TIMEOUT"])) + 2


def refresh_token(stale: Token) -> Token | None:
    """The session's token renewed, with one token call however many requests ask at the same moment.

    Returns the new token (this request's, or the one another request of the session got), or None
    when Google access ended (a refused refresh: the tokens are dropped, the user stays signed in).
    Raises GoogleAPIError when Google could not be asked: the tokens stay, a later request tries again.
    """
    interface = session_interface()
    records = interface.vault.records
    lock = f"refresh-lock:{interface.key_prefix}{current_id()}"
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
    stored = session_interface().stored_record(sealed_session())
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
    who = identity()
    sub = who.sub if who is not None else None
    if sub and not accounts.tokens_still_valid(sub):  # a security event revoked it: dropped, never used
        session_interface().write_now(sealed_session())
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
                session_interface().write_now(sealed_session())
                return None
    except SignInError as exc:  # provider down or slow: keep the tokens
        log.warning("token refresh failed", extra={"event": "refresh_failed", "reason": exc.reason, "sub": sub})
        metrics.token_refresh("failed")
        raise GoogleAPIError("timeout" if "Timeout" in exc.reason else "unavailable") from None
    session_record()["token"] = fresh
    metrics.token_refresh("success")
    session_interface().write_now(sealed_session())
    log.info("token refreshed", extra={"event": "token_refreshed", "sub": sub})
    return fresh


def refresh_google_access() -> None:
    """Keep the access token fresh before a page uses it: renewed when it expires within a minute,
    once per session however many requests ask (refresh_token).

    A refused refresh (the grant is gone) drops the Google tokens and keeps the user signed in; the
    pages then offer to renew access. A provider that is down leaves the tokens for the next page view.
    """
    token = session_record().get("token")
    expires_at = token.get("expires_at") if token else None
    if not token or not token.get("refresh_token") or not expires_at or expires_at - time.time() > REFRESH_MARGIN:
        return
    with contextlib.suppress(GoogleAPIError):  # logged where it happened
        refresh_token(token)


def revoke_at_google(sub: str) -> None:
    """RFC 7009, best effort: the session's refresh token (else access token) is revoked at Google,
    which ends the user's grant to this site on every device."""
    token = session_record().get("token")
    if not token or not accounts.tokens_still_valid(sub):
        return
    try:
        with provider_errors():
            google().revoke(token)
    except SignInError as exc:
        log.warning("token revocation failed", extra={"event": "revoke_failed", "reason": exc.reason})


def disconnect_google() -> None:
    """Revoke this site's access at Google and drop the session's tokens; the user stays signed in.

    Google's revocation ends the whole grant (the sign-in scopes too, on every device of the user),
    not only the scopes a connect added: say so where the button is.
    """
    who = identity()
    if who is None:
        return
    sub = who.sub
    revoke_at_google(sub)
    drop_google_access("disconnected")
    log.info("Google access disconnected", extra={"event": "google_disconnected", "sub": sub})
