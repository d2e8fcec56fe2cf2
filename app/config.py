"""The reference app's settings: every variable it reads from the environment (and `.env`), each
named like the config key it fills.

The extension's settings are checked by the extension's own parsers (`parse_settings`); the app's
own (proxies, logs, metrics, Calendar) by app/env.py's. `python -m app.config` checks them all and
prints one line for the first bad one: gunicorn's master runs it before starting any worker.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from flask_google_signin import SETTING_NAMES, ConfigError, parse_settings

from . import env
from .env import (
    ROOT,
    boolean,
    check_required,
    choice,
    environment,
    http_url,
    int_at_least,
    log_level,
    parse_setting,
    port_or_off,
    read_dotenv,
)

__all__ = ["GOOGLE_CALENDAR_API_URL", "ROOT", "SETTINGS", "ConfigError", "check_required", "load_settings",
           "read_dotenv"]

GOOGLE_CALENDAR_API_URL = "https://www.googleapis.com/calendar/v3"

# The app's own settings: name -> (parser, default).
APP_SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "TRUSTED_PROXIES": (int_at_least(0), 0),
    "LOG_FORMAT": (choice("text", "json"), "text"),
    "LOG_LEVEL": (log_level, "INFO"),
    "LOG_PROBES": (boolean, False),  # log /healthz, /readyz and /metrics in gunicorn's access log (app/logs.py)
    "METRICS_PORT": (port_or_off, None),  # read by gunicorn.conf.py, which serves /metrics there
    "GOOGLE_CALENDAR_API_URL": (http_url, GOOGLE_CALENDAR_API_URL),
}
# Every variable the app reads for its config: the extension's settings, then the app's own.
SETTINGS: tuple[str, ...] = (*SETTING_NAMES, *APP_SETTINGS)


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults, then `.env`, then the process environment (which wins); every value checked."""
    if environ is None:
        environ = environment()
    settings = parse_settings({name: environ[name] for name in SETTING_NAMES if name in environ})
    try:
        for name, (parse, default) in APP_SETTINGS.items():
            settings[name] = parse_setting(name, environ.get(name), parse, default)
    except env.ConfigError as exc:  # one kind of error for the app's settings and the extension's
        raise ConfigError(str(exc)) from None
    return settings


def with_overrides(settings: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` updated by `overrides` (create_app's, in Python): the app's own settings given as
    text are parsed like the environment's; the extension parses its own when it starts."""
    try:
        parsed = {name: parse_setting(name, value, *APP_SETTINGS[name])
                  if name in APP_SETTINGS and isinstance(value, str) else value for name, value in overrides.items()}
    except env.ConfigError as exc:
        raise ConfigError(str(exc)) from None
    return {**settings, **parsed}


def main() -> int:
    """Check every setting once; one `error:` line and exit 4 (gunicorn's "App failed to load") if one is bad."""
    try:
        environ = environment()
        check_required(environ)
        load_settings(environ)
    except (ConfigError, env.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
