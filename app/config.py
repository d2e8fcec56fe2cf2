"""The reference app's settings: every variable it reads from the environment (and `.env`).

The extension's settings keep the environment names they always had and are mapped to the
extension's config keys (SIGNIN_VARIABLES: `ALLOWED_DOMAINS` fills `GOOGLE_SIGNIN_ALLOWED_DOMAINS`),
checked by the extension's own parsers (`parse_settings`); the app's own (proxies, logs, metrics,
Calendar) are named like their config keys and checked by app/env.py's. `python -m app.check`
checks them all and prints one line for the first bad one: gunicorn's master runs it before
starting any worker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask_google_signin import ConfigError, parse_settings

from . import env
from .env import (
    ROOT,
    boolean,
    check_required,
    choice,
    environment,
    group_email,
    host_address,
    host_list,
    http_url,
    int_at_least,
    log_level,
    parse_setting,
    port_or_off,
    read_dotenv,
)

__all__ = ["GOOGLE_CALENDAR_API_URL", "ROOT", "SETTINGS", "SIGNIN_VARIABLES", "ConfigError", "check_required",
           "load_settings", "read_dotenv"]

GOOGLE_CALENDAR_API_URL = "https://www.googleapis.com/calendar/v3"

# The app's own settings: name -> (parser, default).
APP_SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "TRUSTED_PROXIES": (int_at_least(0), 0),
    "LOG_FORMAT": (choice("text", "json"), "text"),
    "LOG_LEVEL": (log_level, "INFO"),
    "LOG_PROBES": (boolean, False),  # log /healthz, /readyz and /metrics in gunicorn's access log (app/logs.py)
    "METRICS_PORT": (port_or_off, None),  # read by gunicorn.conf.py, which serves /metrics there
    "METRICS_HOST": (host_address, "127.0.0.1"),  # ... on this address
    "TRUSTED_HOSTS": (host_list, None),  # Flask's: a request for another Host gets 400
    "HSTS_INCLUDE_SUBDOMAINS": (boolean, False),
    "GOOGLE_CALENDAR_API_URL": (http_url, GOOGLE_CALENDAR_API_URL),
    "ADMIN_GROUP": (group_email, None),  # members of this Google group may open /admin (app/admin.py); unset: 404
}
_OWN = ("GOOGLE_OFFLINE_ACCESS", "PROVIDER_TIMEOUT", "SESSION_CACHELIB_DIR", "REDIS_URL", "REDIS_TIMEOUT",
        "REDIS_CA_CERT", "REDIS_CLIENT_CERT", "REDIS_CLIENT_KEY", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER",
        "REDIS_CLUSTER_URL", "ALLOWED_DOMAINS", "ALLOWED_EMAILS", "PUBLIC_BASE_URL", "LOGIN_RATE_LIMIT",
        "PENDING_SIGNINS_MAX", "RISC_CONFIGURATION_URL", "RISC_RATE_LIMIT")
# The extension's settings: environment variable -> the config key it fills.
SIGNIN_VARIABLES: dict[str, str] = {
    **{name: name for name in ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET",
                               "GOOGLE_SERVER_METADATA_URL", "SESSION_TYPE", "SESSION_COOKIE_NAME")},
    "SESSION_COOKIE_SECURE": "GOOGLE_SIGNIN_COOKIE_SECURE",
    "PERMANENT_SESSION_LIFETIME": "GOOGLE_SIGNIN_IDLE_TIMEOUT",
    "SESSION_ABSOLUTE_LIFETIME": "GOOGLE_SIGNIN_ABSOLUTE_TIMEOUT",
    **{name: name for name in ("GOOGLE_SIGNIN_EXPIRED_GRACE", "GOOGLE_SIGNIN_ONE_TAP",
                               "GOOGLE_SIGNIN_ONE_TAP_AUTO_SELECT", "GOOGLE_SIGNIN_GIS_CLIENT_URL",
                               "GOOGLE_SIGNIN_BEARER_AUDIENCES", "GOOGLE_SIGNIN_ALLOWED_GROUPS",
                               "GOOGLE_SIGNIN_GROUPS_NESTED", "GOOGLE_SIGNIN_GROUPS_CREDENTIALS",
                               "GOOGLE_SIGNIN_GROUPS_TTL", "GOOGLE_SIGNIN_GROUPS_STALE",
                               "GOOGLE_SIGNIN_CLOUD_IDENTITY_URL")},
    **{name: f"GOOGLE_SIGNIN_{name}" for name in _OWN},
}
# The reference app shows every part of the extension.
PARTS = {"GOOGLE_SIGNIN_SESSIONS_PAGE": True, "GOOGLE_SIGNIN_RISC": True, "GOOGLE_SIGNIN_METRICS": True}
# Every variable the app reads for its config: the extension's settings, then the app's own.
SETTINGS: tuple[str, ...] = (*SIGNIN_VARIABLES, *APP_SETTINGS)


def load_settings(environ: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then `.env`, then the process environment (which wins); every value checked. The
    answer is by config key: the extension's under its own names (SIGNIN_VARIABLES)."""
    if environ is None:
        environ = environment()
    given = {key: environ[name] for name, key in SIGNIN_VARIABLES.items() if environ.get(name) is not None}
    try:
        settings = {**parse_settings(given), **PARTS}
    except ConfigError as exc:  # named by the variable the operator set, not by the config key
        raise ConfigError(by_variable(str(exc))) from None
    try:
        for name, (parse, default) in APP_SETTINGS.items():
            value = environ.get(name)
            settings[name] = parse_setting(name, None if value is None else str(value), parse, default)
    except env.ConfigError as exc:  # one kind of error for the app's settings and the extension's
        raise ConfigError(str(exc)) from None
    return settings


def by_variable(message: str) -> str:
    """An error that names config keys, naming the environment variables that fill them instead."""
    for name, key in SIGNIN_VARIABLES.items():
        if name != key:
            message = re.sub(rf"\b{key}\b", name, message)
    return message


def app_config(environ: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The app's config: `environ`, then `overrides` (create_app's, in Python), both by environment
    name and checked alike; an override by any other name (TESTING, SERVER_NAME) is a config key."""
    known = {name: value for name, value in overrides.items() if name in SETTINGS}
    others = {name: value for name, value in overrides.items() if name not in SETTINGS}
    try:
        check_required({name: str(value) for name, value in {**environ, **known}.items() if value is not None})
    except env.ConfigError as exc:
        raise ConfigError(str(exc)) from None
    return {**load_settings({**environ, **known}), **others}
