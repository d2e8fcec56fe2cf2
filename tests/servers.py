"""Helpers for the multi-instance, fault and load tests: a browser made of `requests` that signs in
over real HTTP, and what the store holds for it. (The provider that can be paused and counted is
scripts/launch.py's Provider, started with a log_path.)

Everything binds or talks to 127.0.0.1 only.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import requests

from flask_google_signin.store import Sealer, namespace

from .helpers import E2E_SECRET_KEY, ROOT, free_port, wait_http

TIMEOUT = 15  # per HTTP call made by a test; every server under test answers well within it


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


class ExampleServer:
    """An example app served by gunicorn from examples/ (`target`: `existing_app:app`,
    `flaskr:create_app()`), two workers on 127.0.0.1, as the examples' docstrings say."""

    def __init__(self, target: str, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = open(log_path, "w")
        # --no-control-socket: gunicorn's default control socket is one path per user (~/.gunicorn/), which
        # servers running side by side would share.
        argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", "2",
                "--no-control-socket", target]
        # PYTHONPATH: the extension of this checkout, whatever else the venv may hold.
        env = {**env, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(argv, cwd=ROOT / "examples", env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        try:
            wait_http(self.url + "/", self.process)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"the example did not start:\n{log_path.read_text()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        self.log.close()
