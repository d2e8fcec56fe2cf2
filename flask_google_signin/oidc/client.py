"""Authlib's Google client, plus the OpenID Connect checks Authlib leaves to the app.

Authlib runs the code exchange and verifies the ID token's signature and claims; the pending
sign-in (state, nonce, PKCE verifier) goes to its own sealed record (sessions/pending.py) through
Authlib's framework integration. This module adds what docs/security.md lists as the app's job:
a pinned issuer, audience and algorithm, a required
ID token, discovery that cannot override our settings, userinfo `sub` matching, pending
sign-ins that expire, a time budget on every call to the provider, refresh and revocation.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeGuard

import requests
from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App, OAuth, OAuthError
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken, UserInfo
from flask import Flask, current_app, g, session
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from ..errors import SignInError
from ..sessions.interface import PENDING_LIFETIME
from ..sessions.pending import save_pending, take_pending
from ..sessions.record import Connect, PendingData, Token
from ..settings import GOOGLE_METADATA_URL, settings
from .http import ProviderSession

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256"]  # Google signs with RS256; `none` and HMAC must never be accepted
LEEWAY = 60  # seconds of clock skew tolerated on exp / iat
METADATA_TTL = 3600  # refetch discovery (and with it the JWKS) hourly
KEYS_REFETCH_INTERVAL = 30.0  # seconds: an unknown `kid` refetches the keys at most this often
FAILURE_TTL = 10.0  # seconds a failed fetch of the discovery document or the keys is remembered
REVOKE_TIMEOUT = 3.0
SCOPE = "openid email profile"
# The only discovery fields we use; anything else in the document is ignored, so a provider
# cannot switch off PKCE, change the scope or slip in inline keys.
METADATA_KEYS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "revocation_endpoint",
)
REQUIRED_METADATA = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


class IDTokenError(Exception):
    """The provider's identity assertion failed a check."""


def discovery_issuer(metadata_url: str) -> str:
    """Discovery 4.3: the issuer is the metadata URL without its well-known suffix."""
    return metadata_url.removesuffix("/.well-known/openid-configuration")


class PendingSignIns(FlaskIntegration):
    """Authlib's state store, moved out of the session into sealed one-time records (sessions/pending.py)."""

    def set_state_data(self, sess: Any, state: str, data: PendingData) -> None:
        save_pending(state, data)

    def get_state_data(self, sess: Any, state: str | None) -> PendingData | None:
        """Taken from the store once per request (a replay finds nothing), then served from `g`."""
        taken: dict[str | None, PendingData | None] = g.setdefault("pending_sign_ins", {})
        if state not in taken:
            taken[state] = take_pending(state)
        return taken[state]

    def clear_state_data(self, sess: Any, state: str | None) -> None:
        """Nothing left to clear: reading the record deleted it."""


