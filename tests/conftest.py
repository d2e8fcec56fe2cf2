"""Fixtures: the app, a fake Google (requests-mock, real RS256 ID tokens), and real servers.

Nothing here reaches the network beyond 127.0.0.1: requests-mock refuses any URL it was not
told about, and the servers (local provider, gunicorn, redis-server, Chromium) bind loopback.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
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

import serve  # noqa: E402  (scripts/serve.py: the same provider command `make run` uses)
from serve import free_port, wait_http  # noqa: E402  (re-exported for the test modules)

from app import create_app  # noqa: E402
from app.config import GOOGLE_METADATA_URL, SETTINGS  # noqa: E402

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


# --------------------------------------------------------------------------- fake Google


@pytest.fixture(scope="session")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "google-key-1", "use": "sig", "alg": "RS256"})


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


@pytest.fixture
def google(signing_key):
    with requests_mock.Mocker() as mocker:  # any URL not registered here raises: nothing reaches Google
        yield FakeGoogle(mocker, signing_key)


# --------------------------------------------------------------------------- the app


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


@pytest.fixture
def make_app(tmp_path):
    """create_app with test settings; the environment and any .env are ignored."""
    return lambda **overrides: create_app(base_config(tmp_path, **overrides), environ={})


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


class AuthActions:
    """Drive a sign-in through the test client against FakeGoogle."""

    def __init__(self, client, google: FakeGoogle) -> None:
        self.client = client
        self.google = google

    def start(self, next: str | None = None) -> dict:
        response = self.client.get("/login", query_string={"next": next} if next else None)
        assert response.status_code == 302, response.data
        params = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
        self.google.nonce = params.get("nonce")
        self.google.code_challenge = params.get("code_challenge")
        return params

    def callback(self, params: dict | None = None, code: str = "4/good-code", **query):
        params = params or self.start()
        self.google.codes.add(code)
        query = {"code": code, "state": params["state"], **query}
        return self.client.get("/callback", query_string={k: v for k, v in query.items() if v is not None})

    def sign_in(self, next: str | None = None):
        return self.callback(self.start(next))

    def csrf_token(self) -> str:
        page = self.client.get("/").get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "no sign-out form on the page"
        return match.group(1)

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
    interface = app.session_interface
    return interface._retrieve_session_data(interface.key_prefix + cookie_value)


def pending_record(app, client, state: str) -> dict | None:
    """A pending sign-in as stored (without taking it), opened with the browser's cookie secret."""
    from flask_google_signin.sessions import pending_cookie
    from flask_google_signin.store import digest

    with app.test_request_context():
        cookie = client.get_cookie(pending_cookie(state))
    if cookie is None:
        return None
    secret = cookie.value.partition(".")[2]
    interface = app.session_interface
    records = interface.records
    key = records.pending_key(digest(secret))
    if app.config["SESSION_TYPE"] == "redis":
        blob = records.client.get(key)
    else:
        blob = records._live(records._path(key, records.pending).read_bytes())
    return interface.sealer.open(interface.sealer.key(secret), blob, key)


@pytest.fixture
def auth(client, google):
    return AuthActions(client, google)


# --------------------------------------------------------------------------- real servers


def docker_cmd() -> list[str]:
    """The Dockerfile's CMD: the end-to-end tests boot exactly this command."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^CMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert match, "Dockerfile has no exec-form CMD"
    return json.loads(match.group(1))


# gunicorn's and `make run`'s own settings: a developer's (or make's) values must not leak in.
SERVER_SETTINGS = ("PORT", "HOST", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GRACEFUL_TIMEOUT", "FORWARDED_ALLOW_IPS",
                   "LOCAL_PROVIDER_PORT", "ENV_FILE")


def server_env(**overrides: str) -> dict:
    """A clean environment for a subprocess: the app's settings come only from here."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS and k not in SERVER_SETTINGS}
    env.update(ENV_FILE="", SECRET_KEY=E2E_SECRET_KEY, SESSION_COOKIE_SECURE="false", LOG_LEVEL="INFO")
    env.update(LOGIN_RATE_LIMIT="1000/second")  # browsers and load tests sign in from 127.0.0.1 only
    env.update(overrides)
    return env


class Provider:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.metadata_url = f"{self.url}/.well-known/openid-configuration"
        self.process = subprocess.Popen(serve.provider_command(port), cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, env=serve.provider_env(dict(os.environ)))
        wait_http(self.metadata_url, self.process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="session")
def local_provider():
    """oidc-provider-mock on 127.0.0.1, started the way `make run` starts it."""
    provider = Provider(free_port())
    yield provider
    provider.stop()


