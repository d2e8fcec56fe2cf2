"""Rate limits per client address: LOGIN_RATE_LIMIT on sign-ins, RISC_RATE_LIMIT on POST /risc.

Each sign-in (/login, and a connect that asks Google for more) writes a pending record to the
session store, so a stranger who loops on /login could fill the store. /callback needs a pending
sign-in made by /login, pages need a session, and health checks must never be refused: only the
starts of sign-ins and the security-event receiver are limited.

The notation is `limits`' (Flask-Limiter's): `20/minute`, several joined with `;`; fixed windows,
as `limits` counts by default. The key is `request.remote_addr`: behind a proxy, the host app's
ProxyFix decides which address that is.

The counts live in the session store, beside what they protect:
- Redis (SESSION_TYPE=redis): shared by every worker and instance. A sign-in's count rides on the
  script that writes its pending record, so the limit costs /login no extra round trip. A Redis
  that does not answer is the store's 503.
- Files: in each worker process's memory (a counter per file would cost a write per request), so
  an address may get up to the limit times the number of worker processes through.
"""

from __future__ import annotations

import ipaddress
import logging

import limits
from flask import Flask, current_app, request

from .. import metrics
from ..errors import RateLimited
from ..store import Window

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
    """Parse both settings (checked already at start-up); the web layer answers RateLimited with 429."""
    config = app.extensions["google_signin_settings"]
    app.extensions["google_signin_limits"] = {
        "login": RateLimit("login", config["LOGIN_RATE_LIMIT"]),
        "risc": RateLimit("risc", config["RISC_RATE_LIMIT"]),
    }


def windows(name: str) -> list[Window]:
    """The counters of limit `name` ("login" or "risc") for this request's client address."""
    limit: RateLimit = current_app.extensions["google_signin_limits"][name]
    return limit.windows(client())


def client() -> str:
    """Who this request counts as, for the limits and the pending sign-ins' fair share."""
    return client_network(request.remote_addr or "unknown")


def client_network(address: str) -> str:
    """Who a limit counts: an IPv4 client by its address; an IPv6 client by its /64, the network one
    subscriber is given (a client that may take any of 2^64 addresses is still one client)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def refuse(wait: int) -> RateLimited:
    """The refusal of this request: counted, logged with the address, raised by the caller."""
    metrics.rate_limited()
    log.info("rate limited", extra={"event": "rate_limited", "route": request.endpoint,
                                    "address": request.remote_addr, "wait": wait})
    return RateLimited(wait)
