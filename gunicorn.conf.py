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
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from gunicorn.workers import gthread

HERE = Path(__file__).resolve().parent


def load_app_module(name: str) -> ModuleType:
    """app/NAME.py loaded by its path under a private name, so the master keeps no module of the
    app package and `kill -HUP` still reloads all of the app's code in new workers. Only modules
    that import neither the app package nor the extension are loaded so (env.py, logs.py)."""
    spec = importlib.util.spec_from_file_location(f"_gunicorn_conf_{name}", HERE / "app" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Not `env`/`logs`: every top-level name here is read as a gunicorn setting.
app_env = load_app_module("env")  # .env and the environment, read as the app reads them
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

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_data, record, message_dict)
        atoms = record.args
        if record.name != "gunicorn.access" or not isinstance(atoms, Mapping):
            return
        log_data |= {
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


ENV = app_env.environment()


def stop(exc: Exception) -> NoReturn:
    """A bad setting stops the master with one line and exit 4, as wsgi.py does: no traceback."""
    print(f"error: {exc}", file=sys.stderr, flush=True)
    sys.exit(4)


def server_int(name: str, default: int, minimum: int) -> int:
    """One of gunicorn's numbers from ENV, read like the app's settings. Checked here, at import:
    `int()` would fail with a traceback, and `0` workers or threads would start a server that never answers."""
    try:
        return app_env.parse_setting(name, ENV.get(name), app_env.int_at_least(minimum), default)
    except app_env.ConfigError as exc:
        stop(exc)


bind = f"{ENV.get('HOST') or '0.0.0.0'}:{ENV.get('PORT') or '8000'}"  # noqa: S104 - a container listens beyond loopback
# gthread: a slow provider call holds one thread, not a whole worker. 2 x CPUs + 1, at most 8:
# each worker holds the app in memory (~50 MB).
workers = server_int("WEB_CONCURRENCY", min(2 * available_cpus() + 1, 8), minimum=1)
threads = server_int("GUNICORN_THREADS", 4, minimum=1)


class ThreadWorker(gthread.ThreadWorker):
    """gunicorn's gthread worker, made to stop without losing a request. A worker stops on SIGTERM,
    which the master sends to every worker on `docker stop`, and to the old ones on `kill -HUP`.

    - It closes its copy of the listening socket as soon as it stops accepting (after accepting the
      connections already waiting there), not when it exits. After the master's SIGTERM nothing
      listens any more: a new connection is refused at once (a load balancer tries another
      instance) instead of waiting in the backlog to be reset. After `kill -HUP` the master and the
      new workers still listen on the same socket: clients notice nothing.
    - It keeps each idle keep-alive connection until its keep-alive timeout (`keepalive`, 5 s after
      its last response), not gunicorn's 2 s (gthread.STOP_KEEPALIVE_LINGER): a request sent on it
      meanwhile is answered, with `Connection: close`. Closing an idle connection races with a
      client sending on it at that moment; so a reload closes none sooner than `keepalive` would.
    - It closes them all 2 s before GRACEFUL_TIMEOUT at the latest, and so exits by itself, never by
      the master's SIGKILL (which gunicorn logs as an error), once its requests are answered.
    tests/system/test_reload.py tests each, and the gthread internals they rely on.
    """

    linger_until = math.inf  # when stopping: idle keep-alive connections close by then

    def run(self) -> None:
        gthread.STOP_KEEPALIVE_LINGER = self.cfg.keepalive  # read by run() and finish_request(); this process only
        super().run()

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if enabled or self.alive:  # not stopping: full (worker_connections), as gthread has it
            return
        self.linger_until = time.monotonic() + max(self.cfg.graceful_timeout - 2, 0)
        for listener in self.sockets:
            while self.nr_conns < self.worker_connections and select.select([listener], [], [], 0)[0]:
                self.accept(listener)  # answered with `Connection: close`, as on any stopping worker
            listener.close()

    def murder_keepalived(self, force: bool = False) -> None:
        super().murder_keepalived(force or time.monotonic() >= self.linger_until)


worker_class = ThreadWorker
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
# %(t)s: [01/Dec/2026:06:27:22 +0000], the Common Log Format's time. /healthz, /readyz and /metrics
# are left out unless LOG_PROBES=true: app/logs.py puts its filter on gunicorn's access logger.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'

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
    """Check every setting once, before any worker starts: one line, not one per worker. In a child
    process (`python -m app.check`), so that the master imports none of the code HUP reloads."""
    check = subprocess.run([sys.executable, "-m", "app.check"], cwd=HERE, capture_output=True, text=True,
                           check=False)
    if check.returncode:
        print(check.stderr.strip(), file=sys.stderr, flush=True)
        sys.exit(4)


# --------------------------------------------------------------------------- metrics (METRICS_PORT)
# Prometheus text at http://HOST:METRICS_PORT/metrics, served by this master (a thread of
# prometheus_client's own server, which logs nothing: scrapes never reach gunicorn's access log)
# and summed over every worker with prometheus_client's multiprocess mode: each worker writes its
# counts to files in PROMETHEUS_MULTIPROC_DIR, a fresh folder per start, removed at exit. Read at
# start only: `kill -HUP` keeps the metrics server as it is. Unset: no metrics port, no folder.


def metrics_port() -> int | None:
    """METRICS_PORT, read like the app's settings, and never the app's own port."""
    try:
        port: int | None = app_env.parse_setting("METRICS_PORT", ENV.get("METRICS_PORT"), app_env.port_or_off, None)
        if port is not None and str(port) == (ENV.get("PORT") or "8000").strip():
            raise app_env.ConfigError("METRICS_PORT is invalid: it is PORT; metrics need a port of their own")
    except app_env.ConfigError as exc:
        stop(exc)
    return port


METRICS_PORT = metrics_port()


def when_ready(server: Any) -> None:
    """The app's port is bound and no worker is forked yet: the moment to start metrics."""
    start_metrics(server)


def start_metrics(server: Any) -> None:
    """PROMETHEUS_MULTIPROC_DIR set before this process (and so the workers it forks) imports
    prometheus_client, then /metrics served from the workers' files."""
    for name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        os.environ.pop(name, None)  # only a folder of ours: a stale one would add old counts in
    if METRICS_PORT is None:
        return
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gunicorn-metrics-", dir=worker_tmp_dir)
    from prometheus_client import CollectorRegistry, start_http_server, values
    from prometheus_client.multiprocess import MultiProcessCollector

    if values.ValueClass is getattr(values, "MutexValue", None):  # imported before the folder was set: no sums
        remove_metrics_folder()
        stop(RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set"))
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    host = ENV.get("METRICS_HOST") or "127.0.0.1"  # private unless the operator says where a scraper reaches it
    try:
        start_http_server(METRICS_PORT, addr=host, registry=registry)
    except OSError as exc:
        remove_metrics_folder()
        stop(app_env.ConfigError(f"METRICS_PORT is invalid: cannot listen on {host}:{METRICS_PORT} ({exc})"))
    server.log.info("Metrics at http://%s:%s/metrics", host, METRICS_PORT)


def child_exit(server: Any, worker: Any) -> None:
    """prometheus_client's gunicorn recipe: a dead worker's live gauges go; its counts stay in the sums."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    remove_metrics_folder()


def remove_metrics_folder() -> None:
    folder = os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
