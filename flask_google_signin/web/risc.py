"""POST /risc: Cross-Account Protection's receiver (RFC 8935 push delivery).

Google pushes each security event token with the content type `application/secevent+jwt`. The
receiver answers
- 202, empty, once the token is valid and its events are applied (or it was already received);
- 400 with RFC 8935's JSON error body (`err`, `description`) when it is not; nothing changes;
- 503 when Google's configuration or keys, or the session store, cannot be reached, so that Google
  delivers it again; 429 beyond RISC_RATE_LIMIT.
The checks and what each event does are accounts/risc.py's.
"""

from __future__ import annotations

import contextlib
import logging

from flask import Blueprint, Response, current_app, jsonify, request

from ..accounts.risc import (
    CONTENT_TYPE,
    JTI_LIFETIME,
    MAX_BODY,
    RETRY_AFTER,
    Refused,
    TransmitterUnavailable,
    apply,
    check,
    transmitter,
    verify,
)
from ..errors import RateLimited, StoreUnavailable
from ..sessions import limits
from ..sessions.interface import session_interface
from ..settings import settings
from ..store import digest, namespace
from .csrf import exempt_from_flask_wtf
from .pages import refuse_other_hosts

bp = Blueprint("google_signin_risc", __name__)
exempt_from_flask_wtf(bp)
bp.before_request(refuse_other_hosts)
log = logging.getLogger(__name__)


def read_token() -> str:
    """The request body as a compact JWS (three dot-separated parts); anything else is refused."""
    if request.mimetype != CONTENT_TYPE:
        raise Refused("invalid_request", f"the Content-Type must be {CONTENT_TYPE} (RFC 8935 2.1)")
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise Refused("invalid_request", "the body is too large for a security event token")
    try:
        raw = body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise Refused("invalid_request", "the body is not a JWT") from None
    if raw.count(".") != 2:
        raise Refused("invalid_request", "the body is not a signed JWT (compact JWS)")
    return raw


@bp.post("/risc")
def receive() -> Response:
    """RFC 8935 push delivery: 202 accepted, 400 refused (nothing changed), 503 try again later,
    429 beyond RISC_RATE_LIMIT (counted before any work)."""
    records = session_interface().vault.records
    try:
        wait = records.count(limits.windows("risc"))
    except records.store_errors:
        wait = 0  # not counted; the delivery meets the same store below and gets its 503 there
    if wait:
        raise limits.refuse(wait)
    try:
        raw = read_token()
        sender = transmitter()
        sender.load()
        jti, events = check(verify(raw, sender), sender)
    except Refused as exc:
        log.warning("security event token refused", extra={"event": "risc_refused",
                                                           "reason": f"{exc.err}: {exc.description}"})
        return answer(400, {"err": exc.err, "description": exc.description})
    except TransmitterUnavailable as exc:
        log.warning("security event not checked: %s", exc, extra={"event": "risc_unavailable",
                                                                   "reason": "transmitter unavailable"})
        return answer(503, {"description": "Google's RISC configuration or keys could not be fetched"})
    unavailable: tuple[type[Exception], ...] = (*records.store_errors, StoreUnavailable)
    key = f"risc-jti:{namespace(settings()['GOOGLE_CLIENT_ID'])}:{digest(jti)}"
    try:
        if not records.put(key, b"1", JTI_LIFETIME, exists=False):  # atomic: one delivery of a jti acts
            log.info("security event token already received; jti %s", jti,
                     extra={"event": "risc_duplicate", "reason": ",".join(e.name for e in events), "jti": jti})
            return answer(202)
        try:
            for item in events:
                apply(item, jti)
        except Exception:  # not (fully) applied: forget the jti, so Google's redelivery applies it
            with contextlib.suppress(*records.store_errors):
                records.delete(key)
            raise
    except unavailable as exc:
        log.warning("security event not applied: session store unavailable", extra={
            "event": "risc_unavailable", "reason": type(exc).__name__, "jti": jti})
        return answer(503, {"description": "the session store is not answering"})
    return answer(202)


@bp.errorhandler(RateLimited)
def too_many(exc: RateLimited) -> Response:
    """Beyond RISC_RATE_LIMIT: 429 in JSON, not the sign-in error page."""
    return answer(429, {"description": "too many requests"}, retry_after=exc.wait)


def answer(status: int, body: dict[str, str] | None = None, retry_after: int | None = None) -> Response:
    """A JSON body (RFC 8935 2.3) or none (2.2: a 202 is empty)."""
    response = jsonify(body) if body is not None else current_app.response_class()
    response.status_code = status
    if retry_after or status == 503:
        response.headers["Retry-After"] = str(retry_after or RETRY_AFTER)
    return response

