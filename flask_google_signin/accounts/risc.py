"""Cross-Account Protection (RISC): checking Google's security events about our users and applying them.

The receiver, POST /risc, is web/risc.py.

Google pushes each event as a security event token (SET, RFC 8417): a JWT signed with RS256 by a
key from the `jwks_uri` of its RISC configuration document, posted with the content type
`application/secevent+jwt` (RFC 8935). The receiver answers
- 202, empty, once the token is valid and its events are applied (or it was already received);
- 400 with RFC 8935's JSON error body (`err`, `description`) when it is not; nothing changes;
- 503 when Google's configuration or keys, or the session store, cannot be reached, so that Google
  delivers it again; 429 beyond RISC_RATE_LIMIT (sessions/limits.py).

What each event does (Google's "How to respond"):
- sessions-revoked, tokens-revoked, account-disabled, account-credential-change-required: every
  session of the user ends, on every instance (accounts.end_user_sessions);
- token-revoked: the session holding that refresh token drops its Google tokens
  (accounts.drop_refresh_token);
- account-enabled, verification, and event types we do not know: logged only.
A token's `jti` is remembered for JTI_LIFETIME, so an event Google delivers twice acts once.
`flask risc register` (web/cli.py) asks Google for exactly EVENT_TYPES.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import requests
from flask import current_app
from joserfc import jwt
from joserfc.errors import (
    DecodeError,
    InvalidHeaderValueError,
    InvalidKeyIdError,
    InvalidPayloadError,
    JoseError,
    MissingAlgorithmError,
    MissingHeaderError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from .. import metrics
from ..oidc.client import ALGORITHMS, METADATA_TTL
from ..oidc.http import ProviderSession
from ..settings import settings
from . import index as accounts

log = logging.getLogger(__name__)

RISC = "https://schemas.openid.net/secevent/risc/event-type/"
OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
END_SESSIONS = (RISC + "sessions-revoked", OAUTH + "tokens-revoked", RISC + "account-disabled",
                RISC + "account-credential-change-required")
TOKEN_REVOKED = OAUTH + "token-revoked"
LOG_ONLY = (RISC + "account-enabled", RISC + "verification")
EVENT_TYPES = (*END_SESSIONS, TOKEN_REVOKED, *LOG_ONLY)  # every type Google's page lists
SUBJECT_TYPES = ("iss-sub", "id_token_claims")  # subjects that name a Google user by `sub`
TOKEN_IDENTIFIER_ALGS = ("prefix", "hash_base64_sha512_sha512")  # Google's page, "OAuth token identifiers"

CONTENT_TYPE = "application/secevent+jwt"  # RFC 8935 2.1
WELL_KNOWN = "/.well-known/risc-configuration"
MAX_BODY = 16 * 1024  # bytes; Google's tokens are about 1 kB
MAX_ID = 255  # characters of a jti or a sub
MAX_TOKEN_ID = 512  # characters of a token identifier (a prefix is 16, a SHA-512 hash 88)
JTI_LIFETIME = 7 * 24 * 3600  # seconds a jti is remembered: Google redelivers "with limited retries"
# A token is fresh while its jti would still be remembered: older ones (a margin early, for clocks) are
# refused, so a captured token cannot replay once its jti is forgotten. A little ahead is clock skew.
MAX_AGE = JTI_LIFETIME - 3600
MAX_AHEAD = 300
KEYS_REFETCH_INTERVAL = 30.0  # seconds: an unknown kid refetches the keys at most this often
RETRY_AFTER = 30  # seconds, on a 503
# What joserfc raises for a token that is not a well-formed JWS at all (anything else it raises: the
# signature or the key is refused).
MALFORMED = (DecodeError, InvalidPayloadError, InvalidHeaderValueError, MissingAlgorithmError, MissingHeaderError,
             ValueError, TypeError, KeyError, AttributeError)


class Refused(Exception):
    """The token is not valid: 400 with RFC 8935's error body, nothing changed.

    `err` is a code of the IANA "Security Event Token Error Codes" registry (RFC 8935 2.4);
    `description` is ours, never the sender's text.
    """

    def __init__(self, err: str, description: str) -> None:
        super().__init__(description)
        self.err = err
        self.description = description


class TransmitterUnavailable(Exception):
    """Google's RISC configuration or keys could not be had (or made no sense): 503, Google retries."""