class Gunicorn:
    """The Dockerfile's command, run from the repo root with the venv's gunicorn."""

    def __init__(self, env: dict, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = docker_cmd()
        executable = shutil.which(argv[0], path=str(Path(sys.executable).parent)) or argv[0]
        self.argv = [executable, *argv[1:]]
        self.log_path = log_path
        self.log = open(log_path, "w")
        env = {"WEB_CONCURRENCY": "2", **env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"{self.url}/healthz", self.process)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"gunicorn did not start: {shlex.join(self.argv)}\n{log_path.read_text()}") from None

    def logs(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        self.log.close()


@pytest.fixture(scope="session")
def gunicorn_factory(tmp_path_factory):
    """Start gunicorn instances that all stop at the end of the session."""
    started: list[Gunicorn] = []

    def start(**env: str) -> Gunicorn:
        directory = tmp_path_factory.mktemp("gunicorn")
        env.setdefault("SESSION_CACHELIB_DIR", str(directory / "sessions"))
        server = Gunicorn(server_env(**env), directory / "gunicorn.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def app_server(gunicorn_factory, local_provider):
    """One gunicorn for the whole session, signed in against the local provider."""
    return gunicorn_factory(GOOGLE_CLIENT_ID="e2e-client", GOOGLE_CLIENT_SECRET="e2e-secret",
                            GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url)


@pytest.fixture(scope="session")
def https_app_server(gunicorn_factory, local_provider, tmp_path_factory):
    """One gunicorn behind a TLS-terminating proxy (tests/tls_proxy.py), set up as docs/deployment.md
    says for nginx: `.url` is https://127.0.0.1:<proxy port>, `.gunicorn` the server behind it."""
    from .tls_proxy import TLSProxy

    server = gunicorn_factory(GOOGLE_CLIENT_ID="e2e-https-client", GOOGLE_CLIENT_SECRET="e2e-secret",
                              GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url, TRUSTED_PROXIES="1",
                              SESSION_COOKIE_SECURE="true", FORWARDED_ALLOW_IPS="127.0.0.1")
    proxy = TLSProxy(server.port, tmp_path_factory.mktemp("tls-proxy"))
    proxy.gunicorn = server
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (Debian's) for the session, driven by Playwright."""
    require(os.path.exists(CHROMIUM), f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


class RedisServer:
    """A private redis-server on a free loopback port; stop() and start() it to fake an outage."""

    def __init__(self, directory: Path, *extra: str) -> None:
        self.extra = extra
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def private_redis(tmp_path_factory, name: str, *extra: str) -> RedisServer:
    """A new redis-server of one's own (skip on a laptop without it, fail in CI)."""
    require(shutil.which("redis-server") is not None, "redis-server")
    return RedisServer(tmp_path_factory.mktemp(name), *extra)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = private_redis(tmp_path_factory, "redis")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_store(redis_server):
    """A client on the shared redis-server, to look at the stored sessions."""
    import redis

    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    yield client
    client.close()


# --------------------------------------------------------------------------- `make test-fast` starts no server

SERVER_FIXTURES = {"local_provider", "gunicorn_factory", "app_server", "https_app_server", "browser", "page",
                   "redis_server", "redis_store"}


def pytest_collection_modifyitems(config, items):
    """A test that uses a server fixture must be marked slow, so `pytest -m "not slow"` starts none."""
    unmarked = [item.nodeid for item in items
                if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("slow")]
    if unmarked:
        raise pytest.UsageError("these tests start servers but are not marked slow:\n  " + "\n  ".join(unmarked))


SERVER_PROGRAMS = ("gunicorn", "redis-server", "redis-sentinel", "oidc_provider_mock", "chromium", "wrk")


@pytest.fixture(autouse=True)
def fast_tests_start_no_server(request, monkeypatch):
    """The same rule at run time: outside `slow` tests no socket listens and no server program starts
    (short-lived helpers such as hadolint or `python -c` are fine)."""
    if request.node.get_closest_marker("slow"):
        return

    def refuse(what: str) -> None:
        pytest.fail(f"{request.node.nodeid} starts {what}: mark it @pytest.mark.slow", pytrace=False)

    popen_init = subprocess.Popen.__init__

    def checked_popen(self, args, *rest, **kwargs):
        words = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
        if any(name in str(word) for word in words for name in SERVER_PROGRAMS):
            refuse(f"a server process ({shlex.join(map(str, words))})")
        popen_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", checked_popen)
    monkeypatch.setattr(socket.socket, "listen", lambda *args, **kwargs: refuse("a listening socket"))
