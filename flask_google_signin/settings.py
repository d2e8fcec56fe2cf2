"""The extension's settings: one parser and one default per setting, read from the host's config.

The bottom layer: it imports nothing from the package. The extension's own settings are config
keys under `GOOGLE_SIGNIN_` (`GOOGLE_SIGNIN_ALLOWED_DOMAINS`); keys another library owns keep that
library's name and meaning (Flask's `SECRET_KEY` and `SESSION_COOKIE_NAME`, Authlib's
`GOOGLE_CLIENT_ID`, Flask-Session's `SESSION_TYPE`). Nothing is written back into the host's
config: defaults are applied when reading. A value may be text (from the environment) or a Python
value; either way it goes through the same parser, so a bad value fails at start-up with one line
naming the key.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import limits
from flask import current_app

GOOGLE_METADATA_URL = "https://accounts.google.com/.well-known/openid-configuration"
GIS_CLIENT_URL = "https://accounts.google.com/gsi/client"  # Google Identity Services' client script (One Tap)
GOOGLE_RISC_CONFIGURATION_URL = "https://accounts.google.com/.well-known/risc-configuration"
CLOUD_IDENTITY_URL = "https://cloudidentity.googleapis.com"  # the Cloud Identity Groups API (accounts/groups.py)
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


def text_list(value: str) -> list[str]:
    """Comma separated, kept as written, unlike comma_list's names: secret keys (which hold no comma),
    client ids and URLs are compared exactly, case included."""
    return [item.strip() for item in value.split(",") if item.strip()]


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


def web_url(value: str) -> str:
    """An absolute http(s) URL, such as a script's the pages load."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"expected an absolute https:// URL, got {value!r}")
    return value.strip()


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


PREFIX = "GOOGLE_SIGNIN_"
# Keys other libraries own, read under their own names.
FOREIGN = ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "SESSION_COOKIE_NAME", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET",
           "GOOGLE_SERVER_METADATA_URL", "SESSION_TYPE")

# name -> (parser, default): every setting, by its name without the prefix. Defaults are safe for
# production; None for a required one (REQUIRED) or one whose default is worked out (read_settings).
SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "SECRET_KEY": (str, None),
    "SECRET_KEY_FALLBACKS": (text_list, []),  # older keys, still accepted: a SECRET_KEY rotation (Flask's own)
    "SESSION_COOKIE_NAME": (str, "session"),
    "GOOGLE_CLIENT_ID": (str, None),
    "GOOGLE_CLIENT_SECRET": (str, None),
    "GOOGLE_SERVER_METADATA_URL": (str, GOOGLE_METADATA_URL),
    "SESSION_TYPE": (choice("cachelib", "redis"), "cachelib"),
    "GOOGLE_OFFLINE_ACCESS": (boolean, False),
    "PROVIDER_TIMEOUT": (seconds, 8.0),
    "SESSION_CACHELIB_DIR": (str, None),  # default: the app's instance folder + /sessions
    "REDIS_URL": (str, "redis://localhost:6379/0"),
    "REDIS_TIMEOUT": (seconds, 0.5),
    "REDIS_CA_CERT": (existing_file, ""),
    "REDIS_CLIENT_CERT": (existing_file, ""),
    "REDIS_CLIENT_KEY": (existing_file, ""),
    "REDIS_SENTINELS": (host_ports, []),
    "REDIS_SENTINEL_MASTER": (str, "mymaster"),
    "REDIS_CLUSTER_URL": (redis_url, ""),
    "IDLE_TIMEOUT": (int_at_least(1), 8 * 3600),
    "ABSOLUTE_TIMEOUT": (int_at_least(1), 7 * 24 * 3600),
    "EXPIRED_GRACE": (int_at_least(0), 3600),
    "COOKIE_SECURE": (boolean, None),  # default: Secure, except in debug and testing (read_settings)
    "ALLOWED_DOMAINS": (comma_list, []),
    "ALLOWED_EMAILS": (comma_list, []),
    "PUBLIC_BASE_URL": (str, ""),
    "LOGIN_RATE_LIMIT": (rate_limit, "20/minute"),
    "PENDING_SIGNINS_MAX": (int_at_least(1), 100_000),
    "RISC_CONFIGURATION_URL": (str, GOOGLE_RISC_CONFIGURATION_URL),
    "RISC_RATE_LIMIT": (rate_limit, "120/minute"),
    "SESSIONS_PAGE": (boolean, False),
    "RISC": (boolean, False),
    "METRICS": (boolean, False),
    "BASE_TEMPLATE": (str, ""),
    "ONE_TAP": (boolean, False),  # Google's One Tap prompt on pages with the sign-in button (web/one_tap.py)
    "ONE_TAP_AUTO_SELECT": (boolean, False),  # the prompt signs a returning user in without a click
    "GIS_CLIENT_URL": (web_url, GIS_CLIENT_URL),
    "BEARER_AUDIENCES": (text_list, []),  # empty: bearer ID tokens are not accepted anywhere
    # Google Workspace groups (accounts/groups.py, docs/groups.md)
    "ALLOWED_GROUPS": (comma_list, []),  # group emails: signing in needs membership of one of them
    "GROUPS_NESTED": (boolean, False),  # members of nested groups count (checkTransitiveMembership)
    "GROUPS_CREDENTIALS": (existing_file, ""),  # the service account's JSON key; empty: Application Default Credentials
    "GROUPS_TTL": (int_at_least(1), 300),  # seconds an answer is used without asking again
    "GROUPS_STALE": (int_at_least(0), 900),  # seconds past the TTL a session keeps its last answer while the API fails
    "CLOUD_IDENTITY_URL": (web_url, CLOUD_IDENTITY_URL),
}


