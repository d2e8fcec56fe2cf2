"""Sessions: a signed cookie for visitors, sealed server-side records for signed-in users.

A visitor's session (whatever the host keeps before sign-in: a cart, a flash message, a CSRF
token) is Flask's own signed cookie, as in a Flask app without the extension: no store write, and
the browser can read it (a 4 KB limit). At sign-in it moves into a sealed server-side record, and
the cookie becomes `id.secret`: the id names the record in the store, the secret opens it
(store/vault.py).

Server-side sessions are Flask-Session's base interface (saving, the cookie, `Vary: Cookie`), given:
- its backend hooks (`_generate_sid`, `_retrieve_session_data`, `_upsert_session`, `_delete_session`)
  over the vault, with conditional writes: a session that was ended (sign-out, expiry, ended
  elsewhere) is never written back by a request that loaded it earlier, and that request sets no
  cookie;
- small overrides: `open_session` (visitors to Flask's signed cookies; the record looked up under
  the cookie's prefixed name, which Flask-Session's own open_session would not read; a store that
  does not answer gives a session marked unavailable, which becomes a 503 page; a record that opens
  only under a SECRET_KEY_FALLBACKS key is marked stale and modified, so the response seals it again
  under SECRET_KEY; static files and the host's session-exempt views never touch the store),
  `save_session` (a refused write sets no cookie; a store failure is StoreUnavailable), `regenerate`
  (the old record is deleted even when the session was just cleared, which Flask-Session's skips),
  and the cookie's attributes.

The session cookie is HttpOnly and `SameSite=Lax` (Strict would drop it on the provider's redirect
back), and Secure as GOOGLE_SIGNIN_COOKIE_SECURE says; when Secure, it is named `__Host-` plus the
host's SESSION_COOKIE_NAME (`__Secure-` with a cookie domain or path), so that a sibling subdomain
can neither set nor shadow it; its domain and path are the host's.
A signed-in record outlives its session by GOOGLE_SIGNIN_EXPIRED_GRACE, so that a request soon
after the end can be told the session expired.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask import Flask, Request, Response, current_app, flash, session
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_session.base import ServerSideSession, ServerSideSessionInterface

from ..errors import StoreUnavailable
from ..settings import settings
from ..store import Opened, Vault, new_secret
from .record import SessionRecord

log = logging.getLogger(__name__)

TOUCH_INTERVAL = 60  # seconds between writes of the idle clock
PENDING_LIFETIME = 600  # a sign-in must come back within 10 minutes
COOKIE_VALUE = re.compile(r"([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})")


class WriteRefused(Exception):
    """A conditional write found the record gone (the session ended meanwhile) or already there."""


class SealedSession(ServerSideSession):
    """Flask-Session's session, plus what the conditional writes need to know about its record."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None,
                 permanent: bool | None = None) -> None:
        super().__init__(initial, sid, permanent)
        self.server_side = False  # a signed-in session's record; False: a visitor's signed cookie
        self.stored = False  # its record exists in the store: updates only (Redis SET XX)
        self.unavailable = False  # the store did not answer when it was opened
        self.stale = False  # its record opened only under a SECRET_KEY_FALLBACKS key: resealed by this request
        self.written: dict[str, Any] | None = None  # what write_now stored: not stored again unchanged


class CookiePolicy:
    """The attributes of every cookie the extension sets: HttpOnly, SameSite=Lax, Secure as configured,
    and its name, the host's SESSION_COOKIE_NAME behind `__Host-` (or `__Secure-`) when Secure."""

    def get_cookie_name(self, app: Flask) -> str:
        name: str = app.extensions["google_signin_settings"]["cookie_name"]
        return name

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Lax"

    def get_cookie_secure(self, app: Flask) -> bool:
        secure: bool = app.extensions["google_signin_settings"]["COOKIE_SECURE"]
        return secure


class VisitorCookies(CookiePolicy, SecureCookieSessionInterface):
    """Flask's own signed-cookie sessions (signed with SECRET_KEY, as Flask signs them), for visitors."""

    def open_visitor(self, app: Flask, request: Request) -> SealedSession:
        """The visitor's session from the signed cookie; empty when there is none, or it does not verify."""
        opened = self.open_session(app, request)
        return SealedSession(dict(opened) if opened is not None else None)


