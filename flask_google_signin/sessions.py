"""Server-side sessions on Flask-Session, sealed, and pending sign-ins beside them.

The cookie carries `id.secret`: the id names the record in the store, the secret opens it
(store.py). What Flask-Session's interfaces get from us, each for a reason:
- its backend hooks (`_retrieve_session_data`, `_upsert_session`, `_delete_session`) seal and open
  records and write them conditionally: a session that was ended (sign-out, expiry) is never
  written back by a request that loaded it earlier, and that request sets no cookie;
- a record with nobody signed in (a flash message) lives 10 minutes, a signed-in one until its
  idle or absolute lifetime ends, whichever is first;
- a store that does not answer gives a 503 page; /healthz, /readyz and static files never touch it;
- the idle clock is written at most once a minute, so a page view costs one store read.

Pending sign-ins are not in the session: each has its own record and its own cookie, so two tabs
that start signing in at the same moment both finish, and an anonymous /login writes one small
record that the PENDING_SIGNINS_MAX cap bounds.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NotRequired, TypedDict, cast

from flask import Flask, Request, Response, after_this_request, current_app, flash, g, request, session
from flask.sessions import SessionInterface, SessionMixin
from flask_session.base import ServerSideSessionInterface
from flask_session.cachelib import CacheLibSessionInterface
from flask_session.redis import RedisSession, RedisSessionInterface
from redis import Redis

from . import limits, metrics
from .errors import SESSION_EXPIRED, SignInError, StoreUnavailable
from .store import FULL, Records, RedisRecords, Sealer, digest, namespace, new_secret, open_records

log = logging.getLogger(__name__)

SESSIONLESS_PATHS = ("/healthz", "/readyz", "/static/")
TOUCH_INTERVAL = 60  # seconds between writes of the idle clock
PENDING_LIFETIME = 600  # a sign-in must come back within 10 minutes
MAX_PENDING = 4  # pending sign-ins kept per browser (several tabs), oldest dropped first
COOKIE_VALUE = re.compile(r"([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})")


# --------------------------------------------------------------------------- what the records hold


class User(TypedDict):
    """Who is signed in (`g.user`, `current_user`): userinfo's value of each claim, else the ID token's.

    `sub` is checked (a non-empty string, the same in both); the others are the provider's values
    as sent, so any JSON type, or None when neither had the claim. `hd` is the ID token's only.
    """

    sub: str
    name: object
    email: object
    email_verified: object
    picture: object
    hd: object


class Token(TypedDict):
    """The parts of a token response kept server-side (oidc.keep_token); never the ID token."""

    access_token: str
    refresh_token: str | None
    expires_at: int | None  # Unix time
    scope: str  # space-separated, as granted
    token_type: str


class SessionRecord(TypedDict, total=False):
    """Every key a session holds; `session_record()` is this request's session with these types.

    Signed in, it holds user, userinfo, token (until Google access ends), signed_in_at and
    last_seen; anonymous, at most the flashed messages and the CSRF token.
    """

    user: User
    userinfo: dict[str, Any]  # the provider's userinfo response, as sent
    token: Token
    signed_in_at: int  # Unix time; the absolute lifetime counts from here
    last_seen: int  # Unix time, written at most every TOUCH_INTERVAL; the idle lifetime counts from here
    google_access_ended: str  # why the tokens were dropped (the refused refresh's error code, "disconnected")
    declined_scopes: list[str]  # asked for by the last connect_scopes and not granted (granular consent)
    browser: str  # "Firefox 133 on Ubuntu", from the User-Agent at sign-in (the sessions page)
    # Flask's and Flask-WTF's own keys
    _flashes: list[Sequence[str]]  # (category, message): tuples when flashed, lists once read from the store
    csrf_token: str  # Flask-WTF's raw token for the sign-out form
    _permanent: bool  # Flask-Session marks every session permanent (the cookie has an expiry)


class Connect(TypedDict):
    """An incremental authorization (views.connect_scopes): what for, the scopes added, who asked."""

    purpose: str  # the host's name for it, e.g. "calendar"
    scopes: list[str]  # asked for on top of the sign-in scopes
    sub: str  # the signed-in user who started it: the ID token coming back must be theirs


class PendingData(TypedDict):
    """What /callback needs from /login (Authlib's `save_authorize_data` keywords besides the state)."""

    redirect_uri: str
    next: str  # where to land after signing in, a local path (views.safe_next)
    nonce: str
    code_verifier: str  # PKCE (RFC 7636)
    connect: NotRequired[Connect]  # absent for a sign-in


class PendingSignIn(TypedDict):
    """A pending sign-in's sealed record: its state, and the data kept for /callback."""

    state: str
    data: PendingData


def session_record() -> SessionRecord:
    """This request's `flask.session` (the same object: writes mark it modified), typed as SessionRecord."""
    return cast(SessionRecord, session)


def session_interface() -> SealedSessions:
    """The app's session interface, as init_sessions installed it (Flask types it as the base class)."""
    return cast(SealedSessions, current_app.session_interface)


# --------------------------------------------------------------------------- sessions


class SealedSessions(SessionInterface):
    """Mixed in before a Flask-Session interface: its hooks, over sealed conditional records.

    Subclasses Flask's SessionInterface only for the types (Flask-Session's interfaces do too, so
    the method order is the same as without it): the cookie helpers below are Flask's.
    """

    records: Records
    sealer: Sealer
    key_prefix: str
    session_class: Any
    permanent: bool

    # -- Flask-Session's backend hooks (tests/test_private_hooks.py pins how Flask-Session calls them)

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
        blob = self.records.get(key)
        return None if blob is None else self.sealer.open(self.sealer.key(secret), blob, key)

    def _upsert_session(self, session_lifetime: timedelta, sess: Any, store_id: str) -> None:
        key, secret = self._split(store_id) or ("", "")
        blob = self.sealer.seal(self.sealer.key(secret), dict(sess), key)
        sess.saved = self.records.put(key, blob, record_lifetime(sess), exists=sess.stored)

    def _delete_session(self, store_id: str) -> None:
        parts = self._split(store_id)
        if parts:
            self.records.delete(parts[0])

    # -- Flask's SessionInterface

    def open_session(self, app: Flask, request: Request) -> Any:
        if request.path.startswith(SESSIONLESS_PATHS):
            return self.fresh()
        try:
            sess: Any = super().open_session(app, request)  # Flask-Session's ServerSideSession
        except self.records.store_errors as exc:
            log.warning("session store unavailable: %s", type(exc).__name__)
            sess = self.fresh()
            sess.unavailable = True  # check_session() turns this into a 503 page
            return sess
        sess.stored = sess.sid == request.cookies.get(app.config["SESSION_COOKIE_NAME"])
        sess.unavailable = sess.written_now = False  # present on each session: looking them up raises nothing
        return sess

    def fresh(self) -> Any:
        sess = self.session_class(sid=self._generate_sid(0), permanent=self.permanent)
        sess.stored = sess.unavailable = sess.written_now = False
        return sess

    def save_session(self, app: Flask, sess: Any, response: Response) -> None:
        """Flask-Session's, except that a refused write (the session ended meanwhile) sets no cookie."""
        if getattr(sess, "unavailable", False):
            return
        if sess.accessed:  # the page depends on the cookie: shared caches must not mix users up
            if response.headers.getlist("Vary"):
                response.vary.add("Cookie")
            else:  # the usual case, without parsing and rewriting a Vary header
                response.headers.add("Vary", "Cookie")
        if not sess.modified and not getattr(sess, "written_now", False):
            return  # nothing changed: no write, no cookie (most page views)
        name, domain, path = app.config["SESSION_COOKIE_NAME"], self.get_cookie_domain(app), self.get_cookie_path(app)
        store_id = self.key_prefix + sess.sid
        try:
            if not sess:
                if sess.modified:
                    if sess.stored:
                        self._delete_session(store_id)
                    response.delete_cookie(name, domain=domain, path=path)
                return
            if sess.modified:  # else it was written now (write_now): only the cookie is left to set
                self._upsert_session(app.permanent_session_lifetime, sess, store_id)
        except self.records.store_errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None
        if not sess.saved:
            log.info("late write refused: the session ended meanwhile", extra={"event": "session_write_refused"})
            return
        response.set_cookie(name, sess.sid, expires=self.get_expiration_time(app, sess), httponly=True,
                            domain=domain, path=path, secure=self.get_cookie_secure(app),
                            samesite=self.get_cookie_samesite(app))

    def write_now(self, sess: Any) -> None:
        """Store the session before the view goes on (sign-in logs only a stored session); the
        response then only sets the cookie."""
        try:
            self._upsert_session(current_app.permanent_session_lifetime, sess, self.key_prefix + sess.sid)
        except self.records.store_errors as exc:
            sess.unavailable = True  # the error page does not try to store it again
            raise StoreUnavailable(type(exc).__name__) from None
        sess.stored, sess.modified, sess.written_now = True, False, True

    def regenerate(self, sess: Any) -> None:
        """A new id and secret; the old record is deleted. Called from views (sign-in, sign-out)."""
        try:
            if sess.stored:
                self._delete_session(self.key_prefix + sess.sid)
        except self.records.store_errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None
        sess.sid = self._generate_sid(0)
        sess.stored = False
        sess.modified = True

    def stored(self, sess: Any) -> SessionRecord | None:
        """The record of `sess` as the store holds it now; None once it ended.

        Another request of the same browser (a second tab, another instance) may have changed it
        since this one loaded it; every request of a session carries its secret, so it can look.
        """
        try:
            data = self._retrieve_session_data(self.key_prefix + sess.sid)
        except self.records.store_errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None
        return cast("SessionRecord | None", data)

    def ping(self) -> None:
        """Raise when the store cannot serve sessions; used by /readyz."""
        try:
            self.records.ping()
        except self.records.store_errors as exc:
            raise StoreUnavailable(type(exc).__name__) from exc


class FileStore(SealedSessions, CacheLibSessionInterface):
    """Files in one folder shared by every worker on the host (SESSION_TYPE=cachelib)."""


class RedisStore(SealedSessions, RedisSessionInterface):
    """Shared by every instance: any instance can serve any request (SESSION_TYPE=redis).

    One node, or the master Sentinel names: both are a `redis.Redis`, as Flask-Session asks.
    """


class ClusterStore(SealedSessions, ServerSideSessionInterface):
    """The same on a Redis Cluster (REDIS_CLUSTER_URL).

    Flask-Session's RedisSessionInterface warns about, and replaces, any client that is not a
    `redis.Redis`, which a RedisCluster is not. SealedSessions overrides every hook that touches the
    client, so the client only needs to be kept: this builds on Flask-Session's base interface
    (docs/private-hooks.md) with the Redis backend's session class.
    """

    session_class = RedisSession

    def __init__(self, app: Flask, client: Any, **options: Any) -> None:
        super().__init__(app, **options)
        self.client = client


def record_lifetime(sess: SessionMixin) -> int:
    """Seconds the store keeps this record: anonymous 10 minutes; signed in, until idle or absolute end."""
    if "user" not in sess:
        return PENDING_LIFETIME
    config = current_app.config
    idle = int(current_app.permanent_session_lifetime.total_seconds())
    absolute_end = sess.get("signed_in_at", 0) + config["SESSION_ABSOLUTE_LIFETIME"]
    return max(1, min(idle, int(absolute_end - time.time())))


def init_sessions(app: Flask) -> None:
    config = app.config
    config.setdefault("SESSION_CACHELIB_DIR", None)
    config["SESSION_CACHELIB_DIR"] = config["SESSION_CACHELIB_DIR"] or str(app.instance_path) + "/sessions"
    space = namespace(config["GOOGLE_CLIENT_ID"])
    records = open_records(config, space, PENDING_LIFETIME)
    options = {"key_prefix": f"session:{space}:", "use_signer": False, "permanent": True}
    interface: SealedSessions
    if isinstance(records, RedisRecords) and isinstance(records.client, Redis):  # SESSION_TYPE=redis
        interface = RedisStore(app, client=records.client, **options)
    elif isinstance(records, RedisRecords):  # and REDIS_CLUSTER_URL
        interface = ClusterStore(app, client=records.client, **options)
    else:
        interface = FileStore(app, client=records, **options)
    interface.records = records = metrics.TimedRecords(records)  # every operation timed
    interface.sealer = Sealer(config["SECRET_KEY"], space)
    app.session_interface = interface
    from .accounts import SessionIndex

    app.extensions["google_signin_index"] = SessionIndex(records, config["SECRET_KEY"], space)
    app.before_request(check_session)


def check_session() -> None:
    """Load the signed-in user into `g.user`, enforcing idle and absolute lifetimes."""
    g.user = None
    if request.endpoint == "static":  # the same file for everyone: the session is not read, so no
        return                        # `Vary: Cookie` keeps shared caches from keeping it (nor a store outage)
    if getattr(session, "unavailable", False):
        raise StoreUnavailable("session store unavailable")
    record = session_record()
    user = record.get("user")
    if not user:
        return
    now = time.time()
    since_seen = now - record.get("last_seen", 0)
    if (now - record.get("signed_in_at", 0) > current_app.config["SESSION_ABSOLUTE_LIFETIME"]
            or since_seen > current_app.permanent_session_lifetime.total_seconds()):
        from . import accounts  # imported here, when needed: it imports this module

        log.info("session expired", extra={"event": "session_expired", "sub": user.get("sub")})
        accounts.on_sign_out(user["sub"], accounts.current_id())
        end_session(SESSION_EXPIRED)
        metrics.session_ended("expiry")
        return
    g.user = user
    if since_seen >= TOUCH_INTERVAL:  # the idle clock, written at most once a minute
        from . import accounts

        record["last_seen"] = int(now)
        accounts.on_touch(user["sub"])


def end_session(message: str, category: str = "info") -> None:
    """Delete the record, leave a message under a new id: the old cookie then opens nothing, and
    no request that loaded the old record can write it back (store.py's conditional writes)."""
    session.clear()
    session_interface().regenerate(session)
    flash(message, category)


def drop_google_access(reason: str) -> None:
    """The grant is gone (a refused refresh, a disconnect): the user stays signed in, without Google tokens."""
    record = session_record()
    record.pop("token", None)
    record.pop("declined_scopes", None)
    record["google_access_ended"] = reason


# --------------------------------------------------------------------------- pending sign-ins


def pending_cookie(state: str) -> str:
    """One cookie per pending sign-in, named after its state: parallel sign-ins do not collide."""
    return f"{current_app.config['SESSION_COOKIE_NAME']}_signin_{state[:12]}"


def _pending_cookies() -> list[tuple[int, str, str]]:
    """This browser's pending sign-ins as (issued, cookie name, secret), oldest first."""
    prefix = f"{current_app.config['SESSION_COOKIE_NAME']}_signin_"
    found: list[tuple[int, str, str]] = []
    for name, value in request.cookies.items():
        issued, _, secret = value.partition(".")
        if name.startswith(prefix) and issued.isdigit() and secret:
            found.append((int(issued), name, secret))
    return sorted(found)


def _set_cookie(name: str, value: str, max_age: int) -> None:
    config = current_app.config

    @after_this_request
    def set_it(response: Response) -> Response:
        response.set_cookie(name, value, max_age=max_age, httponly=True, secure=config["SESSION_COOKIE_SECURE"],
                            samesite="Lax", path="/")
        return response


def save_pending(state: str, data: PendingData) -> None:
    """Keep what /callback needs (nonce, PKCE verifier, redirect URI, next), sealed by a cookie secret.

    Beyond LOGIN_RATE_LIMIT for this address: 429 (limits.py). Past PENDING_SIGNINS_MAX pending
    records in the whole store: 503. Either way nothing is written, and the browser's other pending
    sign-ins stay as they were.
    """
    interface = session_interface()
    records = interface.records
    secret = new_secret()
    key = records.pending_key(digest(secret))
    pending: PendingSignIn = {"state": state, "data": data}
    blob = interface.sealer.seal(interface.sealer.key(secret), pending, key)
    try:
        outcome = records.add_pending(key, blob, PENDING_LIFETIME, current_app.config["PENDING_SIGNINS_MAX"],
                                      limits.windows("login"))
    except records.store_errors as exc:
        raise StoreUnavailable(type(exc).__name__) from None
    if outcome > 0:
        raise limits.refuse(outcome)
    if outcome == FULL:
        raise SignInError("too_many_pending", "pending sign-in cap reached")
    for _, name, older in _pending_cookies()[: -MAX_PENDING + 1 or None]:  # keep the newest few
        records.take_pending(records.pending_key(digest(older)))
        _set_cookie(name, "", 0)
    _set_cookie(pending_cookie(state), f"{int(time.time())}.{secret}", PENDING_LIFETIME)


def take_pending(state: str | None) -> PendingData | None:
    """The pending sign-in this browser started with `state`, once: it is deleted as it is read."""
    if not state:
        return None
    name = pending_cookie(state)
    _, _, secret = request.cookies.get(name, "").partition(".")
    if not secret:
        return None
    _set_cookie(name, "", 0)  # spent, whatever happens next
    interface = session_interface()
    key = interface.records.pending_key(digest(secret))
    try:
        blob = interface.records.take_pending(key)
    except interface.records.store_errors as exc:
        raise StoreUnavailable(type(exc).__name__) from None
    opened = None if blob is None else interface.sealer.open(interface.sealer.key(secret), blob, key)
    entry = cast("PendingSignIn | None", opened)  # sealed (authenticated) by save_pending: what it wrote
    if not entry or entry.get("state") != state:
        return None
    return entry["data"]
