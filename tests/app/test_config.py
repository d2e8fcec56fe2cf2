"""Configuration: environment names, defaults, and failing fast on a missing secret."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app import create_app
from app.config import APP_SETTINGS, SETTINGS, SIGNIN_VARIABLES, ConfigError, load_settings
from flask_google_signin import GOOGLE_METADATA_URL

from ..helpers import ROOT, base_config, server_env


def by_variable(environ=None) -> dict:
    """load_settings' answer (by config key) by the environment variables that fill it."""
    settings = load_settings(environ)
    return {**{name: settings[key] for name, key in SIGNIN_VARIABLES.items()},
            **{name: settings[name] for name in APP_SETTINGS}}


def test_the_environment_names_stay_as_they_were():
    """Operators' .env files and deployments use these names: the app keeps reading every one."""
    assert set(SETTINGS) == {
        "SECRET_KEY", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GOOGLE_SERVER_METADATA_URL", "GOOGLE_OFFLINE_ACCESS",
        "PROVIDER_TIMEOUT", "SESSION_TYPE", "SESSION_CACHELIB_DIR", "REDIS_URL", "REDIS_TIMEOUT", "REDIS_CA_CERT",
        "REDIS_CLIENT_CERT", "REDIS_CLIENT_KEY", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_CLUSTER_URL",
        "SESSION_COOKIE_SECURE", "SESSION_COOKIE_NAME", "PERMANENT_SESSION_LIFETIME", "SESSION_ABSOLUTE_LIFETIME",
        "ALLOWED_DOMAINS", "ALLOWED_EMAILS", "PUBLIC_BASE_URL", "LOGIN_RATE_LIMIT", "PENDING_SIGNINS_MAX",
        "RISC_CONFIGURATION_URL", "RISC_RATE_LIMIT", "TRUSTED_PROXIES", "LOG_FORMAT", "LOG_LEVEL", "LOG_PROBES",
        "METRICS_PORT", "METRICS_HOST", "GOOGLE_CALENDAR_API_URL", "GOOGLE_SIGNIN_EXPIRED_GRACE", "TRUSTED_HOSTS",
        "HSTS_INCLUDE_SUBDOMAINS", "SECRET_KEY_FALLBACKS", "GOOGLE_SIGNIN_ONE_TAP", "GOOGLE_SIGNIN_ONE_TAP_AUTO_SELECT",
        "GOOGLE_SIGNIN_GIS_CLIENT_URL", "GOOGLE_SIGNIN_BEARER_AUDIENCES", "GOOGLE_SIGNIN_ALLOWED_GROUPS",
        "GOOGLE_SIGNIN_GROUPS_NESTED", "GOOGLE_SIGNIN_GROUPS_CREDENTIALS", "GOOGLE_SIGNIN_GROUPS_TTL",
        "GOOGLE_SIGNIN_GROUPS_STALE", "GOOGLE_SIGNIN_CLOUD_IDENTITY_URL", "ADMIN_GROUP",
    }
    settings = load_settings({"PERMANENT_SESSION_LIFETIME": "600", "SESSION_COOKIE_SECURE": "false",
                              "ALLOWED_DOMAINS": "example.com"})
    assert settings["GOOGLE_SIGNIN_IDLE_TIMEOUT"] == 600 and settings["GOOGLE_SIGNIN_COOKIE_SECURE"] is False
    assert settings["GOOGLE_SIGNIN_ALLOWED_DOMAINS"] == ["example.com"]


def test_defaults_are_safe(tmp_path):
    settings = by_variable({})
    assert settings["SESSION_COOKIE_SECURE"] is None  # worked out by the extension: Secure outside testing
    app = create_app({k: v for k, v in base_config(tmp_path).items() if k not in ("SESSION_COOKIE_SECURE", "TESTING")},
                     environ={})
    assert app.extensions["google_signin_settings"]["COOKIE_SECURE"] is True
    assert settings["SESSION_TYPE"] == "cachelib"
    assert settings["GOOGLE_SERVER_METADATA_URL"] == GOOGLE_METADATA_URL
    assert settings["TRUSTED_PROXIES"] == 0
    assert settings["GOOGLE_OFFLINE_ACCESS"] is False
    assert settings["ALLOWED_DOMAINS"] == [] and settings["ALLOWED_EMAILS"] == []


def test_values_are_parsed_from_strings():
    settings = by_variable({"SESSION_COOKIE_SECURE": "false", "ALLOWED_DOMAINS": " Example.com, b.org ,",
                              "GOOGLE_OFFLINE_ACCESS": "TRUE", "TRUSTED_PROXIES": "2", "SESSION_TYPE": "redis",
                              "PERMANENT_SESSION_LIFETIME": "600"})
    assert settings["SESSION_COOKIE_SECURE"] is False
    assert settings["ALLOWED_DOMAINS"] == ["example.com", "b.org"]
    assert settings["GOOGLE_OFFLINE_ACCESS"] is True
    assert settings["TRUSTED_PROXIES"] == 2 and settings["PERMANENT_SESSION_LIFETIME"] == 600


