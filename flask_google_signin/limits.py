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

from flask import Flask, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import risc, views
from .errors import RATE_LIMITED, render_error
from .store import namespace


def make_limiter(app: Flask) -> Limiter:
    """The limiter on the session store's Redis, or in memory for the file store.

    Redis gets REDIS_TIMEOUT and a single attempt: on a hung Redis the limiter costs /login one
    timeout, then counts in memory and tries Redis again after 1, 2, 4 ... 32 s, so the request
    still gets the store's own 503 quickly. swallow_errors: a limiter that cannot count lets the
    request through, it never causes a 500.
    """
    config = app.config
    prefix = f"limiter:{namespace(config['GOOGLE_CLIENT_ID'])}"  # one deployment's counts, like its sessions
    if config["SESSION_TYPE"] != "redis":
        return Limiter(get_remote_address, app=app, storage_uri="memory://", swallow_errors=True, key_prefix=prefix)
    timeout = config["REDIS_TIMEOUT"]
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry": Retry(NoBackoff(), 0)}
    return Limiter(get_remote_address, app=app, storage_uri=config["REDIS_URL"], storage_options=options,
                   in_memory_fallback_enabled=True, swallow_errors=True, key_prefix=prefix)


LIMITED = ("auth.login", "risc.receive")  # the only endpoints the limiter looks at


def init_limits(app: Flask) -> None:
    """Apply LOGIN_RATE_LIMIT to /login; beyond it, the error page with 429 and Retry-After.

    RISC_RATE_LIMIT applies to POST /risc the same way (its 429 is JSON: risc.too_many).
    """
    limiter = make_limiter(app)
    app.view_functions["auth.login"] = limiter.limit(app.config["LOGIN_RATE_LIMIT"])(views.login)
    app.view_functions["risc.receive"] = limiter.limit(app.config["RISC_RATE_LIMIT"])(risc.receive)
    limiter.request_filter(lambda: request.endpoint not in LIMITED)  # others skip its lookups: half the cost

    @app.errorhandler(RateLimitExceeded)
    def too_many_sign_ins(exc: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
        """Flask-Limiter has already logged the address and the limit (logger `flask-limiter`)."""
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
