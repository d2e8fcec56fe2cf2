"""Settings from the environment (and `.env`), each named like its config key."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import limits
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
GOOGLE_METADATA_URL = "https://accounts.google.com/.well-known/openid-configuration"
REQUIRED = ("SECRET_KEY", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true or false")


def _list(value: str) -> list[str]:
    return [item.strip().lower() for item in value.split(",") if item.strip()]


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A whole number: `0` where a lifetime or a worker count is meant would start a broken server."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            raise ValueError(f"expected a whole number >= {minimum}, got {value!r}")
        return number

    return parse


def _seconds(value: str) -> float:
    """A timeout: `nan`, `inf` or a negative number would disable it or fail every call."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"expected a number of seconds > 0, got {value!r}")
    return number


def _log_level(value: str) -> str:
    """Checked here: logging itself would answer a typo with a traceback."""
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


def _rate_limit(value: str) -> str:
    """Flask-Limiter's notation (`20/minute`, several joined with `;`); a zero limit would lock everyone out."""
    if any(item.amount < 1 for item in limits.parse_many(value)):  # parse_many raises ValueError itself
        raise ValueError("a limit of 0 refuses every request")
    return value


# name -> (parser, default). Defaults are safe for production; `make run` relaxes what plain http needs.
SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "SECRET_KEY": (str, None),
    "GOOGLE_CLIENT_ID": (str, None),
    "GOOGLE_CLIENT_SECRET": (str, None),
    "GOOGLE_SERVER_METADATA_URL": (str, GOOGLE_METADATA_URL),
    "GOOGLE_OFFLINE_ACCESS": (_bool, False),
    "PROVIDER_TIMEOUT": (_seconds, 8.0),
    "SESSION_TYPE": (_choice("cachelib", "redis"), "cachelib"),
    "SESSION_CACHELIB_DIR": (str, None),
    "REDIS_URL": (str, "redis://localhost:6379/0"),
    "REDIS_TIMEOUT": (_seconds, 0.5),
    "SESSION_COOKIE_SECURE": (_bool, True),
    "SESSION_COOKIE_NAME": (str, "session"),
    "PERMANENT_SESSION_LIFETIME": (int_at_least(1), 8 * 3600),
    "SESSION_ABSOLUTE_LIFETIME": (int_at_least(1), 7 * 24 * 3600),
    "ALLOWED_DOMAINS": (_list, []),
    "ALLOWED_EMAILS": (_list, []),
    "TRUSTED_PROXIES": (int_at_least(0), 0),
    "PUBLIC_BASE_URL": (str, ""),
    "LOG_FORMAT": (_choice("text", "json"), "text"),
    "LOG_LEVEL": (_log_level, "INFO"),
    "LOGIN_RATE_LIMIT": (_rate_limit, "20/minute"),
    "PENDING_SIGNINS_MAX": (int_at_least(1), 100_000),
}


def read_dotenv() -> dict[str, str]:
    """`.env` beside the code, or the file ENV_FILE names (empty: none, as the tests do)."""
    path = os.environ.get("ENV_FILE", str(ROOT / ".env"))
    if not path or not os.path.isfile(path):
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults, then `.env`, then the process environment (which wins)."""
    if environ is None:
        environ = {**read_dotenv(), **os.environ}
    return {name: parse_setting(name, environ.get(name), parse, default) for name, (parse, default) in SETTINGS.items()}


def parse_setting(name: str, raw: str | None, parse: Callable[[str], Any], default: Any) -> Any:
    """One setting from its text; unset (or empty, where there is a default) gives the default.

    gunicorn.conf.py reads its own numbers through this too, so every bad value reads the same.
    """
    if raw is None or (raw == "" and default is not None):
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is invalid: {exc}") from None


def check_required(config: Mapping[str, Any]) -> None:
    """Fail at start-up, naming the first missing secret, rather than at the first sign-in."""
    for name in REQUIRED:
        if not config.get(name):
            raise ConfigError(f"{name} is not set: add it to the environment or to .env (see .env.example)")
