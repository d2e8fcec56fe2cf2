"""`make run` (scripts/serve.py) sets what plain http on localhost needs by itself, in both modes,
so `.env` never has to switch the Secure cookie off."""

from __future__ import annotations

from dotenv import dotenv_values

from ..helpers import ROOT, serve


def test_plain_http_turns_secure_off_and_binds_loopback():
    env = serve.plain_http_env({"GOOGLE_CLIENT_ID": "id"})
    assert env == {"GOOGLE_CLIENT_ID": "id", "SESSION_COOKIE_SECURE": "false", "HOST": "127.0.0.1"}
    assert serve.plain_http_env({"SESSION_COOKIE_SECURE": ""})["SESSION_COOKIE_SECURE"] == "false"


def test_plain_http_keeps_what_the_environment_chose():
    env = serve.plain_http_env({"SESSION_COOKIE_SECURE": "true", "HOST": "0.0.0.0"})
    assert env["SESSION_COOKIE_SECURE"] == "true" and env["HOST"] == "0.0.0.0"


def test_google_mode_serves_plain_http_too(monkeypatch, tmp_path):
    """With Google credentials (no local provider), gunicorn still gets SESSION_COOKIE_SECURE=false."""
    env_file = tmp_path / "google.env"
    env_file.write_text("GOOGLE_CLIENT_ID=id.apps.googleusercontent.com\nGOOGLE_CLIENT_SECRET=secret\n")
    for name in ("SESSION_COOKIE_SECURE", "HOST", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENV_FILE", str(env_file))
    calls = []
    monkeypatch.setattr(serve.subprocess, "call", lambda argv, cwd, env: calls.append(env) or 0)
    assert serve.main() == 0
    (env,) = calls
    assert env["GOOGLE_CLIENT_ID"] == "id.apps.googleusercontent.com"
    assert env["SESSION_COOKIE_SECURE"] == "false" and env["HOST"] == "127.0.0.1"


def test_env_example_keeps_the_secure_cookie_on():
    """A user who copies .env.example to .env and deploys it must not lose the Secure flag."""
    active = dotenv_values(ROOT / ".env.example")
    assert "SESSION_COOKIE_SECURE" not in active, "leave it commented: make run sets it for localhost"
