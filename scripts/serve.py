"""`make run`: serve the app with gunicorn; without Google credentials, against a local provider.

The app itself never falls back to a test provider: this script decides, prints which it
chose, and sets the app's environment accordingly.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.config import read_dotenv  # noqa: E402

PROVIDER_PORT = int(os.environ.get("LOCAL_PROVIDER_PORT", "9400"))
USERS = [
    {"sub": "alice", "email": "alice@example.com", "email_verified": True, "name": "Alice Example",
     "given_name": "Alice", "family_name": "Example", "locale": "en", "hd": "example.com"},
    {"sub": "bob", "email": "bob@example.org", "email_verified": True, "name": "Bob Builder",
     "given_name": "Bob", "family_name": "Builder", "locale": "en-GB"},
]


def provider_command(port: int, users: list[dict] = USERS) -> list[str]:
    args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    for user in users:
        args += ["--user-claims", json.dumps(user)]
    return args


def provider_env(env: dict[str, str]) -> dict[str, str]:
    """uvicorn, under the provider, reads WEB_CONCURRENCY too, and cannot run several workers."""
    return {**{k: v for k, v in env.items() if k != "WEB_CONCURRENCY"}, "NO_COLOR": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen | None = None, seconds: float = 30) -> None:
    """Until `url` answers; RuntimeError if `process` dies first or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process meant to answer at {url} exited with {process.returncode}"
                               " (is the port taken?)")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback only
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered at {url} within {seconds:.0f} s")


def plain_http_env(env: dict[str, str]) -> dict[str, str]:
    """`make run` serves plain http on localhost, in both modes: bind loopback, and turn the cookie's
    Secure flag off (a browser would not send it back over http), unless the environment or .env chose."""
    return {**env, "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE") or "false",
            "HOST": env.get("HOST") or "127.0.0.1"}


def main() -> int:
    env = plain_http_env({**read_dotenv(), **os.environ})
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"]
    port = env.get("PORT", "8000")
    if env.get("GOOGLE_CLIENT_ID") and env.get("GOOGLE_CLIENT_SECRET"):
        print(f"Serving against Google on http://localhost:{port}", flush=True)
        return subprocess.call(gunicorn, cwd=ROOT, env=env)

    metadata = f"http://127.0.0.1:{PROVIDER_PORT}/.well-known/openid-configuration"
    provider = subprocess.Popen(provider_command(PROVIDER_PORT), cwd=ROOT, env=provider_env(env))
    try:
        wait_http(metadata, provider)
        env.update(
            GOOGLE_CLIENT_ID="local-test-client",
            GOOGLE_CLIENT_SECRET=secrets.token_urlsafe(24),
            GOOGLE_SERVER_METADATA_URL=metadata,
        )
        env.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
        env.setdefault("WEB_CONCURRENCY", "2")
        print(f"No Google credentials in .env: using the LOCAL TEST PROVIDER at http://127.0.0.1:{PROVIDER_PORT}\n"
              f"Open http://localhost:{port} and sign in as alice or bob.", flush=True)
        app = subprocess.Popen(gunicorn, cwd=ROOT, env=env)
        signal.signal(signal.SIGTERM, lambda *_: app.terminate())
        try:
            return app.wait()
        except KeyboardInterrupt:
            app.terminate()
            return app.wait()
    finally:
        provider.terminate()
        provider.wait(timeout=10)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:
        sys.exit(f"error: {exc}")