@dataclass
class Transmitter:
    """Google's RISC configuration and keys, one per app, kept like the discovery document (METADATA_TTL)."""

    issuer: str = ""
    jwks_uri: str = ""
    loaded_at: float = -math.inf  # time.monotonic()
    keys: KeySet | None = None
    keys_loaded_at: float = -math.inf

    def load(self) -> None:
        """The configuration document: `issuer` and `jwks_uri`; its issuer must match its URL."""
        if time.monotonic() - self.loaded_at < METADATA_TTL:
            return
        url = settings()["RISC_CONFIGURATION_URL"]
        document = fetch_json(url)
        issuer = document.get("issuer") if isinstance(document, dict) else None
        jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not (isinstance(issuer, str) and issuer and isinstance(jwks_uri, str) and jwks_uri):
            raise TransmitterUnavailable("the RISC configuration lacks issuer or jwks_uri")
        if url.endswith(WELL_KNOWN) and issuer.rstrip("/") != url.removesuffix(WELL_KNOWN):
            raise TransmitterUnavailable("the RISC configuration's issuer does not match its URL")
        if jwks_uri != self.jwks_uri:
            self.keys = None
        self.issuer, self.jwks_uri, self.loaded_at = issuer, jwks_uri, time.monotonic()

    def key_set(self, unknown_kid: bool = False) -> KeySet:
        """The published keys; `unknown_kid`: refetched (Google rotated them), at most every KEYS_REFETCH_INTERVAL."""
        age = time.monotonic() - self.keys_loaded_at
        if self.keys is None or age >= METADATA_TTL or (unknown_kid and age >= KEYS_REFETCH_INTERVAL):
            document = fetch_json(self.jwks_uri)
            try:
                keys = KeySet.import_key_set(document)
            except (JoseError, ValueError, TypeError, KeyError, AttributeError):
                raise TransmitterUnavailable("the RISC jwks_uri holds no usable key set") from None
            self.keys, self.keys_loaded_at = keys, time.monotonic()
        return self.keys


def transmitter() -> Transmitter:
    found: Transmitter = current_app.extensions.setdefault("google_signin_risc", Transmitter())
    return found


def fetch_json(url: str) -> Any:
    """GET a JSON document through ProviderSession: the request's PROVIDER_TIMEOUT deadline applies."""
    try:
        with ProviderSession(endpoint="risc") as client:
            response = client.request("GET", url, withhold_token=True)
            response.raise_for_status()
            return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise TransmitterUnavailable(f"{url}: {type(exc).__name__}") from None


# --------------------------------------------------------------------------- the token


def verify(raw: str, sender: Transmitter) -> dict[str, Any]:
    """RS256 signature by a key of the configuration's jwks_uri (an unknown kid refetches once)."""
    registry = JWSRegistry(algorithms=ALGORITHMS)  # RS256 only: `none` and HMAC never verify
    try:
        try:
            token = jwt.decode(raw, sender.key_set(), registry=registry)
        except InvalidKeyIdError:  # Google rotated its keys
            token = jwt.decode(raw, sender.key_set(unknown_kid=True), registry=registry)
    except MALFORMED:
        raise Refused("invalid_request", "the body is not a well-formed signed JWT") from None
    except JoseError as exc:
        raise Refused("invalid_key", f"the signature was not verified ({exc.error})") from None
    claims: dict[str, Any] = token.claims
    return claims


@dataclass(frozen=True)
class Event:
    """One event of a token, checked: what it asks of us."""

    uri: str
    name: str  # the event type's last segment, e.g. sessions-revoked: the cause in logs and audit lines
    sub: str | None = None  # the user whose sessions end
    token: tuple[str, str] | None = None  # (identifier, token_identifier_alg) of the revoked refresh token
    detail: str = ""  # `reason` or `state`, as sent (for the log line)


