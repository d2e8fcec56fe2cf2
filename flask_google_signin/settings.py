"""The extension's settings: one parser and one default per config key.

The bottom layer: it imports nothing from the package. A value may be text (from the environment)
or a Python value; either way it goes through the same parser, so a bad value fails at start-up
with one line naming the key.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import limits

GOOGLE_METADATA_URL = "https://accounts.google.com/.well-known/openid-configuration"
GOOGLE_RISC_CONFIGURATION_URL = "https://accounts.google.com/.well-known/risc-configuration"
REQUIRED = ("SECRET_KEY", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true or false")


def comma_list(value: str) -> list[str]:
    return [item.strip().lower() for item in value.split(",") if item.strip()]


def choice(*choices: str) -> Callable[[str], str]:
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


def seconds(value: str) -> float:
    """A timeout: `nan`, `inf` or a negative number would disable it or fail every call."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"expected a number of seconds > 0, got {value!r}")
    return number


def existing_file(value: str) -> str:
    """A path the process must read at start-up (a CA, a client certificate or key): checked now,
    not at the first connection, where a typo would only show as a store that does not answer."""
    path = value.strip()
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ValueError(f"no readable file at {path!r}")
    return path


def host_ports(value: str) -> list[str]:
    """`host:port,host:port` (Sentinel's addresses; an IPv6 host in brackets), kept as text so a
    value that went through here once parses the same again (apply_settings re-reads it)."""
    found: list[str] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port, got {item!r}")
        found.append(f"{host}:{int(port)}")
    return found


def redis_url(value: str) -> str:
    """A Cluster node to start from: redis:// or rediss:// (TLS) with a host; database 0, the only one."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"expected redis://host:port or rediss://host:port, got {value!r}")
    if parts.path not in ("", "/", "/0"):
        raise ValueError("a Redis Cluster has database 0 only: leave the path out")
    return value.strip()


def rate_limit(value: str) -> str:
    """`limits`' notation (`20/minute`, several joined with `;`); a zero limit would lock everyone out."""
    if any(item.amount < 1 for item in limits.parse_many(value)):  # parse_many raises ValueError itself
        raise ValueError("a limit of 0 refuses every request")
    return value


# name -> (parser, default): the extension's settings, each named like the config key it fills
# (Flask's, Flask-Session's, or ours). Defaults are safe for production.
SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "SECRET_KEY": (str, None),
    "GOOGLE_CLIENT_ID": (str, None),
    "GOOGLE_CLIENT_SECRET": (str, None),
    "GOOGLE_SERVER_METADATA_URL": (str, GOOGLE_METADATA_URL),
    "GOOGLE_OFFLINE_ACCESS": (boolean, False),
    "PROVIDER_TIMEOUT": (seconds, 8.0),
    "SESSION_TYPE": (choice("cachelib", "redis"), "cachelib"),
    "SESSION_CACHELIB_DIR": (str, None),
    "REDIS_URL": (str, "redis://localhost:6379/0"),
    "REDIS_TIMEOUT": (seconds, 0.5),
    "REDIS_CA_CERT": (existing_file, ""),
    "REDIS_CLIENT_CERT": (existing_file, ""),
    "REDIS_CLIENT_KEY": (existing_file, ""),
    "REDIS_SENTINELS": (host_ports, []),
    "REDIS_SENTINEL_MASTER": (str, "mymaster"),
    "REDIS_CLUSTER_URL": (redis_url, ""),
    "SESSION_COOKIE_SECURE": (boolean, True),
    "SESSION_COOKIE_NAME": (str, "session"),
    "PERMANENT_SESSION_LIFETIME": (int_at_least(1), 8 * 3600),
    "SESSION_ABSOLUTE_LIFETIME": (int_at_least(1), 7 * 24 * 3600),
    "ALLOWED_DOMAINS": (comma_list, []),
    "ALLOWED_EMAILS": (comma_list, []),
    "PUBLIC_BASE_URL": (str, ""),
    "LOGIN_RATE_LIMIT": (rate_limit, "20/minute"),
    "PENDING_SIGNINS_MAX": (int_at_least(1), 100_000),
    "RISC_CONFIGURATION_URL": (str, GOOGLE_RISC_CONFIGURATION_URL),
    "RISC_RATE_LIMIT": (rate_limit, "120/minute"),
}


