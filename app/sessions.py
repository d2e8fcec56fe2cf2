"""Server-side sessions: Flask-Session's cachelib and Redis stores, hardened.

Additions over Flask-Session, each for a reason:
- a record with nobody signed in (a pending sign-in, a flash) lives 10 minutes, not 8 hours,
  and the file store sweeps expired records, so anonymous traffic cannot grow the store;
- the file store never evicts (cachelib's threshold would delete live sign-ins);
- a store that does not answer gives a 503 page, and /healthz, /readyz and static files never
  touch it;
- idle and absolute lifetimes, with the idle clock written at most once a minute so that
  a page view costs one store read, not a read and a write.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from datetime import timedelta
from typing import Any

import redis
from cachelib.file import FileSystemCache
from flask import Flask, Request, current_app, flash, g, session
from flask_session.cachelib import CacheLibSessionInterface
from flask_session.redis import RedisSessionInterface

from .errors import StoreUnavailable
from .oidc import PENDING_LIFETIME

log = logging.getLogger(__name__)

SESSIONLESS_PATHS = ("/healthz", "/readyz", "/static/")
TOUCH_INTERVAL = 60  # seconds between writes of the idle clock
SWEEP_INTERVAL = 60  # seconds between sweeps of expired files, per process


class _HardenedStore:
    store_errors: tuple[type[Exception], ...] = ()

    def open_session(self, app: Flask, request: Request) -> Any:
        if request.path.startswith(SESSIONLESS_PATHS):
            return self.session_class(sid=self._generate_sid(self.sid_length), permanent=self.permanent)
        try:
            return super().open_session(app, request)
        except self.store_errors as exc:
            log.warning("session store unavailable: %s", exc)
            broken = self.session_class(sid=self._generate_sid(self.sid_length), permanent=self.permanent)
            broken.unavailable = True  # check_session() turns this into a 503 page
            return broken

    def save_session(self, app: Flask, sess: Any, response: Any) -> None:
        if getattr(sess, "unavailable", False):
            return
        try:
            super().save_session(app, sess, response)
        except self.store_errors as exc:
            raise StoreUnavailable(str(exc)) from None

    def regenerate(self, sess: Any) -> None:
        """Called from views (sign-in, sign-out): a store that fails there is a 503 too, not a 500."""
        try:
            super().regenerate(sess)
        except self.store_errors as exc:
            raise StoreUnavailable(str(exc)) from None

    def _upsert_session(self, session_lifetime: timedelta, sess: Any, store_id: str) -> None:
        if "user" not in sess:
            session_lifetime = min(session_lifetime, timedelta(seconds=PENDING_LIFETIME))
        super()._upsert_session(session_lifetime, sess, store_id)

    def ping(self) -> None:
        """Raise when the store cannot serve sessions; used by /readyz."""
        raise NotImplementedError


class SessionFolder(FileSystemCache):
    """cachelib logs a failed write and returns False; we want the 503 page instead."""

    def set(self, key: str, value: Any, timeout: Any = None, mgmt_element: bool = False) -> bool:
        if not super().set(key, value, timeout, mgmt_element):
            raise OSError(f"could not write to the session folder {self._path}")
        return True

    def remove_expired(self, now: float, shortest_lifetime: float) -> None:
        """cachelib's expiry scan (`_remove_expired`), without opening files too young to expire.

        Every record lives at least `shortest_lifetime` from its write, its file's mtime: younger
        files are only stat()ed. The scan runs inside a request; with 26,000 pending sign-ins in
        the folder cachelib's version took 0.5 s (over 1 s under load, past wrk's timeout).
        """
        cutoff = now - shortest_lifetime
        with os.scandir(self._path) as entries:
            for entry in entries:
                if entry.name.endswith(self._fs_transaction_suffix):
                    continue
                try:
                    if entry.stat().st_mtime > cutoff:
                        continue
                    with open(entry.path, "rb") as handle:
                        expires = struct.unpack("I", handle.read(4))[0]  # cachelib's header
                    if expires != 0 and expires < now:
                        os.remove(entry.path)
                except (OSError, struct.error):  # gone meanwhile, or half-written: the next sweep sees it
                    continue


class FileStore(_HardenedStore, CacheLibSessionInterface):
    """One folder shared by every worker on the host."""

    store_errors = (OSError,)
    _last_sweep = 0.0

    def _upsert_session(self, session_lifetime: timedelta, sess: Any, store_id: str) -> None:
        if "user" not in sess:
            self._sweep()
        super()._upsert_session(session_lifetime, sess, store_id)

    def _sweep(self) -> None:
        now = time.time()
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self._last_sweep = now
            shortest = min(PENDING_LIFETIME, current_app.permanent_session_lifetime.total_seconds())
            self.cache.remove_expired(now, shortest)

    def ping(self) -> None:
        path = self.cache._path
        if not (os.path.isdir(path) and os.access(path, os.W_OK)):
            raise StoreUnavailable(f"session folder {path} is not writable")


class RedisStore(_HardenedStore, RedisSessionInterface):
    """Shared by every instance: any instance can serve any request."""

    store_errors = (redis.RedisError,)

    def ping(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise StoreUnavailable(f"redis: {exc}") from None


def make_redis(url: str, timeout: float) -> redis.Redis:
    """Short timeouts and a single retry: a dead Redis costs a request about a second, not minutes.

    No `health_check_interval`: its PING before a command on an idle connection has its own
    timeout and retry, which doubled the worst case under a hung Redis to over 2 s. A connection
    left stale by a Redis restart is still replaced: the pool checks it on checkout, and the retry
    reconnects.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=redis.retry.Retry(redis.backoff.NoBackoff(), 1),
    )


def init_sessions(app: Flask) -> None:
    config = app.config
    options = {"key_prefix": "session:", "use_signer": False, "permanent": True, "sid_length": 32}
    if config["SESSION_TYPE"] == "redis":
        config["SESSION_REDIS"] = make_redis(config["REDIS_URL"], config["REDIS_TIMEOUT"])
        app.session_interface = RedisStore(app, client=config["SESSION_REDIS"], **options)
    else:
        folder = config["SESSION_CACHELIB_DIR"] or os.path.join(app.instance_path, "sessions")
        config["SESSION_CACHELIB"] = SessionFolder(folder, threshold=0, default_timeout=0)
        app.session_interface = FileStore(app, client=config["SESSION_CACHELIB"], **options)
    app.before_request(check_session)


def check_session() -> None:
    """Load the signed-in user into `g.user`, enforcing idle and absolute lifetimes."""
    if getattr(session, "unavailable", False):
        raise StoreUnavailable("session store unavailable")
    g.user = None
    user = session.get("user")
    if not user:
        return
    now = time.time()
    idle = current_app.permanent_session_lifetime.total_seconds()
    expired = (now - session.get("signed_in_at", 0) > current_app.config["SESSION_ABSOLUTE_LIFETIME"]
               or now - session.get("last_seen", 0) > idle)
    if expired:
        log.info("session expired", extra={"event": "session_expired", "sub": user.get("sub")})
        end_session("Your session expired. Please sign in again.")
        return
    if now - session.get("last_seen", 0) >= TOUCH_INTERVAL:
        session["last_seen"] = int(now)
    g.user = user


def end_session(message: str, category: str = "info") -> None:
    """Empty the session, leave a message, and move what is left to a new id: the old cookie
    then points at nothing."""
    session.clear()
    flash(message, category)
    current_app.session_interface.regenerate(session)