def check(claims: dict[str, Any], sender: Transmitter) -> tuple[str, list[Event]]:
    """RFC 8417's claims and Google's checks: iss, aud, jti, iat, events; then each event's subject."""
    if claims.get("iss") != sender.issuer:
        raise Refused("invalid_issuer", "iss is not the RISC configuration's issuer")
    client_id = settings()["GOOGLE_CLIENT_ID"]
    if claims.get("aud") not in (client_id, [client_id]):
        raise Refused("invalid_audience", "aud is not this app's client id")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_ID:
        raise Refused("invalid_request", "jti is missing or malformed")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or not math.isfinite(iat):
        raise Refused("invalid_request", "iat is missing or not a number")
    now = time.time()
    if iat < now - MAX_AGE:
        raise Refused("invalid_request", "iat is older than the receiver remembers tokens for")
    if iat > now + MAX_AHEAD:
        raise Refused("invalid_request", "iat is in the future")
    events = claims.get("events")
    if not isinstance(events, dict) or not events or not all(isinstance(e, dict) for e in events.values()):
        raise Refused("invalid_request", "events is missing or not an object of event objects")
    return jti, [event(uri, payload, sender.issuer) for uri, payload in events.items()]


def event(uri: str, payload: dict[str, Any], issuer: str) -> Event:
    name = uri.rstrip("/").rsplit("/", 1)[-1][:100]
    detail = next((v[:200] for v in (payload.get("reason"), payload.get("state")) if isinstance(v, str)), "")
    if uri in END_SESSIONS:
        return Event(uri, name, sub=user_subject(payload, issuer), detail=detail)
    if uri == TOKEN_REVOKED:
        return Event(uri, name, token=token_subject(payload), detail=detail)
    return Event(uri, name, detail=detail)


def user_subject(payload: dict[str, Any], issuer: str) -> str:
    """An `iss-sub` (or `id_token_claims`) subject: Google's `sub` of the user."""
    subject = payload.get("subject")
    if not isinstance(subject, dict) or subject.get("subject_type") not in SUBJECT_TYPES:
        raise Refused("invalid_request", "the event's subject names no user (iss-sub)")
    sub, iss = subject.get("sub"), subject.get("iss")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_ID:
        raise Refused("invalid_request", "the subject's sub is missing or malformed")
    if not isinstance(iss, str) or iss.rstrip("/") != issuer.rstrip("/"):
        raise Refused("invalid_request", "the subject's iss is not the issuer")
    return sub


def token_subject(payload: dict[str, Any]) -> tuple[str, str]:
    """A token subject: a refresh token's identifier (`prefix` or Google's hash) and its alg."""
    subject = payload.get("subject")
    if not isinstance(subject, dict):
        raise Refused("invalid_request", "the event's subject names no token")
    alg, identifier = subject.get("token_identifier_alg"), subject.get("token")
    if (subject.get("token_type", "refresh_token") != "refresh_token" or alg not in TOKEN_IDENTIFIER_ALGS
            or not isinstance(identifier, str) or not 0 < len(identifier) <= MAX_TOKEN_ID):
        raise Refused("invalid_request", "the subject names no refresh token in a known way")
    return identifier, alg


def apply(item: Event, jti: str) -> None:
    """Do what the event asks, then log it: one line, never a token."""
    extra = {"event": "risc_event", "reason": item.name, "sub": item.sub, "jti": jti}
    detail = f" ({item.detail})" if item.detail else ""
    if item.sub is not None:
        count = accounts.end_user_sessions(item.sub, "security_event", detail=item.name)
        log.info("security event %s%s: %d session(s) ended; jti %s", item.name, detail, count, jti, extra=extra)
    elif item.token is not None:
        identifier, alg = item.token
        count = accounts.drop_refresh_token(identifier, alg)
        log.info("security event %s%s: %d session(s) dropped their Google tokens (identified by %s); jti %s",
                 item.name, detail, count, alg, jti, extra=extra)
    else:
        log.info("security event %s%s: logged only; jti %s", item.name, detail, jti, extra=extra)
    metrics.security_event(item.name if item.uri in EVENT_TYPES else "other")  # a sender's own types: one label
