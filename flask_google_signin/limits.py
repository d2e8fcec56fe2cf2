"""Rate limits per client address: LOGIN_RATE_LIMIT on sign-ins, RISC_RATE_LIMIT on POST /risc.

Each sign-in (/login, and a connect that asks Google for more) writes a pending record to the
session store, so a stranger who loops on /login could fill the store. /callback needs a pending
sign-in made by /login, pages need a session, and health checks must never be refused: only the
starts of sign-ins and the security-event receiver are limited.

The notation is `limits`' (Flask-Limiter's): `20/minute`, several joined with `;`; fixed windows,
as `limits` counts by default. The key is `request.remote_addr`, which ProxyFix (app/security.py)
rewrites from X-Forwarded-For only when TRUSTED_PROXIES says how many proxies to believe.

The counts live in the session store (store.py), beside what they protect:
- Redis (SESSION_TYPE=redis): shared by every worker and instance. A sign-in's count rides on the
  script that writes its pending record, so the limit costs /login no extra round trip. Flask-Limiter,
  which this used before, added a round trip and its per-request resolution of the limits: 40-50 %
  more CPU per /login (docs/benchmarks.md). A Redis that does not answer is the store's 503.
- Files: in each worker process's memory (a counter per file would cost a write per request), so
  an address may get up to the limit times WEB_CONCURRENCY through.
"""

from __future__ import annotations

import logging

import limits
from flask import Flask, current_app, request

from . import metrics
from .errors import RATE_LIMITED, RateLimited, render_error
from .store import Window

log = logging.getLogger(__name__)


class RateLimit:
    """One setting's limits, parsed once; `windows` names one address's counters."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.items = [(item.amount, item.get_expiry()) for item in limits.parse_many(value)] if value else []

    def windows(self, address: str) -> list[Window]:
        """One counter per limit; the limit is in the name, so a changed setting starts afresh."""
        return [(f"{self.name}:{most}/{seconds}:{address}", most, seconds) for most, seconds in self.items]


def init_limits(app: Flask) -> None:
    """Parse both settings (checked already by settings.py) and answer RateLimited with 429 and Retry-After.

    RISC's 429 is JSON (risc.too_many); every other is the sign-in error page.
    """
    app.extensions["google_signin_limits"] = {
        "login": RateLimit("login", app.config["LOGIN_RATE_LIMIT"]),
        "risc": RateLimit("risc", app.config["RISC_RATE_LIMIT"]),
    }

    @app.errorhandler(RateLimited)
    def too_many_sign_ins(exc: RateLimited) -> tuple[str, int, dict[str, str]]:
        body, status = render_error(429, RATE_LIMITED.format(wait=exc.wait))
        return body, status, {"Retry-After": str(exc.wait)}


def windows(name: str) -> list[Window]:
    """The counters of limit `name` ("login" or "risc") for this request's client address."""
    limit: RateLimit = current_app.extensions["google_signin_limits"][name]
    return limit.windows(request.remote_addr or "unknown")


def refuse(wait: int) -> RateLimited:
    """The refusal of this request: counted, logged with the address, raised by the caller."""
    metrics.rate_limited()
    log.info("rate limited", extra={"event": "rate_limited", "route": request.endpoint,
                                    "address": request.remote_addr, "wait": wait})
    return RateLimited(wait)