def test_secret_key_fallbacks_is_a_comma_list_of_keys_as_written(tmp_path):
    """The older keys of a SECRET_KEY rotation, for the extension and Flask alike: empty items dropped."""
    assert by_variable({})["SECRET_KEY_FALLBACKS"] == []
    assert by_variable({"SECRET_KEY_FALLBACKS": " Old-Key-2, ,old-key-1,"})["SECRET_KEY_FALLBACKS"] == [
        "Old-Key-2", "old-key-1"]
    app = create_app(base_config(tmp_path), environ={"SECRET_KEY_FALLBACKS": "Old-Key-2,old-key-1"})
    assert app.config["SECRET_KEY_FALLBACKS"] == ["Old-Key-2", "old-key-1"]  # what Flask reads


@pytest.mark.parametrize(("name", "value"), [
    ("SESSION_COOKIE_SECURE", "maybe"), ("SESSION_TYPE", "filesystem"), ("TRUSTED_PROXIES", "-1"),
    ("TRUSTED_PROXIES", "one"), ("PROVIDER_TIMEOUT", "soon"), ("LOG_FORMAT", "xml"),
    ("PERMANENT_SESSION_LIFETIME", "0"), ("PERMANENT_SESSION_LIFETIME", "-60"), ("PERMANENT_SESSION_LIFETIME", "1.5"),
    ("SESSION_ABSOLUTE_LIFETIME", "0"), ("SESSION_ABSOLUTE_LIFETIME", "week"),
    *[(name, value) for name in ("PROVIDER_TIMEOUT", "REDIS_TIMEOUT") for value in ("nan", "inf", "-inf", "-5", "0")],
    ("LOG_LEVEL", "INFOO"), ("LOG_LEVEL", "verbose"), ("LOG_LEVEL", "10"),
    ("LOGIN_RATE_LIMIT", "lots"), ("LOGIN_RATE_LIMIT", "20/fortnight"), ("LOGIN_RATE_LIMIT", "0/minute"),
    ("PENDING_SIGNINS_MAX", "0"), ("PENDING_SIGNINS_MAX", "many"),
])
def test_malformed_value_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=f"^{name} is invalid: "):
        load_settings({name: value})


def test_new_and_checked_values_are_parsed():
    settings = by_variable({"LOG_LEVEL": "warning", "PROVIDER_TIMEOUT": "2.5", "REDIS_TIMEOUT": "0.2",
                              "LOGIN_RATE_LIMIT": "5/minute;100/hour", "PENDING_SIGNINS_MAX": "50",
                              "SESSION_ABSOLUTE_LIFETIME": "1"})
    assert settings["LOG_LEVEL"] == "WARNING"
    assert settings["PROVIDER_TIMEOUT"] == 2.5 and settings["REDIS_TIMEOUT"] == 0.2
    assert settings["LOGIN_RATE_LIMIT"] == "5/minute;100/hour" and settings["PENDING_SIGNINS_MAX"] == 50
    assert settings["SESSION_ABSOLUTE_LIFETIME"] == 1
    defaults = by_variable({})
    assert defaults["LOGIN_RATE_LIMIT"] == "20/minute" and defaults["PENDING_SIGNINS_MAX"] == 100_000
    assert defaults["LOG_LEVEL"] == "INFO"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"])
def test_missing_secret_stops_the_app(tmp_path, missing):
    with pytest.raises(ConfigError, match=f"^{missing} is not set"):
        create_app(base_config(tmp_path, **{missing: ""}), environ={})


def test_env_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / "test.env"
    env_file.write_text("ALLOWED_EMAILS=a@example.com\nLOG_FORMAT=json\n")
    monkeypatch.setenv("ENV_FILE", str(env_file))
    monkeypatch.setenv("LOG_FORMAT", "text")
    settings = by_variable()
    assert settings["ALLOWED_EMAILS"] == ["a@example.com"] and settings["LOG_FORMAT"] == "text"


@pytest.mark.slow  # a Python process that imports the whole app: about a second each
@pytest.mark.parametrize("missing", ["SECRET_KEY", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"])
def test_wsgi_prints_one_line_without_traceback(missing):
    env = server_env(GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="secret")
    env.pop(missing, None)
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        f"error: {missing} is not set: add it to the environment or to .env (see .env.example)"]


@pytest.mark.slow  # as above
@pytest.mark.parametrize(("name", "value"), [("LOG_LEVEL", "INFOO"), ("PROVIDER_TIMEOUT", "nan"),
                                             ("PERMANENT_SESSION_LIFETIME", "0")])
def test_wsgi_names_a_malformed_setting_without_traceback(name, value):
    env = server_env(GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="secret", **{name: value})
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 4, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {name} is invalid: ")


def test_offline_access_asks_for_refresh_token(make_app, google):
    client = make_app(GOOGLE_OFFLINE_ACCESS=True).test_client()
    location = client.get("/login").location
    assert "access_type=offline" in location and "prompt=consent" in location


GUNICORN_SETTINGS = ["PORT", "HOST", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GRACEFUL_TIMEOUT", "FORWARDED_ALLOW_IPS"]


@pytest.mark.parametrize("name", [*SETTINGS, *GUNICORN_SETTINGS])
def test_every_setting_is_documented(name):
    assert f"{name}=" in (ROOT / ".env.example").read_text(), f"{name} missing from .env.example"
    assert f"`{name}`" in (ROOT / "docs" / "configuration.md").read_text(), f"{name} missing from docs/configuration.md"
