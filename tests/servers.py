"""Helpers for the multi-instance, fault and load tests: a provider we can pause, stop and count,
and a browser made of `requests` that signs in over real HTTP.

Everything binds or talks to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import requests

from flask_google_signin.store import Sealer, namespace

from .conftest import E2E_SECRET_KEY, ROOT, free_port, serve, wait_http

TIMEOUT = 15  # per HTTP call made by a test; every server under test answers well within it


class LoggedProvider:
    """oidc-provider-mock with extra CLI flags and its access log kept, so tests can count calls."""

    def __init__(self, log_path: Path, *extra: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metadata_url = f"{self.url}/.well-known/openid-configuration"
        self.log_path = log_path
        self.extra = extra
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([*serve.provider_command(self.port), *self.extra], cwd=ROOT,
                                            env=serve.provider_env(dict(os.environ)), stdout=log, stderr=log)
        wait_http(self.metadata_url, self.process)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung provider)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def calls(self) -> list[str]:
        """Requests served so far, as "METHOD /path" (uvicorn's access log)."""
        text = self.log_path.read_text()
        return [f"{m} {p}" for m, p in re.findall(r'"(GET|POST|PUT) ([^ ?"]+)[^"]*" \d{3}', text)]

    def revoke(self, sub: str) -> None:
        """The mock's admin endpoint: every access and refresh token of `sub` stops working."""
        requests.post(f"{self.url}/users/{sub}/revoke-tokens", timeout=TIMEOUT).raise_for_status()


class Browser:
    """One user's cookie jar. Cookies ignore ports, so instances on 127.0.0.1 share it like
    instances behind one load balancer would. The provider is called without the jar (its own
    Flask cookie is also called `session`)."""

    def __init__(self) -> None:
        self.http = requests.Session()

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=TIMEOUT, **kwargs)

    def post(self, url: str, **kwargs) -> requests.Response:
        return self.http.post(url, allow_redirects=False, timeout=TIMEOUT, **kwargs)

    def authorize(self, login_base: str, sub: str) -> SplitResult:
        """GET /login on one instance and pick `sub` at the provider; returns the callback URL."""
        start = self.get(f"{login_base}/login")
        assert start.status_code == 302, (start.status_code, start.text[:500])
        answer = requests.post(start.headers["Location"], data={"sub": sub}, allow_redirects=False, timeout=TIMEOUT)
        assert answer.status_code == 302, (answer.status_code, answer.text[:500])
        return urlsplit(answer.headers["Location"])

    def callback(self, back: SplitResult, base: str | None = None) -> requests.Response:
        """Come back with the code, to `base` (another instance) or where the redirect says."""
        base = base or f"{back.scheme}://{back.netloc}"
        return self.get(f"{base}{back.path}?{back.query}")

    def sign_in(self, login_base: str, sub: str, callback_base: str | None = None) -> requests.Response:
        response = self.callback(self.authorize(login_base, sub), callback_base)
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return response

    @property
    def sid(self) -> str | None:
        return self.http.cookies.get("session")

    def csrf_token(self, base: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.get(f"{base}/").text)
        assert match, "no sign-out form on the page"
        return match.group(1)

    def logout(self, base: str, token_from: str | None = None) -> requests.Response:
        token = self.csrf_token(token_from or base)
        return self.post(f"{base}/logout", data={"csrf_token": token})


def stored_session(redis_client, cookie: str, client_id: str, secret_key: str = E2E_SECRET_KEY) -> dict | None:
    """The session record a cookie (`id.secret`) opens in Redis, unsealed as the app does it."""
    space = namespace(client_id)
    session_id, _, secret = cookie.partition(".")
    key = f"session:{space}:{session_id}"
    raw = redis_client.get(key)
    sealer = Sealer(secret_key, space)
    return None if raw is None else sealer.open(sealer.key(secret), raw, key)


def session_key(cookie: str, client_id: str) -> str:
    """The Redis key of a session cookie's record."""
    return f"session:{namespace(client_id)}:{cookie.partition('.')[0]}"


def redis_pair(gunicorn_factory, redis_server, provider, name: str) -> tuple:
    """Instances A and B: same secret, same Redis, same provider; separate processes."""
    env = dict(SESSION_TYPE="redis", REDIS_URL=redis_server.url, GOOGLE_CLIENT_ID=f"{name}-client",
               GOOGLE_CLIENT_SECRET=f"{name}-secret", GOOGLE_SERVER_METADATA_URL=provider.metadata_url,
               GOOGLE_OFFLINE_ACCESS="true")
    return gunicorn_factory(**env), gunicorn_factory(**env)
