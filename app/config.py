"""The reference app's settings: from the environment (and `.env`), each named like its config key."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from flask_google_signin.settings import (
    GOOGLE_METADATA_URL,
    ConfigError,
    boolean,
    check_required,
    choice,
    int_at_least,
    log_level,
    parse_setting,
)
from flask_google_signin.settings import SETTINGS as SIGNIN_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
__all__ = ["GOOGLE_METADATA_URL", "ROOT", "SETTINGS", "ConfigError", "check_required", "int_at_least", "load_settings",
           "parse_setting", "read_dotenv"]


def port_or_off(value: str) -> int | None:
    """A TCP port, or empty for none (METRICS_PORT: unset or empty serves no metrics)."""
    if not value.strip():
        return None
    port: int = int_at_least(1)(value.strip())
    if port > 65535:
        raise ValueError(f"expected a port from 1 to 65535, got {value!r}")
    return port


# The extension's settings, plus the app's own (proxies, logs, metrics). name -> (parser, default).
SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    **SIGNIN_SETTINGS,
    "TRUSTED_PROXIES": (int_at_least(0), 0),
    "LOG_FORMAT": (choice("text", "json"), "text"),
    "LOG_LEVEL": (log_level, "INFO"),
    "LOG_PROBES": (boolean, False),  # log /healthz, /readyz and /metrics in gunicorn's access log (app/logs.py)
    "METRICS_PORT": (port_or_off, None),  # read by gunicorn.conf.py, which serves /metrics there
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
