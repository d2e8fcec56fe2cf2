"""Pending sign-ins: what /callback needs from /login, each in its own sealed one-time record.

Not in the session: each has its own record and its own cookie, so two tabs that start signing
in at the same moment both finish, and an anonymous /login writes one small record that the
PENDING_SIGNINS_MAX cap bounds.

At the cap, a new sign-in is never refused: the store sheds the oldest pending sign-in of the
network (limits.client_network) that holds the most. A flood from one network, or from a few,
sheds its own sign-ins, and a visitor from a network holding fewer starts and finishes. Only when
more networks than the cap each hold one does a visitor's sign-in risk being shed.
"""

from __future__ import annotations

import logging
import time
from typing import cast

from flask import Response, after_this_request, request

from .. import metrics
from ..errors import SignInError, StoreUnavailable
from ..settings import settings
from ..store import FULL, SHED, digest, new_secret
from . import limits
from .interface import PENDING_LIFETIME, session_interface
from .record import PendingData, PendingSignIn

MAX_PENDING = 4  # pending sign-ins kept per browser (several tabs), oldest dropped first

log = logging.getLogger(__name__)


def pending_cookie(state: str) -> str:
    """One cookie per pending sign-in, named after its state: parallel sign-ins do not collide."""
    return f"{settings()['cookie_name']}_signin_{state[:12]}"


def _pending_cookies() -> list[tuple[int, str, str]]:
    """This browser's pending sign-ins as (issued, cookie name, secret), oldest first."""
    prefix = f"{settings()['cookie_name']}_signin_"
    found: list[tuple[int, str, str]] = []
    for name, value in request.cookies.items():
        issued, _, secret = value.partition(".")
        if name.startswith(prefix) and issued.isascii() and issued.isdigit() and secret:
            found.append((int(issued), name, secret))
    return sorted(found)


def _set_cookie(name: str, value: str, max_age: int) -> None:
    secure = settings()["COOKIE_SECURE"]

    @after_this_request
    def set_it(response: Response) -> Response:
        response.set_cookie(name, value, max_age=max_age, httponly=True, secure=secure, samesite="Lax", path="/")
        return response


def network_id() -> str:
    """This client's network as the store keeps it: a hash (no address stored), 96 bits (two
    networks sharing one would only share their count)."""
    return digest(limits.client())[:16]


def save_pending(state: str, data: PendingData) -> None:
    """Keep what /callback needs (nonce, PKCE verifier, redirect URI, next), sealed by a cookie secret.

    Beyond LOGIN_RATE_LIMIT for this address: 429 (limits.py); nothing is written, and the browser's
    other pending sign-ins stay as they were. At PENDING_SIGNINS_MAX, another is shed to make room.
    """
    vault = session_interface().vault
    records = vault.records
    secret = new_secret()
    key = records.pending_key(digest(secret))
    pending: PendingSignIn = {"state": state, "data": data}
    try:
        outcome = vault.add_pending(key, secret, pending, PENDING_LIFETIME, settings()["PENDING_SIGNINS_MAX"],
                                    limits.windows("login"), network_id())
    except vault.store_errors as exc:
        raise StoreUnavailable(type(exc).__name__) from None
    if outcome > 0:
        raise limits.refuse(outcome)
    if outcome == FULL:
        raise SignInError("too_many_pending", "pending sign-in cap reached")
    if outcome == SHED:
        metrics.pending_shed()
        log.info("pending sign-in shed", extra={"event": "pending_shed", "address": request.remote_addr})
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
    vault = session_interface().vault
    key = vault.records.pending_key(digest(secret))
    try:
        opened = vault.take_pending(key, secret)
    except vault.store_errors as exc:
        raise StoreUnavailable(type(exc).__name__) from None
    entry = cast("PendingSignIn | None", opened)  # sealed (authenticated) by save_pending: what it wrote
    if not entry or entry.get("state") != state:
        return None
    return entry["data"]
