"""Settings from the environment (and `.env`), each named like its config key."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
GOOGLE_METADATA_URL = "https://accounts.google.com/.well-known/openid-configuration"
REQUIRED = ("SECRET_KEY", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")


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


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("expected a number >= 0")
    return number


# name -> (parser, default). Defaults are safe for production; local runs relax them in .env.
SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "SECRET_KEY": (str, None),
    "GOOGLE_CLIENT_ID": (str, None),
    "GOOGLE_CLIENT_SECRET": (str, None),
    "GOOGLE_SERVER_METADATA_URL": (str, GOOGLE_METADATA_URL),
    "GOOGLE_OFFLINE_ACCESS": (_bool, False),
    "PROVIDER_TIMEOUT": (float, 8.0),
    "SESSION_TYPE": (_choice("cachelib", "redis"), "cachelib"),
    "SESSION_CACHELIB_DIR": (str, None),
    "REDIS_URL": (str, "redis://localhost:6379/0"),
    "REDIS_TIMEOUT": (float, 0.5),
    "SESSION_COOKIE_SECURE": (_bool, True),
    "SESSION_COOKIE_NAME": (str, "session"),
    "PERMANENT_SESSION_LIFETIME": (_positive_int, 8 * 3600),
    "SESSION_ABSOLUTE_LIFETIME": (_positive_int, 7 * 24 * 3600),
    "ALLOWED_DOMAINS": (_list, []),
    "ALLOWED_EMAILS": (_list, []),
    "TRUSTED_PROXIES": (_positive_int, 0),
    "PUBLIC_BASE_URL": (str, ""),
    "LOG_FORMAT": (_choice("text", "json"), "text"),
    "LOG_LEVEL": (str, "INFO"),
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
    settings: dict[str, Any] = {}
    for name, (parse, default) in SETTINGS.items():
        raw = environ.get(name)
        if raw is None or (raw == "" and default is not None):
            settings[name] = default
            continue
        try:
            settings[name] = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} is invalid: {exc}") from None
    return settings


def check_required(config: Mapping[str, Any]) -> None:
    """Fail at start-up, naming the first missing secret, rather than at the first sign-in."""
    for name in REQUIRED:
        if not config.get(name):
            raise ConfigError(f"{name} is not set: add it to the environment or to .env (see .env.example)")
