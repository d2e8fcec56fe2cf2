"""The reference app's environment: `.env` and the process environment, and the parsers of the
app's own settings.

Standard library and python-dotenv only: gunicorn.conf.py loads this file in gunicorn's master,
which must import none of the app's or the extension's code (`kill -HUP` reloads only what the
master has not imported).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REQUIRED = ("SECRET_KEY", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def read_dotenv() -> dict[str, str]:
    """`.env` beside the code, or the file ENV_FILE names (empty: none, as the tests do)."""
    path = os.environ.get("ENV_FILE", str(ROOT / ".env"))
    if not path or not os.path.isfile(path):
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def environment() -> dict[str, str]:
    """`.env`, then the process environment, which wins."""
    return {**read_dotenv(), **os.environ}


def parse_setting(name: str, raw: str | None, parse: Callable[[str], Any], default: Any) -> Any:
    """One setting from its text; unset (or empty, where there is a default) gives the default."""
    if raw is None or (raw == "" and default is not None):
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is invalid: {exc}") from None


def check_required(environ: Mapping[str, str]) -> None:
    """Fail at start-up, naming the first missing secret, rather than at the first sign-in."""
    for name in REQUIRED:
        if not environ.get(name):
            raise ConfigError(f"{name} is not set: add it to the environment or to .env (see .env.example)")


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true or false")


def choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A whole number: `0` where a worker count is meant would start a broken server."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            raise ValueError(f"expected a whole number >= {minimum}, got {value!r}")
        return number

    return parse


def log_level(value: str) -> str:
    """Checked here: logging itself would answer a typo with a traceback."""
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


def port_or_off(value: str) -> int | None:
    """A TCP port, or empty for none (METRICS_PORT: unset or empty serves no metrics)."""
    if not value.strip():
        return None
    port: int = int_at_least(1)(value.strip())
    if port > 65535:
        raise ValueError(f"expected a port from 1 to 65535, got {value!r}")
    return port


def host_address(value: str) -> str:
    """An address to listen on: an IPv4 or IPv6 address, or a host name (no port, no spaces)."""
    address = value.strip().strip("[]")
    if not address or any(c.isspace() or c in "/?#@" for c in address) or (":" in address and "." in address
                                                                             and address.count(":") == 1):
        raise ValueError(f"expected an address such as 127.0.0.1 or 0.0.0.0, got {value!r}")
    return address


def host_list(value: str) -> list[str] | None:
    """Comma-separated host names (Flask's TRUSTED_HOSTS: `example.com`, `.example.com` for its
    subdomains, `localhost`); empty: None, every host."""
    hosts = [item.strip().lower() for item in value.split(",") if item.strip()]
    for host in hosts:
        if any(c.isspace() or c in "/?#@" for c in host):
            raise ValueError(f"expected host names such as example.com, got {host!r}")
    return hosts or None


def http_url(value: str) -> str:
    """A base URL that requests can call: http(s) and a host; the trailing slash is dropped."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.strip().rstrip("/")


def group_email(value: str) -> str:
    """One Google group's email address (ADMIN_GROUP), kept lower case as the extension keeps group names."""
    group = value.strip().lower()
    name, at, domain = group.partition("@")
    if not name or not at or "." not in domain or any(c.isspace() or c in ",/?#" for c in group):
        raise ValueError(f"expected one group email such as admins@example.com, got {value!r}")
    return group
