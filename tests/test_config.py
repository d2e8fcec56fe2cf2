"""Configuration: environment names, defaults, and failing fast on a missing secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from app.config import GOOGLE_METADATA_URL, SETTINGS, ConfigError, load_settings

from .conftest import ROOT, base_config, server_env


def test_defaults_are_safe():
    settings = load_settings({})
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_TYPE"] == "cachelib"
    assert settings["GOOGLE_SERVER_METADATA_URL"] == GOOGLE_METADATA_URL
    assert settings["TRUSTED_PROXIES"] == 0
    assert settings["GOOGLE_OFFLINE_ACCESS"] is False
    assert settings["ALLOWED_DOMAINS"] == [] and settings["ALLOWED_EMAILS"] == []


def test_values_are_parsed_from_strings():
    settings = load_settings({"SESSION_COOKIE_SECURE": "false", "ALLOWED_DOMAINS": " Example.com, b.org ,",
                              "GOOGLE_OFFLINE_ACCESS": "TRUE", "TRUSTED_PROXIES": "2", "SESSION_TYPE": "redis",
                              "PERMANENT_SESSION_LIFETIME": "600"})
    assert settings["SESSION_COOKIE_SECURE"] is False
    assert settings["ALLOWED_DOMAINS"] == ["example.com", "b.org"]
    assert settings["GOOGLE_OFFLINE_ACCESS"] is True
    assert settings["TRUSTED_PROXIES"] == 2 and settings["PERMANENT_SESSION_LIFETIME"] == 600


@pytest.mark.parametrize(("name", "value"), [("SESSION_COOKIE_SECURE", "maybe"), ("SESSION_TYPE", "filesystem"),
                                             ("TRUSTED_PROXIES", "-1"), ("PROVIDER_TIMEOUT", "soon"),
                                             ("LOG_FORMAT", "xml")])
def test_malformed_value_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize("missing", ["SECRET_KEY", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"])
def test_missing_secret_stops_the_app(tmp_path, missing):
    with pytest.raises(ConfigError, match=f"^{missing} is not set"):
        create_app(base_config(tmp_path, **{missing: ""}), environ={})


def test_env_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / "test.env"
    env_file.write_text("ALLOWED_EMAILS=a@example.com\nLOG_FORMAT=json\n")
    monkeypatch.setenv("ENV_FILE", str(env_file))
    monkeypatch.setenv("LOG_FORMAT", "text")
    settings = load_settings()
    assert settings["ALLOWED_EMAILS"] == ["a@example.com"] and settings["LOG_FORMAT"] == "text"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"])
def test_wsgi_prints_one_line_without_traceback(missing):
    env = server_env(GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="secret")
    env.pop(missing, None)
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        f"error: {missing} is not set: add it to the environment or to .env (see .env.example)"]


def test_offline_access_asks_for_refresh_token(make_app, google):
    client = make_app(GOOGLE_OFFLINE_ACCESS=True).test_client()
    location = client.get("/login").location
    assert "access_type=offline" in location and "prompt=consent" in location


def test_gunicorn_stops_with_one_line(tmp_path):
    """The Dockerfile's command, without SECRET_KEY: one error line from the master, no worker loop."""
    from .conftest import docker_cmd

    argv = docker_cmd()
    env = server_env(GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="secret", PORT="0", HOST="127.0.0.1")
    env.pop("SECRET_KEY")
    gunicorn = str(Path(sys.executable).parent / argv[0])
    result = subprocess.run([gunicorn, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode == 4
    assert output.count("SECRET_KEY is not set") == 1
    assert "Traceback" not in output and "Booting worker" not in output


GUNICORN_SETTINGS = ["PORT", "HOST", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GRACEFUL_TIMEOUT", "FORWARDED_ALLOW_IPS"]


@pytest.mark.parametrize("name", [*SETTINGS, *GUNICORN_SETTINGS])
def test_every_setting_is_documented(name):
    assert f"{name}=" in (ROOT / ".env.example").read_text(), f"{name} missing from .env.example"
    assert f"`{name}`" in (ROOT / "README.md").read_text(), f"{name} missing from README's table"
