"""gunicorn settings for `gunicorn -c gunicorn.conf.py wsgi:app`, the Docker image's command.

Every value comes from the environment, then `.env` (as the app reads it), so one image fits
every deployment. This file runs in the master process and must not import the app package:
code the master imports is not reloaded by `kill -HUP` (see load_app_module).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import NoReturn

HERE = Path(__file__).resolve().parent


def load_app_module(name: str) -> ModuleType:
    """app/NAME.py loaded by its path under a private name, so the master keeps no module of the
    app package and `kill -HUP` still reloads all of the app's code in new workers.

    app/config.py imports the extension's settings (and so the `flask_google_signin` package):
    those modules are dropped from sys.modules again, so each worker imports the extension afresh.
    """
    spec = importlib.util.spec_from_file_location(f"_gunicorn_conf_{name}", HERE / "app" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for loaded in [m for m in sys.modules if m == "flask_google_signin" or m.startswith("flask_google_signin.")]:
        del sys.modules[loaded]
    return module


# Not `config`/`logs`: every top-level name here is read as a gunicorn setting, and `config` is one.
app_config = load_app_module("config")  # .env and the environment, read as the app reads them
app_logs = load_app_module("logs")  # the app's JSON log shape


def available_cpus() -> int:
    """CPUs we may use: the affinity mask, capped by a cgroup v2 quota (`docker run --cpus 2`).

    os.cpu_count() reports the host's CPUs, which in a container would start far too many workers.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


class JsonLogFormatter(app_logs.JsonFormatter):
    """gunicorn's own lines in the app's JSON shape. An access line carries the request id the app
    put in the X-Request-ID response header, and the path without its query string
    (/callback?code=... must never be logged)."""

    def fields(self, record: logging.LogRecord) -> dict:
        atoms = record.args
        if record.name != "gunicorn.access" or not isinstance(atoms, Mapping):
            return super().fields(record)
        return {
            "message": f"{atoms['m']} {atoms['U']} {atoms['s']}",
            "request_id": atoms["{x-request-id}o"],
            "method": atoms["m"],
            "path": atoms["U"],
            "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
            "bytes": atoms["b"],
            "duration_ms": atoms["M"],
            "remote_addr": atoms["h"],
            "user_agent": atoms["a"],
        }


ENV = {**app_config.read_dotenv(), **os.environ}


def stop(exc: Exception) -> NoReturn:
    """A bad setting stops the master with one line and exit 4, as wsgi.py does: no traceback."""
    print(f"error: {exc}", file=sys.stderr, flush=True)
    sys.exit(4)


def server_int(name: str, default: int, minimum: int) -> int:
    """One of gunicorn's numbers from ENV, read like the app's settings. Checked here, at import:
    `int()` would fail with a traceback, and `0` workers or threads would start a server that never answers."""
    try:
        return app_config.parse_setting(name, ENV.get(name), app_config.int_at_least(minimum), default)
    except app_config.ConfigError as exc:
        stop(exc)


bind = f"{ENV.get('HOST') or '0.0.0.0'}:{ENV.get('PORT') or '8000'}"  # noqa: S104 - a container listens beyond loopback
# gthread: a slow provider call holds one thread, not a whole worker. 2 x CPUs + 1, at most 8:
# each worker holds the app in memory (~50 MB).
workers = server_int("WEB_CONCURRENCY", min(2 * available_cpus() + 1, 8), minimum=1)
threads = server_int("GUNICORN_THREADS", 4, minimum=1)
worker_class = "gthread"
timeout = 30  # a request's provider calls are capped at PROVIDER_TIMEOUT (8 s) well before this
# On SIGTERM (docker stop) workers finish their requests for up to this long; Docker sends
# SIGKILL after 10 s, so stay under it (compose gives 15 s, Kubernetes 30 s).
graceful_timeout = server_int("GRACEFUL_TIMEOUT", 9, minimum=0)
keepalive = 5
# Heartbeat files on tmpfs: a container's /tmp may be a slow overlay that stalls workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's documented choice
# No `gunicornc` control socket: by default it lives at ~/.gunicorn/gunicorn.ctl, which the image's
# user has no home for and which two instances on one machine (tests, `make run`) would share.
control_socket_disable = True

# Which peers may set X-Forwarded-Proto for gunicorn itself: none unless the operator says so
# (a proxy's address, or * when only the proxy can reach this port). The app's own proxy trust
# is TRUSTED_PROXIES (werkzeug ProxyFix); set both for the same proxies (docs/deployment.md).
forwarded_allow_ips = ENV.get("FORWARDED_ALLOW_IPS", "")

accesslog = "-"  # stdout
errorlog = "-"  # stderr
# %(U)s is the path without its query string: /callback?code=...&state=... must never be logged.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'

if ENV.get("LOG_FORMAT") == "json":
    # gunicorn's lines as JSON too, so every line on stdout/stderr parses. The root logger gets
    # no handler here: the app adds its own (app/logs.py), and a second would print lines twice.
    logconfig_dict = {
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
        "handlers": {
            "error": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
        },
        "formatters": {"json": {"()": JsonLogFormatter}},
    }


def on_starting(server: object) -> None:
    """Check the required settings once, in the master: one line, not one per worker."""
    try:
        app_config.check_required(app_config.load_settings())
    except app_config.ConfigError as exc:
        stop(exc)
