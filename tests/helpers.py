"""What the tests share besides fixtures: a fake Google (requests-mock, real RS256 ID tokens), a
sign-in driver for the Flask test client, store inspectors, and the launcher's servers.

Nothing here reaches the network beyond 127.0.0.1: requests-mock refuses any URL it was not
told about, and the servers (scripts/launch.py) bind loopback.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests_mock
from joserfc import jwt
from joserfc.jwk import RSAKey

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import serve  # noqa: E402, F401  (scripts/serve.py, for its tests)
from launch import (  # noqa: E402, F401  (scripts/launch.py)
    Gunicorn,
    Provider,
    RedisSentinel,
    RedisServer,
    docker_cmd,
    free_port,
    start_redis_cluster,
    wait_http,
)

from app.config import SETTINGS  # noqa: E402
from flask_google_signin import GOOGLE_METADATA_URL, testing  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
ARTIFACTS = ROOT / "artifacts"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
GOOGLE = json.loads((FIXTURES / "google-openid-configuration.json").read_text())
CLIENT_ID = "test-client.apps.googleusercontent.com"
CLIENT_SECRET = "test-client-secret"
E2E_SECRET_KEY = "e2e-secret-key"
GRANTED_SCOPES = ("openid https://www.googleapis.com/auth/userinfo.email "
                  "https://www.googleapis.com/auth/userinfo.profile")


def require(available: bool, what: str) -> None:
    """Skip on a laptop that lacks `what`; in CI a missing prerequisite is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI (CI=true) but is missing")
    pytest.skip(f"{what} is not available")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeGoogle:
    """Google's discovery, JWKS, token, userinfo and revoke endpoints under requests-mock.

    The token endpoint checks the PKCE verifier and the client credentials, and answers with an
    ID token really signed with RS256. Tests bend one thing at a time through the attributes.
    """

    def __init__(self, mocker: requests_mock.Mocker, key: RSAKey) -> None:
        self.key = key
        self.published = [key]  # keys served at jwks_uri
        self.sub = "110169484474386276334"
        self.nonce: str | None = None
        self.code_challenge: str | None = None
        self.codes: set[str] = set()  # codes the token endpoint accepts, once each
        self.id_claims: dict = {}  # overrides for the next ID token; a None value drops the claim
        self.token_extra: dict = {}  # overrides for the token response
        self.userinfo_extra: dict = {}
        self.revoked: list[str] = []
        self.token_requests: list[dict] = []
        self.refresh_error: str | None = None
        self.access_token = "ya29.test-access-token"
        self.refresh_token = "1//test-refresh-token"
        mocker.get(GOOGLE_METADATA_URL, json=GOOGLE)
        mocker.get(GOOGLE["jwks_uri"], json=lambda *_: {"keys": [k.as_dict(private=False) for k in self.published]})
        mocker.post(GOOGLE["token_endpoint"], json=self._token)
        mocker.get(GOOGLE["userinfo_endpoint"], json=self._userinfo)
        mocker.post(GOOGLE["revocation_endpoint"], text=self._revoke)
        self.mocker = mocker

    def claims(self) -> dict:
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "azp": CLIENT_ID,
            "aud": CLIENT_ID,
            "sub": self.sub,
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada Lovelace",
            "picture": "https://lh3.googleusercontent.com/a/test-avatar",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "iat": now,
            "exp": now + 3600,
            "nonce": self.nonce,
        }
        claims.update(self.id_claims)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict, key: RSAKey | None = None, header: dict | None = None) -> str:
        key = key or self.key
        return jwt.encode(header or {"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)

    def _token(self, request, context) -> dict:
        form = {k: v[0] for k, v in parse_qs(request.text).items()}
        self.token_requests.append(form)
        if form.get("grant_type") == "refresh_token":
            if self.refresh_error:
                context.status_code = 400
                return {"error": self.refresh_error, "error_description": "Token has been expired or revoked."}
            return {"access_token": self.access_token + "-refreshed", "expires_in": 3599,
                    "scope": GRANTED_SCOPES, "token_type": "Bearer"}
        verifier = form.get("code_verifier", "")
        if form.get("code") not in self.codes or b64(hashlib.sha256(verifier.encode()).digest()) != self.code_challenge:
            context.status_code = 400
            return {"error": "invalid_grant", "error_description": "Bad Request"}
        self.codes.discard(form["code"])
        response = {"access_token": self.access_token, "expires_in": 3599, "scope": GRANTED_SCOPES,
                    "token_type": "Bearer", "id_token": self.sign(self.claims())}
        if self.refresh_token:
            response["refresh_token"] = self.refresh_token
        response.update(self.token_extra)
        return {k: v for k, v in response.items() if v is not None}

    def _userinfo(self, request, context) -> dict:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            context.status_code = 401
            return {"error": "invalid_token"}
        claims = self.claims()
        info = {k: claims[k] for k in ("sub", "email", "email_verified", "name", "picture", "given_name",
                                       "family_name") if k in claims}
        info.update(self.userinfo_extra)
        return info

    def _revoke(self, request, context) -> str:
        self.revoked.append(parse_qs(request.text).get("token", [""])[0])
        return ""


def base_config(tmp_path: Path, **overrides) -> dict:
    config = {
        "SECRET_KEY": "test-secret-key",
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "SESSION_CACHELIB_DIR": str(tmp_path / "sessions"),
        "SESSION_COOKIE_SECURE": False,
        "LOGIN_RATE_LIMIT": "1000/second",  # tests sign in many times from 127.0.0.1; test_limits.py sets its own
        "TESTING": True,
    }
    config.update(overrides)
    return config


class AuthActions:
    """Drive a sign-in through the test client against FakeGoogle."""

    def __init__(self, client, google: FakeGoogle, prefix: str = "", base_url: str | None = None) -> None:
        self.client = client
        self.google = google
        self.prefix = prefix  # where the host mounted the sign-in (GoogleSignIn's url_prefix)
        self.where = {"base_url": base_url} if base_url else {}  # the site's address, when not localhost

    def start(self, next: str | None = None) -> dict:
        response = self.client.get(f"{self.prefix}/login", query_string={"next": next} if next else None,
                                   **self.where)
        assert response.status_code == 302, response.data
        params = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
        self.google.nonce = params.get("nonce")
        self.google.code_challenge = params.get("code_challenge")
        return params

    def callback(self, params: dict | None = None, code: str = "4/good-code", **query):
        params = params or self.start()
        self.google.codes.add(code)
        query = {"code": code, "state": params["state"], **query}
        query = {k: v for k, v in query.items() if v is not None}
        return self.client.get(f"{self.prefix}/callback", query_string=query, **self.where)

    def sign_in(self, next: str | None = None):
        return self.callback(self.start(next))

    def csrf_token(self) -> str:
        page = self.client.get("/").get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "no sign-out form on the page"
        return match.group(1)

    def app_csrf_token(self, path: str = "/calendar") -> str:
        """The token of the app's own forms on `path` (Flask-WTF's), not the sign-out form's (the extension's)."""
        page = self.client.get(path).get_data(as_text=True)
        tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', page)) - {self.csrf_token()}
        assert len(tokens) == 1, f"no app form on {path}"
        return tokens.pop()

    def logout(self):
        return self.client.post("/logout", data={"csrf_token": self.csrf_token()})


def set_cookie(response, name: str) -> str | None:
    """The value a response sets for cookie `name` (a response may set several)."""
    for header in response.headers.getlist("Set-Cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";")[0]
    return None


def stored_record(app, cookie_value: str) -> dict | None:
    """The session record a cookie value opens, read through the app's own store and sealer."""
    return testing.session_record(app, cookie_value)


def pending_record(app, client, state: str) -> dict | None:
    """A pending sign-in as stored (without taking it), opened with the browser's cookie secret."""
    return testing.pending_record(app, client, state)


def pending_count(app) -> int:
    """How many pending sign-ins the app's store holds (live ones; Redis: those not yet forgotten)."""
    records = testing.store(app)
    if hasattr(records, "client"):
        return int(records.client.zcard(records.pending_index))
    path = Path(app.config["GOOGLE_SIGNIN_SESSION_CACHELIB_DIR"], "pending", "pending.sqlite3")
    if not path.exists():  # made at the first pending sign-in
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM pending WHERE expires > ?", (time.time(),)).fetchone()[0])


SERVER_SETTINGS = ("PORT", "HOST", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GRACEFUL_TIMEOUT", "FORWARDED_ALLOW_IPS",
                   "LOCAL_PROVIDER_PORT", "ENV_FILE")


def server_env(**overrides: str) -> dict:
    """A clean environment for a subprocess: the app's settings come only from here."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS and k not in SERVER_SETTINGS}
    env.update(ENV_FILE="", SECRET_KEY=E2E_SECRET_KEY, SESSION_COOKIE_SECURE="false", LOG_LEVEL="INFO")
    env.update(LOGIN_RATE_LIMIT="1000/second")  # browsers and load tests sign in from 127.0.0.1 only
    env.update(overrides)
    return env


def screenshot(page, name: str) -> Path:
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def private_redis(tmp_path_factory, name: str, *extra: str) -> RedisServer:
    """A new redis-server of one's own (skip on a laptop without it, fail in CI)."""
    require(shutil.which("redis-server") is not None, "redis-server")
    return RedisServer(tmp_path_factory.mktemp(name), *extra)


def private_redis_cluster(tmp_path_factory, name: str, nodes: int = 3) -> list[RedisServer]:
    """A Redis Cluster of `nodes` primaries of one's own (skip without the binaries, fail in CI)."""
    require(shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None,
            "redis-server and redis-cli (apt: redis-server, redis-tools)")
    return start_redis_cluster([tmp_path_factory.mktemp(f"{name}{i}") for i in range(nodes)])