class SealedSessions(CookiePolicy, ServerSideSessionInterface):
    session_class = SealedSession

    def __init__(self, app: Flask, vault: Vault, space: str) -> None:
        super().__init__(app, key_prefix=f"session:{space}:", use_signer=False, permanent=True)
        self.vault = vault
        self.visitors = VisitorCookies()
        self.static_path = f"{app.static_url_path}/" if app.static_url_path else None
        self.exempt_views: list[Callable[..., Any]] = []  # GoogleSignIn.session_exempt
        self._exempt_paths: frozenset[str] | None = None  # their paths, found at the first request

    # -- Flask-Session's backend hooks (the contract tests pin how its save_session calls them)

    def _generate_sid(self, session_id_length: int) -> str:
        return f"{new_secret()}.{new_secret()}"

    def _split(self, store_id: str) -> tuple[str, str] | None:
        match = COOKIE_VALUE.fullmatch(store_id.removeprefix(self.key_prefix))
        return (self.key_prefix + match[1], match[2]) if match else None

    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        opened = self._open_record(store_id)
        return None if opened is None else opened.data

    def _open_record(self, store_id: str) -> Opened | None:
        parts = self._split(store_id)
        if parts is None:
            return None  # not a cookie we issued
        key, secret = parts
        return self.vault.load(key, secret)

    def _upsert_session(self, session_lifetime: timedelta, sess: SealedSession, store_id: str) -> None:
        data = dict(sess)
        if data == sess.written:
            return
        key, secret = self._split(store_id) or ("", "")
        if not self.vault.save(key, secret, data, record_lifetime(data), exists=sess.stored):
            raise WriteRefused
        sess.stored, sess.written = True, data

    def _delete_session(self, store_id: str) -> None:
        parts = self._split(store_id)
        if parts:
            self.vault.records.delete(parts[0])

    # -- Flask's SessionInterface, as Flask-Session implements it

    def open_session(self, app: Flask, request: Request) -> SealedSession:
        if (self.static_path and request.path.startswith(self.static_path)) or request.path in self.exempt_paths(app):
            return self.fresh()
        cookie = request.cookies.get(self.get_cookie_name(app), "")
        if not COOKIE_VALUE.fullmatch(cookie):  # a visitor: Flask's signed cookie, or none
            return self.visitors.open_visitor(app, request)
        # Flask-Session's open_session would read the cookie under SESSION_COOKIE_NAME, not under
        # get_cookie_name (which its save_session uses): the record is looked up here, as it does.
        try:
            opened = self._open_record(self.key_prefix + cookie)
        except self.vault.store_errors as exc:
            log.warning("session store unavailable: %s", type(exc).__name__)
            sess = self.fresh()
            sess.unavailable = True  # the request then gets the 503 page
            return sess
        if opened is None:  # the record is gone (ended, expired): a visitor now, and the stale cookie goes
            visitor = self.fresh()
            visitor.modified = True
            return visitor
        sess = SealedSession(opened.data, sid=cookie)
        sess.server_side = sess.stored = True
        sess.stale = sess.modified = opened.stale  # modified: this request's response reseals it
        return sess

    def exempt_paths(self, app: Flask) -> frozenset[str]:
        """The paths of the session-exempt views. The session is opened before Flask matches the
        URL, so the views' rules are looked up once, when every blueprint is registered."""
        if self._exempt_paths is None:
            endpoints = {endpoint for endpoint, view in app.view_functions.items() if view in self.exempt_views}
            rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint in endpoints]
            if any(rule.arguments for rule in rules):
                raise ValueError("session_exempt views must have fixed paths (no <variables>)")
            self._exempt_paths = frozenset(rule.rule for rule in rules)
        return self._exempt_paths

    def fresh(self) -> SealedSession:
        """An empty visitor's session."""
        return SealedSession()

    def save_session(self, app: Flask, sess: SealedSession, response: Response) -> None:
        if sess.unavailable:
            return
        if not sess.server_side:
            self.visitors.save_session(app, sess, response)
            return
        try:
            super().save_session(app, sess, response)
        except WriteRefused:
            log.info("late write refused: the session ended meanwhile", extra={"event": "session_write_refused"})
        except self.vault.store_errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None

    def regenerate(self, sess: SealedSession, *, server_side: bool = True) -> None:
        """A new id and secret, the old record deleted: at sign-in (server_side) and at sign-out (a
        visitor's session again)."""
        try:
            if sess.stored:
                self._delete_session(self.key_prefix + sess.sid)
        except self.vault.store_errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None
        sess.sid = self._generate_sid(0) if server_side else None
        sess.server_side, sess.permanent = server_side, server_side
        sess.stored, sess.written, sess.modified = False, None, True

    def get_expiration_time(self, app: Flask, sess: SessionMixin) -> datetime | None:
        """A signed-in session's cookie lasts as long as its record may; a visitor's as Flask says."""
        if not getattr(sess, "server_side", False):
            expires: datetime | None = super().get_expiration_time(app, sess)
            return expires
        return datetime.fromtimestamp(time.time() + record_lifetime(sess), tz=UTC)

    def should_set_cookie(self, app: Flask, sess: SessionMixin) -> bool:
        """Only when the session changed: the idle clock is written once a minute, not each request."""
        return bool(sess.modified)

    def should_set_storage(self, app: Flask, sess: SessionMixin) -> bool:
        return bool(sess.modified)

    # -- for the layers above

    def write_now(self, sess: SealedSession) -> None:
        """Store the session before the view goes on (a sign-in is logged only once stored); the
        response then sets the cookie without storing it again."""
        try:
            self._upsert_session(timedelta(0), sess, self.key_prefix + sess.sid)
        except WriteRefused:
            log.info("late write refused: the session ended meanwhile", extra={"event": "session_write_refused"})
        except self.vault.store_errors as exc:
            sess.unavailable = True  # the error page does not try to store it again
            raise StoreUnavailable(type(exc).__name__) from None

    def stored_record(self, sess: SealedSession) -> SessionRecord | None:
        """The record of `sess` as the store holds it now; None once it ended.

        Another request of the same browser (a second tab, another instance) may have changed it
        since this one loaded it; every request of a session carries its secret, so it can look.
        """
        try:
            data = self._retrieve_session_data(self.key_prefix + sess.sid)
        except self.vault.store_errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None
        return cast("SessionRecord | None", data)

    def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot serve sessions."""
        try:
            self.vault.records.ping()
        except self.vault.store_errors as exc:
            raise StoreUnavailable(type(exc).__name__) from exc


@dataclass(frozen=True)
class SessionInfo:
    """The signed-in session's clock and what the provider said of the user."""

    signed_in_at: int  # Unix time
    last_seen: int  # Unix time, to the minute: the idle lifetime counts from here
    expires_at: int  # Unix time: the earlier of the idle and the absolute end
    idle_timeout: int  # seconds without a request after which the session ends
    userinfo: dict[str, Any]  # the provider's userinfo response, as sent (One Tap: the ID token's profile claims)
    signed_in_with: str = "redirect"  # or "one_tap": Google gave an identity and no access token