class GoogleClient(FlaskOAuth2App):
    """The `google` client; one per app, reached through `current_app.extensions`."""

    OAUTH_APP_CONFIG = None
    client_cls = ProviderSession  # every call runs under the request's deadline (http.py)
    metadata_loaded_at = 0.0
    keys_refetched_at = -math.inf  # time.monotonic() of the last refetch an unknown `kid` asked for
    server_metadata: dict[str, Any]  # Authlib's BaseApp sets it; load_server_metadata replaces it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One fetch at a time per worker for the discovery document and the keys: the requests that
        # arrive meanwhile wait for its answer instead of asking the provider too. A failure is
        # remembered for FAILURE_TTL, so sign-ins fail fast while the provider is down.
        self.fetching = threading.Lock()
        self.failed: tuple[float, str, str] | None = None  # (when, code, reason)

    # -- discovery

    @property
    def issuer(self) -> str:
        return discovery_issuer(settings()["GOOGLE_SERVER_METADATA_URL"])

    @property
    def id_token_issuers(self) -> list[str]:
        if settings()["GOOGLE_SERVER_METADATA_URL"] == GOOGLE_METADATA_URL:
            return ["https://accounts.google.com", "accounts.google.com"]  # Google sends either
        return [self.issuer]

    def oauth_session(self) -> ProviderSession:
        """A client-authenticated session (client_secret_basic) for refresh and revocation."""
        return ProviderSession(client_id=self.client_id, client_secret=self.client_secret)

    def load_server_metadata(self) -> dict[str, Any]:
        if time.time() - self.metadata_loaded_at < METADATA_TTL:
            return self.server_metadata
        with self.fetching:
            if time.time() - self.metadata_loaded_at < METADATA_TTL:  # fetched while this request waited
                return self.server_metadata
            self.raise_recent_failure()
            with self.remembering_failure():
                with ProviderSession(endpoint="discovery") as client:
                    resp = client.request("GET", self._server_metadata_url, withhold_token=True)
                    resp.raise_for_status()
                    document = resp.json()
                if not isinstance(document, dict) or document.get("issuer") != self.issuer:
                    raise SignInError("discovery_mismatch", "discovery issuer mismatch")
                metadata = {k: document[k] for k in METADATA_KEYS if isinstance(document.get(k), str)}
                missing = [k for k in REQUIRED_METADATA if k not in metadata]
                if missing:
                    raise SignInError("discovery_incomplete", f"discovery lacks {missing}")
            self.metadata_loaded_at = time.time()
            self.server_metadata = metadata  # a fresh document also drops the cached JWKS
            return metadata

    def fetch_jwk_set(self, force: bool = False) -> Any:
        """The provider's keys, fetched with the discovery document. `force` (a token named a `kid`
        not among them: the provider rotated its keys) refetches them, at most once per
        KEYS_REFETCH_INTERVAL however many requests ask at the same moment."""
        metadata = self.load_server_metadata()
        keys: dict[str, Any] | None = metadata.get("jwks")
        if keys is not None and (not force or time.monotonic() - self.keys_refetched_at < KEYS_REFETCH_INTERVAL):
            return keys
        with self.fetching:
            keys = self.server_metadata.get("jwks")
            if keys is not None and (not force or time.monotonic() - self.keys_refetched_at < KEYS_REFETCH_INTERVAL):
                return keys  # fetched while this request waited
            self.raise_recent_failure()
            with self.remembering_failure(), ProviderSession(endpoint="jwks") as client:
                resp = client.request("GET", metadata["jwks_uri"], withhold_token=True)
                resp.raise_for_status()
                keys = resp.json()
            if not isinstance(keys, dict):
                raise SignInError("provider_bad_response", "the jwks_uri holds no key set")
            if force:
                self.keys_refetched_at = time.monotonic()
            self.server_metadata["jwks"] = keys
            return keys

    def raise_recent_failure(self) -> None:
        if self.failed is not None and time.monotonic() - self.failed[0] < FAILURE_TTL:
            _, code, reason = self.failed
            raise SignInError(code, f"{reason} (a fetch that failed moments ago is not repeated)")

    @contextlib.contextmanager
    def remembering_failure(self) -> Iterator[None]:
        """A fetch whose failure (in provider_errors' terms) is remembered for FAILURE_TTL."""
        try:
            with provider_errors():
                yield
        except SignInError as exc:
            self.failed = (time.monotonic(), exc.code, exc.reason)
            raise
        self.failed = None

    # -- the flow

    def start(self, redirect_uri: str, next_url: str, connect: Connect | None = None, /, **params: str) -> str:
        """Create the authorization URL and remember this pending sign-in in the session.

        Built here, not by Authlib's create_authorization_url, which builds an HTTP client it never
        uses and draws its random strings a character at a time: an anonymous /login would cost
        several times the store write it needs. Same parameters, our security ones last so that
        `params` cannot replace them; the same data kept for /callback.
        `connect` (an incremental authorization) adds its scopes to the sign-in's and is kept too.
        """
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # RFC 7636 4.1: 43-128 unreserved characters (64 here)
        challenge = create_s256_code_challenge(verifier)
        scope = " ".join([SCOPE, *connect["scopes"]]) if connect else SCOPE
        fixed = {**params, "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                 "scope": scope, "code_challenge_method": "S256"}
        for name in FRESH:
            fixed.pop(name, None)
        endpoint = self.load_server_metadata()["authorization_endpoint"]
        extra = {"connect": connect} if connect else {}
        self.save_authorize_data(state=state, redirect_uri=redirect_uri, next=next_url, nonce=nonce,
                                 code_verifier=verifier, **extra)  # to PendingSignIns.set_state_data
        # The fresh values are URL-safe base64 already: appended as they are to the encoded rest.
        prefix = authorize_prefix(endpoint, tuple(fixed.items()))
        return f"{prefix}&state={state}&nonce={nonce}&code_challenge={challenge}"

    def pending(self, state: str | None) -> PendingData | None:
        """This browser's pending sign-in for `state`, taken from the store: it is single use."""
        framework: PendingSignIns = self.framework
        return framework.get_state_data(session, state)

    def authorize_access_token(self, **kwargs: Any) -> dict[str, Any]:
        token: dict[str, Any] = super().authorize_access_token(leeway=LEEWAY, **kwargs)
        if "userinfo" not in token:  # Authlib silently skips validation when there is no ID token
            raise IDTokenError("the token response has no ID token")
        return token

    def parse_id_token(self, token: Mapping[str, Any], nonce: str, claims_options: Any = None, claims_cls: Any = None,
                       leeway: int = LEEWAY) -> UserInfo:
        """Core 3.1.3.7: signature (RS256 only), iss, aud, azp, exp, iat, sub, nonce, at_hash."""
        raw = token.get("id_token")
        if not isinstance(raw, str):
            raise IDTokenError("the token response has no ID token")
        decoded = self.decode(raw)
        # Built per call: Authlib pops callables out of the options dict on first use.
        options = {
            "iss": {"essential": True, "values": self.id_token_issuers},
            "aud": {"essential": True, "values": [self.client_id]},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "iat": {"essential": True},
        }
        params = {"nonce": nonce, "client_id": self.client_id, "access_token": token.get("access_token")}
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        claims.validate(leeway=leeway)
        _check_sane(claims, self.client_id)
        return UserInfo(claims)

    def decode(self, raw: str) -> jwt.Token:
        """The token's signature checked with the provider's keys, RS256 only; its claims not yet."""
        registry = JWSRegistry(algorithms=ALGORITHMS)
        try:
            return jwt.decode(raw, KeySet.import_key_set(self.fetch_jwk_set()), registry=registry)
        except InvalidKeyIdError:  # the provider rotated its keys: refetch once
            return jwt.decode(raw, KeySet.import_key_set(self.fetch_jwk_set(force=True)), registry=registry)

    def verify_id_token(self, raw: str, audiences: Sequence[str], nonce: str | None = None) -> dict[str, Any]:
        """An ID token the site did not ask for through its redirect: One Tap's credential, a bearer
        token from an app or a service. Signature (RS256, the provider's keys), `iss`, `aud` (a single
        audience, one of `audiences`), `exp`, `iat` (in the past; as old as `exp` allows: Google's
        live an hour), `sub`, and `nonce` when one is given. Not `azp` (an Android or iOS app's token
        for the server names the app there) nor `at_hash` (no access token comes with it).
        Raises IDTokenError or JoseError; provider_errors() turns either into `identity_rejected`."""
        claims = dict(self.decode(raw).claims)
        aud = claims.get("aud")
        audience = aud[0] if isinstance(aud, list) and len(aud) == 1 else aud
        if not isinstance(audience, str) or audience not in audiences:
            raise IDTokenError("aud is not an accepted audience")
        if claims.get("iss") not in self.id_token_issuers:
            raise IDTokenError("iss is not the provider")
        exp, iat, now = claims.get("exp"), claims.get("iat"), time.time()
        if not (is_number(exp) and is_number(iat)):
            raise IDTokenError("iat/exp are not numbers")
        if exp <= now - LEEWAY:
            raise IDTokenError("the token has expired")
        if iat > now + LEEWAY or exp <= iat:
            raise IDTokenError("iat is in the future, or exp is not after it")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise IDTokenError("sub is missing or malformed")
        if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            raise IDTokenError("nonce does not match")
        return claims

    def fetch_userinfo(self, token: Mapping[str, Any], id_claims: Mapping[str, Any]) -> dict[str, Any]:
        """Core 5.3.2: userinfo is only trusted when its `sub` is the ID token's.

        Sent as a bare bearer token: with the expiry and refresh token, Authlib would quietly refresh
        (or refuse) a short-lived token here and throw the new one away.
        """
        bearer = {"access_token": token["access_token"], "token_type": "Bearer"}
        resp = self.get(self.load_server_metadata()["userinfo_endpoint"], token=bearer)
        resp.raise_for_status()
        data = resp.json()
        if not isinstance(data, dict) or data.get("sub") != id_claims["sub"]:
            raise IDTokenError("userinfo sub does not match the ID token")
        return data

    def refresh(self, token: Token) -> Token:
        metadata = self.load_server_metadata()
        with self.oauth_session() as client:
            fresh = client.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
        return keep_token(fresh, previous=token)

    def revoke(self, token: Token) -> bool:
        """RFC 7009, best effort: sign-out never waits on it for long or fails because of it."""
        g.provider_deadline = time.monotonic() + REVOKE_TIMEOUT
        value = token.get("refresh_token") or token.get("access_token")
        endpoint = self.load_server_metadata().get("revocation_endpoint")
        if not (value and endpoint):
            return False
        with self.oauth_session() as client:
            hint = "refresh_token" if token.get("refresh_token") else "access_token"
            resp: requests.Response = client.revoke_token(endpoint, token=value, token_type_hint=hint)
        return resp.ok


FRESH = ("state", "nonce", "code_challenge")  # drawn for each sign-in; never taken from `params`


@functools.lru_cache(maxsize=64)
def authorize_prefix(endpoint: str, fixed: tuple[tuple[str, str], ...]) -> str:
    """The authorization URL without its fresh values: the same for every sign-in of one redirect URI
    and scope set, so encoded once per worker rather than on every /login."""
    url: str = add_params_to_uri(endpoint, list(fixed))
    return url


def _check_sane(claims: Mapping[str, Any], client_id: str) -> None:
    """What Authlib's claim classes let through."""
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if set(aud) != {client_id}:
        raise IDTokenError("aud lists an audience we do not trust")
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise IDTokenError("sub is missing or malformed")
    if not isinstance(claims["iat"], int | float) or not isinstance(claims["exp"], int | float):
        raise IDTokenError("iat/exp are not numbers")
    if claims["iat"] < time.time() - PENDING_LIFETIME - LEEWAY:
        raise IDTokenError("iat is too far in the past")
    if claims["exp"] <= claims["iat"]:
        raise IDTokenError("exp is not after iat")


def is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def keep_token(token: Mapping[str, Any], previous: Token | None = None) -> Token:
    """The parts of a token response worth keeping server-side (never the ID token); what a refresh
    response leaves out (the refresh token, the scope) is kept from the `previous` token."""
    expires_at = token.get("expires_at")
    if expires_at is None and token.get("expires_in") is not None:
        expires_at = time.time() + int(token["expires_in"])
    return {
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token") or (previous.get("refresh_token") if previous else None),
        "expires_at": int(expires_at) if expires_at else None,
        "scope": token.get("scope") or (previous.get("scope") if previous else None) or "",
        "token_type": token.get("token_type", "Bearer"),
    }


@contextlib.contextmanager
def provider_errors() -> Iterator[None]:
    """Turn everything a provider can throw at us into a SignInError with a fitting status."""
    try:
        yield
    except SignInError:
        raise
    except OAuthError as exc:
        if exc.error == "mismatching_state":
            raise SignInError("state_invalid", "state missing, unknown, expired or replayed") from None
        if exc.error == "invalid_grant":
            raise SignInError("code_refused", "token endpoint: invalid_grant") from None
        raise SignInError("provider_refused", f"token endpoint: {exc.error}") from None
    except OAuth2Error as exc:  # Authlib's own client-side checks of a provider response
        raise SignInError("provider_bad_response", f"bad provider response: {exc.error}") from None
    except (IDTokenError, JoseError) as exc:
        raise SignInError("identity_rejected", f"ID token rejected: {type(exc).__name__}: {exc}") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SignInError("provider_unreachable", f"provider unreachable: {type(exc).__name__}") from None
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise SignInError("provider_bad_response", f"bad provider response: {type(exc).__name__}") from None


AUTHLIB_KEY = "authlib.integrations.flask_client"  # where Authlib's OAuth(app) puts itself


def init_oauth(app: Flask, settings: Mapping[str, Any]) -> None:
    """A registry of our own: Authlib's OAuth object keeps the first app it is given. A host that
    uses Authlib for its own providers keeps its registry in `app.extensions`, where Authlib put it."""
    hosts = app.extensions.get(AUTHLIB_KEY)
    oauth = OAuth(app)
    if hosts is None:
        app.extensions.pop(AUTHLIB_KEY, None)
    else:
        app.extensions[AUTHLIB_KEY] = hosts
    oauth.framework_integration_cls = PendingSignIns
    app.extensions["google_signin_client"] = oauth.register(
        "google",
        client_cls=GoogleClient,
        client_id=settings["GOOGLE_CLIENT_ID"],
        client_secret=settings["GOOGLE_CLIENT_SECRET"],
        server_metadata_url=settings["GOOGLE_SERVER_METADATA_URL"],
        client_kwargs={"scope": SCOPE},  # PKCE is added by GoogleClient.start, which builds the URL
    )


def google() -> GoogleClient:
    client: GoogleClient = current_app.extensions["google_signin_client"]
    return client