def parse_setting(name: str, raw: str | None, parse: Callable[[str], Any], default: Any) -> Any:
    """One setting from its text; unset (or empty, where there is a default) gives the default."""
    if raw is None or (raw == "" and default is not None):
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is invalid: {exc}") from None


SETTING_NAMES: tuple[str, ...] = tuple(SETTINGS)


def parse_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every extension setting from `values` (text, as the environment has it, or Python values),
    checked; unset ones get their default. Raises ConfigError naming the first bad one."""
    return {name: parse_setting(name, None if values.get(name) is None else as_text(values[name]), parse, default)
            for name, (parse, default) in SETTINGS.items()}


def apply_settings(config: dict[str, Any], flask_defaults: Mapping[str, Any]) -> None:
    """Every extension setting, checked: unset ones get our default, set ones go through their parser.

    Flask's own 31-day `PERMANENT_SESSION_LIFETIME` (the very object Flask presets) counts as
    unset, so a host that never chose one gets 8 hours. Values a host set in Python (a bool, a
    number, a list, a timedelta) are turned into text and parsed like the environment's, so `0`
    for a lifetime or a `nan` timeout fails here too, and lists are normalised the same way.
    (Flask presets `SESSION_COOKIE_SECURE=False`, which cannot be told from a host's own False:
    GoogleSignIn warns when it is off outside debug and testing.)
    """
    for name, (parse, default) in SETTINGS.items():
        value = config.get(name)
        if isinstance(value, timedelta) and value is flask_defaults.get(name):
            value = None
        config[name] = parse_setting(name, None if value is None else as_text(value), parse, default)


def as_text(value: Any) -> str:
    """A value set in Python, as the environment would spell it."""
    if isinstance(value, timedelta):
        return str(int(value.total_seconds()))
    if isinstance(value, list | tuple | set):
        return ",".join(str(item) for item in value)
    return str(value)


def check_required(config: Mapping[str, Any]) -> None:
    """Fail at start-up, naming the first missing secret, rather than at the first sign-in."""
    for name in REQUIRED:
        if not config.get(name):
            raise ConfigError(f"{name} is not set: add it to the environment or to .env (see .env.example)")


def check_redis(config: Mapping[str, Any]) -> None:
    """The Redis settings that only make sense together (store.redis_client reads them)."""
    sentinels, cluster = config.get("REDIS_SENTINELS"), config.get("REDIS_CLUSTER_URL")
    if sentinels and cluster:
        raise ConfigError("REDIS_SENTINELS and REDIS_CLUSTER_URL are both set: a Redis is either watched by "
                          "Sentinel or a Cluster, set only one")
    if (sentinels or cluster) and config.get("SESSION_TYPE") != "redis":
        which = "REDIS_SENTINELS" if sentinels else "REDIS_CLUSTER_URL"
        raise ConfigError(f"{which} is set, but SESSION_TYPE is not redis: set SESSION_TYPE=redis to use it")
    if bool(config.get("REDIS_CLIENT_CERT")) != bool(config.get("REDIS_CLIENT_KEY")):
        raise ConfigError("REDIS_CLIENT_CERT and REDIS_CLIENT_KEY go together: set both, or neither")
    url_name = "REDIS_CLUSTER_URL" if cluster else "REDIS_URL"
    tls = str(config.get(url_name) or "").startswith("rediss://")
    for name in ("REDIS_CA_CERT", "REDIS_CLIENT_CERT", "REDIS_CLIENT_KEY"):
        if config.get(name) and not tls:
            raise ConfigError(f"{name} is set, but {url_name} is not a rediss:// URL: TLS is asked for by the URL")