def session_end(record: Mapping[str, Any]) -> tuple[int, str]:
    """When a signed-in session ends, and why then: "idle_timeout" or "absolute_timeout"."""
    config = settings()
    idle_end = int(record.get("last_seen", 0)) + int(config["IDLE_TIMEOUT"])
    absolute_end = int(record.get("signed_in_at", 0)) + int(config["ABSOLUTE_TIMEOUT"])
    return (idle_end, "idle_timeout") if idle_end < absolute_end else (absolute_end, "absolute_timeout")


def session_record() -> SessionRecord:
    """This request's `flask.session` (the same object: writes mark it modified), typed as SessionRecord."""
    return cast(SessionRecord, sealed_session())


def session_interface() -> SealedSessions:
    """The app's session interface, as init_sessions installed it (Flask types it as the base class)."""
    return cast(SealedSessions, current_app.session_interface)


def sealed_session() -> SealedSession:
    """This request's session object itself, not Flask's proxy to it: pages read it many times, and
    nothing swaps it within a request."""
    return cast(SealedSession, cast(Any, session)._get_current_object())


def current_id() -> str:
    """The signed-in session's id: the part of the cookie that names its record, never the secret."""
    sid: str = sealed_session().sid
    return sid.partition(".")[0]


def current_session() -> SessionInfo | None:
    """The signed-in session's clock and userinfo; None for a visitor."""
    record = session_record()
    if "user" not in record:
        return None
    expires_at, _ = session_end(record)
    return SessionInfo(record.get("signed_in_at", 0), record.get("last_seen", 0), expires_at,
                       int(settings()["IDLE_TIMEOUT"]), dict(record.get("userinfo", {})),
                       record.get("method", "redirect"))


def record_lifetime(record: Mapping[str, Any]) -> int:
    """Seconds the store keeps a signed-in record: until its session ends, and the grace after it,
    in which a request is told the session expired."""
    end, _ = session_end(record)
    return max(1, int(end - time.time()) + int(settings()["EXPIRED_GRACE"]))


def init_sessions(app: Flask, vault: Vault, space: str) -> SealedSessions:
    interface = SealedSessions(app, vault, space)
    app.session_interface = interface
    return interface


def end_session(message: str, category: str = "info") -> None:
    """Delete the record and leave a message in a visitor's cookie: the old cookie then opens
    nothing, and no request that loaded the old record can write it back (the conditional writes)."""
    session.clear()
    session_interface().regenerate(sealed_session(), server_side=False)
    flash(message, category)


def drop_google_access(reason: str) -> None:
    """The grant is gone (a refused refresh, a disconnect): the user stays signed in, without Google tokens."""
    record = session_record()
    record.pop("token", None)
    record.pop("declined_scopes", None)
    record["google_access_ended"] = reason


def check_store() -> None:
    """Raise StoreUnavailable when the session store cannot serve sessions (a readiness probe's question)."""
    session_interface().ping()
