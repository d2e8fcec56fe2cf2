"""`make run`: serve the app with gunicorn; without Google credentials, against a local provider.

The app itself never falls back to a test provider: this script decides, prints which it
chose, and sets the app's environment accordingly.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import local_calendar  # noqa: E402  (scripts/, beside this file)
import local_groups  # noqa: E402
from launch import free_port, provider_command, provider_env, wait_http  # noqa: E402  (scripts/launch.py, beside this file)

from app.config import read_dotenv  # noqa: E402

PROVIDER_PORT = int(os.environ.get("LOCAL_PROVIDER_PORT", "9400"))


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

    provider_url = f"http://127.0.0.1:{PROVIDER_PORT}"
    metadata = f"{provider_url}/.well-known/openid-configuration"
    provider = subprocess.Popen(provider_command(PROVIDER_PORT), cwd=ROOT, env=provider_env(env))
    try:
        wait_http(metadata, provider)
        # A client registered with the calendar scope (the provider drops scopes a client lacks), and
        # sample events for the calendar page, served from this process (scripts/local_calendar.py).
        callbacks = [f"http://localhost:{port}/callback", f"http://127.0.0.1:{port}/callback"]
        if env.get("PUBLIC_BASE_URL"):
            callbacks.append(env["PUBLIC_BASE_URL"].rstrip("/") + "/callback")
        client_id, client_secret = local_calendar.register_client(provider_url, callbacks)
        calendar = local_calendar.SampleCalendar(free_port(), f"{provider_url}/userinfo")
        # Workspace groups from scripts/local_groups.json, asked as the extension asks Google's API.
        groups, keys = local_groups.SampleGroups(free_port()), tempfile.TemporaryDirectory()
        env.update(
            GOOGLE_CLIENT_ID=client_id,
            GOOGLE_CLIENT_SECRET=client_secret,
            GOOGLE_SERVER_METADATA_URL=metadata,
            GOOGLE_CALENDAR_API_URL=calendar.url,
            GOOGLE_SIGNIN_CLOUD_IDENTITY_URL=groups.url,
            GOOGLE_SIGNIN_GROUPS_CREDENTIALS=str(groups.key_file(Path(keys.name))),
        )
        env.setdefault("ADMIN_GROUP", local_groups.ADMIN_GROUP)
        env.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
        env.setdefault("WEB_CONCURRENCY", "2")
        print(f"No Google credentials in .env: using the LOCAL TEST PROVIDER at http://127.0.0.1:{PROVIDER_PORT}\n"
              f"Open http://localhost:{port} and sign in as alice or bob (alice is in {env['ADMIN_GROUP']}: "
              "/admin).", flush=True)
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
