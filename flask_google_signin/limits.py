"""Rate limits: LOGIN_RATE_LIMIT on /login, per client address.

Each /login writes a pending sign-in to the session store, so a stranger who loops on it could
fill the store. Only /login is limited: /callback needs a pending sign-in made by /login, pages
need a session, and health checks must never be refused.

The key is `request.remote_addr`, which ProxyFix (app/security.py) rewrites from X-Forwarded-For
only when TRUSTED_PROXIES says how many proxies to believe. The counts live in the session
store's Redis with SESSION_TYPE=redis (shared by every instance), and in memory otherwise
(Flask-Limiter has no file storage, so with the file store each worker process counts alone).
"""

from __future__ import annotations

import time
from typing import Any, cast
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits.storage import MemoryStorage
from redis import Redis

from . import metrics
from .errors import RATE_LIMITED, render_error
from .store import connection_options, namespace, redis_client


def make_limiter(app: Flask) -> Limiter:
    """The limiter on the session store's Redis, or in memory for the file store.

    Redis gets REDIS_TIMEOUT and a single attempt: on a hung Redis the limiter costs /login one
    timeout, then counts in memory and tries Redis again after 1, 2, 4 ... 32 s, so the request
    still gets the store's own 503 quickly. swallow_errors: a limiter that cannot count lets the
    request through, it never causes a 500.

    Redis is reached as the store reaches it, TLS, Sentinel and Cluster included: `limits` gets the
    connection pool of a client from store.redis_client (one node, or Sentinel's master through its
    failovers), or, for a Cluster, whose storage takes no pool, the node and the same options.
    """
    config = app.config
    prefix = f"limiter:{namespace(config['GOOGLE_CLIENT_ID'])}"  # one deployment's counts, like its sessions
    # The limits are Flask-Limiter's default limits, resolved per endpoint (endpoint_limit) and checked
    # once, in its before_request hook: a decorated view is looked at twice (hook and decorator), which
    # cost /login about as much as the count itself (docs/benchmarks.md).
    common: dict[str, Any] = {"app": app, "default_limits": [endpoint_limit], "swallow_errors": True,
                              "key_prefix": prefix}
    if config["SESSION_TYPE"] != "redis":
        return Limiter(get_remote_address, storage_uri="signin-memory://", **common)
    uri, options = limits_storage(config)
    return Limiter(get_remote_address, storage_uri=uri, storage_options=options, in_memory_fallback_enabled=True,
                   **common)


class WorkerMemory(MemoryStorage):
    """`limits`' memory storage (per worker, for the file store) without its sweeper thread.

    MemoryStorage starts a threading.Timer for each 10 ms of traffic to expire old counts: that
    thread cost /login more than the count itself (docs/benchmarks.md). A count is already
    expired when it is read (get); the counts of addresses that do not come back are swept here,
    at most once a minute. Registered under its own scheme (`signin-memory://`), `limits`' way of
    adding a storage; tests/test_private_hooks.py pins the attributes it shares with its parent.
    """

    STORAGE_SCHEME = ["signin-memory"]  # noqa: RUF012 - limits reads this class attribute as it is
    SWEEP_INTERVAL = 60.0
    swept_at = 0.0

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        if now - self.swept_at >= self.SWEEP_INTERVAL:
            self.swept_at = now
            for stale in [k for k, at in list(self.expirations.items()) if at <= now]:
                self.get(stale)  # get() drops an expired count
        self.get(key)
        with self.locks[key]:
            self.storage[key] += amount
            if self.storage[key] == amount:
                self.expirations[key] = now + expiry
        return self.storage.get(key, 0)


def endpoint_limit() -> str:
    """LOGIN_RATE_LIMIT for /login, RISC_RATE_LIMIT for /risc (the request filter lets no other through)."""
    name = "RISC_RATE_LIMIT" if request.endpoint == "risc.receive" else "LOGIN_RATE_LIMIT"
    return str(current_app.config[name])


def limits_storage(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The storage URI and options for `limits`, single attempt (retries=0)."""
    if config["REDIS_CLUSTER_URL"]:
        parts = urlsplit(config["REDIS_CLUSTER_URL"])
        options = connection_options(config, retries=0)
        if parts.scheme == "rediss":
            options["ssl"] = True
        return f"redis+cluster://{parts.netloc}", options
    client = cast(Redis, redis_client(config, retries=0))  # one node or Sentinel's master: a redis.Redis
    return "redis://", {"connection_pool": client.connection_pool}


LIMITED = ("auth.login", "risc.receive")  # the only endpoints the limiter looks at


def init_limits(app: Flask) -> None:
    """Apply LOGIN_RATE_LIMIT to /login; beyond it, the error page with 429 and Retry-After.

    RISC_RATE_LIMIT applies to POST /risc the same way (its 429 is JSON: risc.too_many).
    """
    limiter = make_limiter(app)
    limiter.request_filter(lambda: request.endpoint not in LIMITED)  # others skip its lookups

    @app.errorhandler(RateLimitExceeded)
    def too_many_sign_ins(exc: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
        """Flask-Limiter has already logged the address and the limit (logger `flask-limiter`)."""
        metrics.rate_limited()
        wait = retry_after(limiter, exc)
        body, status = render_error(429, RATE_LIMITED.format(wait=wait))
        return body, status, {"Retry-After": str(wait)}


def retry_after(limiter: Limiter, exc: RateLimitExceeded) -> int:
    """Seconds until the breached window resets; the whole window if the store cannot say."""
    try:
        current = limiter.current_limit
        reset_at = None if current is None else current.reset_at  # reset_at asks the store
    except Exception:  # the store failed between the count and now: a guess, never a 500
        reset_at = None
    if reset_at is None:
        return exc.limit.limit.get_expiry()
    return max(1, int(reset_at - time.time()))
