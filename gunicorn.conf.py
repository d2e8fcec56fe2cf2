"""gunicorn settings for `gunicorn -c gunicorn.conf.py wsgi:app`, the Docker image's command.

Every value comes from the environment, then `.env` (as the app reads it), so one image fits
every deployment. This file runs in the master process and must not import the app: code the
master imports is not reloaded by `kill -HUP`.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values


def read_env() -> dict[str, str]:
    """The process environment over `.env` (or ENV_FILE; empty means none), like app/config.py."""
    path = os.environ.get("ENV_FILE", str(Path(__file__).resolve().parent / ".env"))
    dotenv = dotenv_values(path) if path and os.path.isfile(path) else {}
    return {**{k: v for k, v in dotenv.items() if v is not None}, **os.environ}


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


class JsonLogFormatter(logging.Formatter):
    """gunicorn's own lines in the shape of app/logs.py's JsonFormatter: one JSON object a line.

    An access line carries the request id the app put in the X-Request-ID response header, and
    the path without its query string (/callback?code=... must never be logged).
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": "-",
        }
        atoms = record.args
        if record.name == "gunicorn.access" and isinstance(atoms, Mapping):
            entry.update(
                message=f"{atoms['m']} {atoms['U']} {atoms['s']}",
                request_id=atoms["{x-request-id}o"],
                method=atoms["m"],
                path=atoms["U"],
                status=int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
                bytes=atoms["b"],
                duration_ms=atoms["M"],
                remote_addr=atoms["h"],
                user_agent=atoms["a"],
            )
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


ENV = read_env()

bind = f"{ENV.get('HOST') or '0.0.0.0'}:{ENV.get('PORT') or '8000'}"  # noqa: S104 - a container listens beyond loopback
# gthread: a slow provider call holds one thread, not a whole worker. 2 x CPUs + 1, at most 8:
# each worker holds the app in memory (~50 MB).
workers = int(ENV.get("WEB_CONCURRENCY") or min(2 * available_cpus() + 1, 8))
threads = int(ENV.get("GUNICORN_THREADS") or 4)
worker_class = "gthread"
timeout = 30  # a request's provider calls are capped at PROVIDER_TIMEOUT (8 s) well before this
# On SIGTERM (docker stop) workers finish their requests for up to this long; Docker sends
# SIGKILL after 10 s, so stay under it (compose gives 15 s, Kubernetes 30 s).
graceful_timeout = int(ENV.get("GRACEFUL_TIMEOUT") or 9)
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
    """Check the required settings once, in the master: one line, not one per worker.

    app/config.py is loaded from its file under a private name, so the master still does not
    import the app package (see above).
    """
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("_startup_config", Path(__file__).resolve().parent / "app/config.py")
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    try:
        config.check_required(config.load_settings())
    except config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(4)
