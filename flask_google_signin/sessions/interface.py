"""Server-side sessions on Flask-Session, sealed, with conditional writes.

The cookie carries `id.secret`: the id names the record in the store, the secret opens it
(store/vault.py). Flask-Session's ServerSideSessionInterface does the rest: opening and saving,
the cookie, `Vary: Cookie`. What this class gives it:
- its backend hooks (`_generate_sid`, `_retrieve_session_data`, `_upsert_session`, `_delete_session`)
  over the vault, with conditional writes: a session that was ended (sign-out, expiry, ended
  elsewhere) is never written back by a request that loaded it earlier, and that request sets no
  cookie;
- three small overrides: `open_session` (a store that does not answer gives a session marked
  unavailable, which becomes a 503 page; static files and the host's session-exempt views never
  touch the store), `save_session` (a
  refused write sets no cookie; a store failure is StoreUnavailable) and `regenerate` (the old
  record is deleted even when the session was just cleared, which Flask-Session's skips).

A record with nobody signed in (a flash message) lives 10 minutes, a signed-in one until its idle
or absolute lifetime ends, whichever is first.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from flask import Flask, Request, Response, current_app, flash, session
from flask.sessions import SessionMixin
from flask_session.base import ServerSideSession, ServerSideSessionInterface

from ..errors import StoreUnavailable
from ..store import Vault, new_secret
from .record import SessionRecord

log = logging.getLogger(__name__)

TOUCH_INTERVAL = 60  # seconds between writes of the idle clock
PENDING_LIFETIME = 600  # a sign-in must come back within 10 minutes; an anonymous record lives as long
COOKIE_VALUE = re.compile(r"([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})")


class WriteRefused(Exception):
    """A conditional write found the record gone (the session ended meanwhile) or already there."""


class SealedSession(ServerSideSession):
    """Flask-Session's session, plus what the conditional writes need to know about its record."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None,
                 permanent: bool | None = None) -> None:
        super().__init__(initial, sid, permanent)
        self.stored = False  # its record exists in the store: updates only (Redis SET XX)
        self.unavailable = False  # the store did not answer when it was opened
        self.written: dict[str, Any] | None = None  # what write_now stored: not stored again unchanged


class SealedSessions(ServerSideSessionInterface):
    session_class = SealedSession

    def __init__(self, app: Flask, vault: Vault, space: str) -> None:
        super().__init__(app, key_prefix=f"session:{space}:", use_signer=False, permanent=True)
        self.vault = vault
        self.static_path = f"{app.static_url_path}/" if app.static_url_path else None
        self.exempt_views: list[Callable[..., Any]] = []  # GoogleSignIn.session_exempt
        self._exempt_paths: frozenset[str] | None = None  # their paths, found at the first request

    # -- Flask-Session's backend hooks (the contract tests pin how Flask-Session calls them)

    def _generate_sid(self, session_id_length: int) -> str:
        return f"{new_secret()}.{new_secret()}"

    def _split(self, store_id: str) -> tuple[str, str] | None:
        match = COOKIE_VALUE.fullmatch(store_id.removeprefix(self.key_prefix))
        return (self.key_prefix + match[1], match[2]) if match else None

    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        parts = self._split(store_id)
        if parts is None:
            return None  # not a cookie we issued
        key, secret = parts
        return self.vault.load(key, self.vault.opener(secret))

    def _upsert_session(self, session_lifetime: timedelta, sess: SealedSession, store_id: str) -> None:
        data = dict(sess)
        if data == sess.written:
            return
        key, secret = self._split(store_id) or ("", "")
        if not self.vault.save(key, self.vault.opener(secret), data, record_lifetime(sess), exists=sess.stored):
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
        try:
            sess: SealedSession = super().open_session(app, request)
        except self.vault.store_errors as exc:
            log.warning("session store unavailable: %s", type(exc).__name__)
            sess = self.fresh()
            sess.unavailable = True  # the request then gets the 503 page
            return sess
        sess.stored = sess.sid == request.cookies.get(self.get_cookie_name(app))
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
        return SealedSession(sid=self._generate_sid(0), permanent=self.permanent)

    def save_session(self, app: Flask, sess: SealedSession, response: Response) -> None:
        if sess.unavailable:
            return
        try:
            super().save_session(app, sess, response)
        except WriteRefused:
            log.info("late write refused: the session ended meanwhile", extra={"event": "session_write_refused"})
        except self.vault.store_errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None

    def regenerate(self, sess: SealedSession) -> None:
        """A new id and secret; the old record is deleted (sign-in, sign-out)."""
        try:
            if sess.stored:
                self._delete_session(self.key_prefix + sess.sid)
        except self.vault.store_errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None
        sess.sid = self._generate_sid(0)
        sess.stored, sess.written, sess.modified = False, None, True

    # -- for the layers above

    def write_now(self, sess: SealedSession) -> None:
        """Store the session before the view goes on (a sign-in is logged only once stored); the
        response then sets the cookie without storing it again."""
        try:
            self._upsert_session(current_app.permanent_session_lifetime, sess, self.key_prefix + sess.sid)
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
    userinfo: dict[str, Any]  # the provider's userinfo response, as sent


def session_record() -> SessionRecord:
    """This request's `flask.session` (the same object: writes mark it modified), typed as SessionRecord."""
    return cast(SessionRecord, session)


def session_interface() -> SealedSessions:
    """The app's session interface, as init_sessions installed it (Flask types it as the base class)."""
    return cast(SealedSessions, current_app.session_interface)


def sealed_session() -> SealedSession:
    return cast(SealedSession, session)


def current_id() -> str:
    """The signed-in session's id: the part of the cookie that names its record, never the secret."""
    sid: str = sealed_session().sid
    return sid.partition(".")[0]


def current_session() -> SessionInfo | None:
    """The signed-in session's clock and userinfo; None for a visitor."""
    record = session_record()
    if "user" not in record:
        return None
    idle = int(current_app.permanent_session_lifetime.total_seconds())
    signed_in_at, last_seen = record.get("signed_in_at", 0), record.get("last_seen", 0)
    expires_at = min(signed_in_at + int(current_app.config["SESSION_ABSOLUTE_LIFETIME"]), last_seen + idle)
    return SessionInfo(signed_in_at, last_seen, expires_at, idle, dict(record.get("userinfo", {})))


def record_lifetime(sess: SessionMixin) -> int:
    """Seconds the store keeps this record: anonymous 10 minutes; signed in, until idle or absolute end."""
    if "user" not in sess:
        return PENDING_LIFETIME
    idle = int(current_app.permanent_session_lifetime.total_seconds())
    absolute_end = sess.get("signed_in_at", 0) + current_app.config["SESSION_ABSOLUTE_LIFETIME"]
    return max(1, min(idle, int(absolute_end - time.time())))


def init_sessions(app: Flask, vault: Vault, space: str) -> SealedSessions:
    interface = SealedSessions(app, vault, space)
    app.session_interface = interface
    return interface


def end_session(message: str, category: str = "info") -> None:
    """Delete the record, leave a message under a new id: the old cookie then opens nothing, and
    no request that loaded the old record can write it back (the conditional writes)."""
    session.clear()
    session_interface().regenerate(sealed_session())
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