def config_key(name: str) -> str:
    """The config key a setting is read from: its owner's name, or ours under GOOGLE_SIGNIN_."""
    return name if name in FOREIGN else PREFIX + name


SETTING_NAMES: tuple[str, ...] = tuple(config_key(name) for name in SETTINGS)


def parse_setting(name: str, raw: str | None, parse: Callable[[str], Any], default: Any) -> Any:
    """One setting from its text; unset (or empty, where there is a default) gives the default."""
    if raw is None or (raw == "" and default is not None):
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is invalid: {exc}") from None


def parse_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of SETTING_NAMES from `config` (text, as the environment has it, or Python
    values), checked, by config key; unset ones get their default (None where it is worked out at
    init_app). Raises ConfigError naming the first bad key."""
    return {config_key(name): value for name, value in _parse(config).items()}


def _parse(config: Mapping[str, Any]) -> dict[str, Any]:
    """The same, by each setting's name without the prefix, as the layers above read them."""
    found: dict[str, Any] = {}
    for name, (parse, default) in SETTINGS.items():
        key = config_key(name)
        value = config.get(key)
        found[name] = parse_setting(key, None if value is None else as_text(value), parse, default)
    return found


def read_settings(config: Mapping[str, Any], *, instance_path: str, debug_or_testing: bool) -> dict[str, Any]:
    """The settings a GoogleSignIn runs with, checked as a whole; the host's config is only read."""
    settings = _parse(config)
    check_required(settings)
    check_redis(settings)
    settings["SESSION_CACHELIB_DIR"] = settings["SESSION_CACHELIB_DIR"] or os.path.join(instance_path, "sessions")
    if settings["COOKIE_SECURE"] is None:  # unset: Secure, except where a developer serves plain http
        settings["COOKIE_SECURE"] = not debug_or_testing or bool(config.get("SESSION_COOKIE_SECURE"))
    # Worked out from the settings (lower case: no config key holds them):
    settings["cookie_name"] = cookie_prefix(settings["COOKIE_SECURE"], config) + settings["SESSION_COOKIE_NAME"]
    settings["public_host"] = public_host(settings["PUBLIC_BASE_URL"])
    return settings


def cookie_prefix(secure: bool, config: Mapping[str, Any]) -> str:
    """RFC 6265bis: a Secure cookie for the host alone (no Domain, Path=/) is `__Host-`, which a
    sibling subdomain can neither set nor shadow; with a Domain or another Path, `__Secure-`."""
    if not secure:
        return ""
    if config.get("SESSION_COOKIE_DOMAIN") or (config.get("SESSION_COOKIE_PATH") or "/") != "/":
        return "__Secure-"
    return "__Host-"


def public_host(base_url: str) -> str:
    """The Host a request to PUBLIC_BASE_URL carries ("" when unset): lower case, default port left out."""
    if not base_url:
        return ""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{config_key('PUBLIC_BASE_URL')} is invalid: expected https://host[:port], got {base_url!r}")
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def as_text(value: Any) -> str:
    """A value set in Python, as the environment would spell it."""
    if isinstance(value, timedelta):
        return str(int(value.total_seconds()))
    if isinstance(value, list | tuple | set):
        return ",".join(str(item) for item in value)
    return str(value)


def check_required(settings: Mapping[str, Any]) -> None:
    """Fail at start-up, naming the first missing secret, rather than at the first sign-in."""
    for name in REQUIRED:
        if not settings.get(name):
            raise ConfigError(f"{config_key(name)} is not set: add it to the app's config")


def check_redis(settings: Mapping[str, Any]) -> None:
    """The Redis settings that only make sense together (store/redis.py reads them)."""
    sentinels, cluster = settings.get("REDIS_SENTINELS"), settings.get("REDIS_CLUSTER_URL")
    sentinels_key, cluster_key = config_key("REDIS_SENTINELS"), config_key("REDIS_CLUSTER_URL")
    if sentinels and cluster:
        raise ConfigError(f"{sentinels_key} and {cluster_key} are both set: a Redis is either watched by "
                          "Sentinel or a Cluster, set only one")
    if (sentinels or cluster) and settings.get("SESSION_TYPE") != "redis":
        which = sentinels_key if sentinels else cluster_key
        raise ConfigError(f"{which} is set, but SESSION_TYPE is not redis: set SESSION_TYPE=redis to use it")
    if bool(settings.get("REDIS_CLIENT_CERT")) != bool(settings.get("REDIS_CLIENT_KEY")):
        raise ConfigError(f"{config_key('REDIS_CLIENT_CERT')} and {config_key('REDIS_CLIENT_KEY')} go together: "
                          "set both, or neither")
    url_name = "REDIS_CLUSTER_URL" if cluster else "REDIS_URL"
    tls = str(settings.get(url_name) or "").startswith("rediss://")
    for name in ("REDIS_CA_CERT", "REDIS_CLIENT_CERT", "REDIS_CLIENT_KEY"):
        if settings.get(name) and not tls:
            raise ConfigError(f"{config_key(name)} is set, but {config_key(url_name)} is not a rediss:// URL: "
                              "TLS is asked for by the URL")


def settings() -> dict[str, Any]:
    """The running app's settings, as read_settings found them at init_app."""
    found: dict[str, Any] = current_app.extensions["google_signin_settings"]
    return found
