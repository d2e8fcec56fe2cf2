"""`make bench`, part 2: a host page that uses `current_user` while signed in, against what a Flask
developer would use instead (issue "Drop into any Flask app").

The same small page (bench/hosts.py: name, email, a sign-out form with its CSRF token), served by

    bare          Flask with constants, no session (the floor)
    flask_login   Flask-Login on Flask's signed-cookie session, Flask-WTF's generate_csrf()
    files         a host with GoogleSignIn, SESSION_TYPE=cachelib
    redis         a host with GoogleSignIn, SESSION_TYPE=redis (a private redis-server)

measured two ways, each in interleaved rounds (the order rotated every round):

1. in one process, through Flask's test client (no server, one thread: the steadier figures on a busy
   machine): blocks of --block-requests GETs per app with the same signed-in cookie, CPU per request
   by time.process_time() (the Redis client's side included, redis-server's not); median of the blocks;
2. under gunicorn, one server per app, `gunicorn -w 1 -k gthread --threads 1` (one worker, one
   thread: its CPU is the app's alone and no GIL is shared; gthread, the reference app's worker class,
   keeps connections alive, where the sync worker would add a TCP accept and close per request; no
   access log), loaded with a fixed number of requests per sample by a keep-alive Python client
   (fixed_load; wrk, which bench/run.py prefers, runs for a time rather than a count, and only the
   server's CPU is read here, so the client's own cost does not enter the figures); server CPU per
   request from /proc (gunicorn master + worker, bench/run.py's cpu_seconds), and
   redis-server's CPU beside it; median of the rounds.

Ratios are the extension's host ÷ Flask-Login's, and µs above the bare page, both from the medians,
with the spread of the same quantity paired within each block or round. Targets: at most 1.0 x Flask-Login
with files, 1.1 x with Redis; ≤ 250 µs (files) and ≤ 350 µs (Redis) above the bare page.
Every response is checked: 200, the user's name and email, a non-empty token, no Set-Cookie.

    python bench/host_run.py [--parts inprocess,gunicorn] [--stores files,redis]
                             [--blocks 24] [--block-requests 500] [--rounds 10] [--requests 1500]
                             [--connections 4] [--profile 2000]
    python bench/host_run.py --pool bench/results/hosts-A.json bench/results/hosts-B.json ...

--profile N: also where the time goes, in one process: cProfile over N requests of Flask-Login's host
and each extension host (the top functions and the cumulative time of the known parts; the full
listings go to bench/results/hosts-profile-<host>-<time>.txt), then the same parts timed in place
without a profiler (InPlace), for every host. `make bench` runs it with --profile 2000.

--pool: no measurement; the samples of earlier runs' JSON files as one set (each run's samples stay
paired with the same run's), for figures that no single run on a busy machine can give.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import http.client
import io
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "scripts"))
import launch  # noqa: E402  (scripts/launch.py)

from bench import hosts  # noqa: E402
from bench.run import RESULTS, cpu_seconds, machine  # noqa: E402

BIN = Path(sys.executable).parent
# Host ÷ Flask-Login at most, and µs above the bare page at most, per store.
TARGETS = {"files": (1.0, 250.0), "redis": (1.1, 350.0)}
TOKEN = re.compile(rb'name="csrf_token" value="([^"]+)"')


def check_page(name: str, status: int, body: bytes, set_cookie: str | None) -> None:
    """The page every host must answer: 200, the user, a token, and no new cookie (nothing written)."""
    problems = []
    if status != 200:
        problems.append(f"status {status}")
    if hosts.NAME.encode() not in body or hosts.EMAIL.encode() not in body:
        problems.append("no name or email")
    if not TOKEN.search(body):
        problems.append("no CSRF token")
    if set_cookie:
        problems.append(f"Set-Cookie {set_cookie[:60]}")
    if problems:
        raise SystemExit(f"error: {name} /page: {', '.join(problems)}")


def summarize(times: dict[str, list[float]], stores: list[str]) -> dict:
    """Medians per app (µs/request); per store, host ÷ Flask-Login and µs above bare from the medians,
    and the same paired within each block or round (the apps of one round ran within seconds)."""
    out: dict = {"median_us": {name: statistics.median(values) for name, values in times.items()},
                 "samples_us": {name: [round(v, 1) for v in values] for name, values in times.items()}}
    med = out["median_us"]
    for store in stores:
        paired_ratio = [e / f for e, f in zip(times[store], times["flask_login"], strict=True)]
        paired_above = [e - b for e, b in zip(times[store], times["bare"], strict=True)]
        ratio, above = med[store] / med["flask_login"], med[store] - med["bare"]
        max_ratio, max_above = TARGETS[store]
        out[store] = {"ratio_to_flask_login": ratio, "us_above_bare": above,
                      "flask_login_us_above_bare": med["flask_login"] - med["bare"],
                      "paired_ratios": [round(r, 3) for r in paired_ratio],
                      "paired_us_above_bare": [round(a, 1) for a in paired_above],
                      "paired_ratio_median": statistics.median(paired_ratio),
                      "best_ratio": min(times[store]) / min(times["flask_login"]),
                      "best_us_above_bare": min(times[store]) - min(times["bare"]),
                      "paired_us_above_bare_median": statistics.median(paired_above),
                      "ratio_met": ratio <= max_ratio, "above_met": above <= max_above}
    return out


def spread(values: list[float], fmt: str) -> str:
    """The median, the quartiles and the range."""
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return (f"{fmt.format(statistics.median(values))} (IQR {fmt.format(q[0])}–{fmt.format(q[2])}, "
            f"{fmt.format(min(values))}–{fmt.format(max(values))})")


def verdict(met: bool) -> str:
    return "ok" if met else "MISSED"


def table(title: str, result: dict, stores: list[str], extra: dict[str, list[float]] | None = None) -> str:
    med = result["median_us"]
    rows = [f"{title}", "",
            "| app | CPU/request: median (IQR, range) of the samples |", "|---|---|"]
    for name in ("bare", "flask_login", *stores):
        line = f"| {name} | {spread(result['samples_us'][name], '{:.0f}')} µs |"
        if extra and name in extra:
            line = line[:-1] + f"+ redis-server {statistics.median(extra[name]):.0f} µs |"
        rows.append(line)
    rows += ["", "| store | host ÷ Flask-Login, of the medians (target) | paired in each sample: median (IQR, range) "
             "| of the best samples | µs above bare, of the medians (target) | paired in each sample "
             "| of the best samples | Flask-Login above bare |",
             "|---|---:|---|---:|---:|---|---:|---:|"]
    for store in stores:
        r = result[store]
        max_ratio, max_above = TARGETS[store]
        rows.append(
            f"| {store} | **{r['ratio_to_flask_login']:.2f}** (≤ {max_ratio:.1f}, {verdict(r['ratio_met'])}) "
            f"| {spread(r['paired_ratios'], '{:.2f}')} | {r['best_ratio']:.2f} "
            f"| **{r['us_above_bare']:.0f}** (≤ {max_above:.0f}, {verdict(r['above_met'])}) "
            f"| {spread(r['paired_us_above_bare'], '{:.0f}')} | {r['best_us_above_bare']:.0f} "
            f"| {med['flask_login'] - med['bare']:.0f} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- 1. in one process


def build_apps(stores: list[str]) -> tuple[dict, dict]:
    """Every host, and the request headers that sign each in (the same cookie on every request)."""
    apps, headers = {}, {}
    for name in ("bare", "flask_login", *stores):
        app = hosts.build(name)
        cookie = hosts.signed_in_cookie(app)
        apps[name] = app
        headers[name] = {"User-Agent": hosts.UA, **({"Cookie": f"session={cookie}"} if cookie else {})}
    return apps, headers


def cpu_per_request(client, headers: dict, n: int) -> float:
    """µs of this process's CPU per GET /page."""
    started = time.process_time()
    for _ in range(n):
        response = client.get("/page", headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"/page answered {response.status_code}")
    return (time.process_time() - started) / n * 1e6


def in_process(stores: list[str], args: argparse.Namespace) -> dict:
    apps, headers = build_apps(stores)
    clients = {name: app.test_client(use_cookies=False) for name, app in apps.items()}
    for name, client in clients.items():
        response = client.get("/page", headers=headers[name])
        check_page(name, response.status_code, response.data, response.headers.get("Set-Cookie"))
        cpu_per_request(client, headers[name], 300)  # warm: templates compiled, caches filled
    names = list(apps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for block in range(args.blocks):
        order = names[block % len(names):] + names[:block % len(names)]
        if block // len(names) % 2:
            order.reverse()
        for name in order:
            gc.collect()  # one app's garbage is not collected in another's block
            times[name].append(cpu_per_request(clients[name], headers[name], args.block_requests))
        print(f"  in-process block {block + 1:2}/{args.blocks}  "
              + "  ".join(f"{n} {times[n][-1]:6.0f} µs" for n in names), flush=True)
    for name, client in clients.items():  # the session was not lost, nor changed, meanwhile
        response = client.get("/page", headers=headers[name])
        check_page(name, response.status_code, response.data, response.headers.get("Set-Cookie"))
    return summarize(times, stores)


# --------------------------------------------------------------------------- 2. under gunicorn


class HostServer:
    """`gunicorn -w 1 -k gthread --threads 1 bench.hosts:NAME_app` on a free loopback port."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.port = launch.free_port()
        executable = shutil.which("gunicorn", path=str(BIN)) or "gunicorn"
        # Started from `workdir`, not ROOT: gunicorn would read ROOT's gunicorn.conf.py (the reference
        # app's) by default. --chdir puts ROOT first on the worker's sys.path, for this tree's package.
        self.argv = [executable, "-w", "1", "-k", "gthread", "--threads", "1", "--keep-alive", "5",
                     "-b", f"127.0.0.1:{self.port}", "--chdir", str(ROOT), f"bench.hosts:{name}_app"]
        self.log = open(log_path, "w")
        clean = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")}
        self.process = subprocess.Popen(self.argv, cwd=log_path.parent, env={**clean, **env}, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                self.log.close()
                raise RuntimeError(f"gunicorn exited: {' '.join(self.argv)}\n{log_path.read_text()}")
            try:
                self.get({"User-Agent": hosts.UA})
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"gunicorn did not answer: {log_path.read_text()}") from None
                time.sleep(0.1)

    def get(self, headers: dict) -> tuple[int, bytes, str | None]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/page", headers=headers)
            response = conn.getresponse()
            return response.status, response.read(), response.getheader("Set-Cookie")
        finally:
            conn.close()

    def stop(self) -> None:
        launch.stop(self.process)
        self.log.close()


def fixed_load(port: int, headers: dict, n: int, connections: int) -> dict:
    """Exactly n GET /page over `connections` keep-alive connections (a thread each); counts what is not 200."""
    counts = {"ok": 0, "bad": 0, "errors": 0}
    lock = threading.Lock()

    def loop(quota: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        ok = bad = errors = 0
        for _ in range(quota):
            try:
                conn.request("GET", "/page", headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    ok += 1
                else:
                    bad += 1
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.close()
        with lock:
            counts["ok"] += ok
            counts["bad"] += bad
            counts["errors"] += errors

    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(n // connections + (i < n % connections),))
               for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts["rps"] = n / (time.monotonic() - started)
    return counts


def under_gunicorn(stores: list[str], args: argparse.Namespace, env: dict[str, str], workdir: Path,
                   redis_pid: int | None) -> dict:
    _, headers = build_apps(stores)  # the cookies, made in this process into the same stores
    servers: dict[str, HostServer] = {}
    try:
        for name in headers:
            servers[name] = HostServer(name, env, workdir / f"gunicorn-{name}.log")
        for name, server in servers.items():
            check_page(name, *server.get(headers[name]))
            fixed_load(server.port, headers[name], 300, args.connections)  # warm
        names = list(servers)
        times: dict[str, list[float]] = {name: [] for name in names}
        redis_times: dict[str, list[float]] = {store: [] for store in stores if store == "redis" and redis_pid}
        rps: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            order = names[round_ % len(names):] + names[:round_ % len(names)]
            if round_ // len(names) % 2:
                order.reverse()
            for name in order:
                server = servers[name]
                before = cpu_seconds(server.process.pid)
                redis_before = cpu_seconds(redis_pid) if name in redis_times else 0.0
                sample = fixed_load(server.port, headers[name], args.requests, args.connections)
                used = cpu_seconds(server.process.pid) - before
                if sample["bad"] or sample["errors"]:
                    raise SystemExit(f"error: {name} answered {sample['bad']} non-200 and {sample['errors']} "
                                     f"socket errors; see {workdir}")
                times[name].append(used / args.requests * 1e6)
                rps[name].append(sample["rps"])
                if name in redis_times:
                    redis_times[name].append((cpu_seconds(redis_pid) - redis_before) / args.requests * 1e6)
            print(f"  gunicorn round {round_ + 1:2}/{args.rounds}  "
                  + "  ".join(f"{n} {times[n][-1]:6.0f} µs" for n in names), flush=True)
        for name, server in servers.items():
            check_page(name, *server.get(headers[name]))
    finally:
        for server in servers.values():
            server.stop()
    result = summarize(times, stores)
    result["rps_median"] = {name: statistics.median(values) for name, values in rps.items()}
    result["redis_server_us"] = {name: [round(v, 1) for v in values] for name, values in redis_times.items()}
    return result


# --------------------------------------------------------------------------- where the time goes

# (label, file part, function name): cumulative time of these, per request, from the profile.
BUCKETS = (
    ("whole request (test client included)", "werkzeug/test.py", "open"),
    ("Flask's wsgi_app", "flask/app.py", "wsgi_app"),
    ("session open (SealedSessions.open_session)", "sessions/interface.py", "open_session"),
    ("  Flask-Session's open_session", "flask_session/base.py", "open_session"),
    ("    store read, files (FolderRecords.get)", "store/files.py", "get"),
    ("    store read, Redis (RedisRecords.get)", "store/redis.py", "get"),
    ("    metrics timing around it (TimedRecords._timed)", "store/timed.py", "_timed"),
    ("    HKDF key (Sealer.key)", "store/sealing.py", "key"),
    ("    AES-GCM open + msgspec (Sealer.open)", "store/sealing.py", "open"),
    ("session save (SealedSessions.save_session)", "sessions/interface.py", "save_session"),
    ("guard (load_identity)", "web/guard.py", "load_identity"),
    ("  user_loader / session_end", "sessions/interface.py", "session_end"),
    ("login_required", "web/guard.py", "wrapper"),
    ("render_template", "flask/templating.py", "render_template"),
    ("  CSRF token (HMAC)", "web/csrf.py", "csrf_token"),
    ("  context processors", "flask/app.py", "update_template_context"),
    ("Flask-Login: _load_user", "flask_login/login_manager.py", "_load_user"),
    ("Flask-Login: signed-cookie open", "flask/sessions.py", "open_session"),
    ("Flask-Login: signed-cookie save", "flask/sessions.py", "save_session"),
    ("Flask-WTF: generate_csrf", "flask_wtf/csrf.py", "generate_csrf"),
    ("Flask-Login: login_required", "flask_login/utils.py", "decorated_view"),
)


def bucket_times(stats: pstats.Stats, n: int) -> list[tuple[str, float, int]]:
    """(label, µs/request cumulative, calls/request) for each BUCKETS entry found in the profile."""
    found = []
    for label, part, func in BUCKETS:
        cum, calls = 0.0, 0
        for (filename, _, name), (_, ncalls, _, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
            if name == func and part in filename.replace(os.sep, "/"):
                cum += ct
                calls += ncalls
        if calls:
            found.append((label, cum / n * 1e6, round(calls / n)))
    return found


class InPlace:
    """Inclusive time of chosen functions inside real requests, by wrapping them where they are
    looked up (a class attribute, a module global, a registered hook), then putting them back.

    Unlike timing a function alone in a loop, this keeps the caches as cold as a whole request leaves
    them (a part costs about twice as much in a request as in a tight loop of its own). The clock is
    time.perf_counter (a wrapper costs well under 0.1 µs; process_time() is a system call of about
    1 µs here, which would swamp the small parts): wall time of one thread, so CPU time except where
    the request waits (the Redis round trip also counts redis-server's answer) or is preempted.
    """

    def __init__(self, clock=time.perf_counter) -> None:
        self.clock = clock
        self.totals: dict[str, float] = {}
        self.undo: list = []

    def timer(self, label: str, fn):
        totals, clock = self.totals, self.clock

        def timed(*args, **kwargs):
            started = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + clock() - started

        return timed

    def attribute(self, owner, name: str, label: str) -> None:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, self.timer(label, original))
        self.undo.append(lambda: setattr(owner, name, original))

    def item(self, container, key, label: str) -> None:
        original = container[key]
        container[key] = self.timer(label, original)
        self.undo.append(lambda: container.__setitem__(key, original))

    def restore(self) -> None:
        while self.undo:
            self.undo.pop()()

    def run(self, apps: dict, headers: dict, n: int, whole: str) -> dict[str, dict[str, float]]:
        """n GET /page per host, warm; {label: {host: µs per request}}, `whole` by process_time."""
        parts: dict[str, dict[str, float]] = {}
        for name, app in apps.items():
            client = app.test_client(use_cookies=False)
            for _ in range(200):
                client.get("/page", headers=headers[name])
            self.totals.clear()
            gc.collect()
            started = time.process_time()
            for _ in range(n):
                client.get("/page", headers=headers[name])
            parts.setdefault(whole, {})[name] = (time.process_time() - started) / n * 1e6
            for label, total in self.totals.items():
                parts.setdefault(label, {})[name] = total / n * 1e6
        return parts


WHOLE = "whole request, test client included (CPU)"


def timed_in_place(apps: dict, headers: dict, n: int) -> dict[str, dict[str, float]]:
    """{part: {host: µs per request}}: the phases of a Flask request and the parts of the session,
    identity, token and page work inside them, then the store read's CPU alone (process_time)."""
    import flask.ctx
    import flask_login
    import flask_session.base
    import flask_wtf.csrf
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    from flask_google_signin.sessions.interface import SealedSessions
    from flask_google_signin.store import Sealer
    from flask_google_signin.store.files import FolderRecords
    from flask_google_signin.store.redis import RedisRecords
    from flask_google_signin.store.timed import TimedRecords
    from flask_google_signin.web import guard

    ctx = flask.ctx.RequestContext
    tree = [  # (owner, attribute or None for a hook found per app, label): in the order printed
        (Flask, "wsgi_app", "Flask.wsgi_app: the request in Flask"),
        (Flask, "request_context", "  Request object built"),
        (ctx, "push", "  context push: session open + URL match"),
        (SecureCookieSessionInterface, "open_session", "    Flask's signed-cookie session open"),
        (SealedSessions, "open_session", "    SealedSessions.open_session"),
        (flask_session.base.ServerSideSessionInterface, "open_session", "      Flask-Session's open_session"),
        (TimedRecords, "get", "        store read, with its metrics timer (TimedRecords.get)"),
        (FolderRecords, "get", "          FolderRecords.get: open, flock, read"),
        (RedisRecords, "get", "          RedisRecords.get: one GET round trip"),
        (Sealer, "key", "        HKDF key derivation (Sealer.key)"),
        (Sealer, "open", "        AES-GCM open + JSON decode (Sealer.open)"),
        (Flask, "preprocess_request", "  before_request functions"),
        (guard, None, "    load_identity (the guard; user_loader)"),
        (Flask, "dispatch_request", "  the view: login_required, render_template"),
        (flask_login.LoginManager, "_load_user", "    Flask-Login _load_user (user_loader, session protection)"),
        (hosts, "render_template", "    render_template(page.html)"),
        (Flask, "update_template_context", "      template context processors"),
        (None, None, "      google_signin_csrf_token()"),
        (None, None, "      Flask-WTF generate_csrf()"),
        (Flask, "finalize_request", "  make_response + process_response"),
        (Flask, "process_response", "    process_response: after_request, session save"),
        (SecureCookieSessionInterface, "save_session", "      Flask's signed-cookie session save"),
        (SealedSessions, "save_session", "      SealedSessions.save_session"),
        (ctx, "pop", "  context pop: teardown"),
    ]
    places = InPlace()
    try:
        for owner, name, label in tree:
            if owner is not None and name is not None:
                places.attribute(owner, name, label)
        # CSRFProtect's csrf_token(): a context processor's lambda that looks generate_csrf up in its module
        places.attribute(flask_wtf.csrf, "generate_csrf", tree[18][2])
        for app in apps.values():
            hooks = app.before_request_funcs.get(None, [])
            for i, hook in enumerate(hooks):
                if hook is guard.load_identity:
                    places.item(hooks, i, tree[12][2])
            for processor in app.template_context_processors.get(None, []):
                values = processor()
                if "google_signin_csrf_token" in values:  # the extension's: the same dict every time
                    places.item(values, "google_signin_csrf_token", tree[17][2])
        parts = places.run(apps, headers, n, WHOLE)
    finally:
        places.restore()
    cpu = InPlace(time.process_time)  # one wrapper only: its system calls barely weigh
    try:
        cpu.attribute(TimedRecords, "get", "store read alone, CPU (process_time)")
        stores = {name: app for name, app in apps.items() if name in TARGETS}
        for label, by_host in cpu.run(stores, headers, n, WHOLE + ", again").items():
            parts.setdefault(label, {}).update(by_host)
    finally:
        cpu.restore()
    order = [WHOLE, *(label for _, _, label in tree), "store read alone, CPU (process_time)", WHOLE + ", again"]
    return {label: parts[label] for label in order if label in parts}


def components_table(parts: dict[str, dict[str, float]], names: list[str]) -> str:
    rows = ["| GET /page | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for part, by_host in parts.items():
        rows.append(f"| {part} | " + " | ".join(f"{by_host[n]:.1f}" if n in by_host else "" for n in names) + " |")
    return "\n".join(rows)


def profile(stores: list[str], n: int, stamp: str) -> dict:
    apps, headers = build_apps(stores)
    out = {}
    for name in ("flask_login", *stores):
        client = apps[name].test_client(use_cookies=False)
        cpu_per_request(client, headers[name], 300)
        gc.collect()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(n):
            client.get("/page", headers=headers[name])
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        total = stats.total_tt / n * 1e6  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
        RESULTS.mkdir(parents=True, exist_ok=True)
        listing = RESULTS / f"hosts-profile-{name}-{stamp}.txt"
        listing.write_text(text.getvalue())
        buckets = bucket_times(stats, n)
        top = sorted(((ct, tt, f"{Path(fn).name}:{line}({fname})")
                      for (fn, line, fname), (_, _, tt, ct, _) in stats.stats.items()),  # type: ignore[attr-defined]
                     key=lambda item: -item[1])[:15]
        print(f"\n{name}: {total:.0f} µs/request under cProfile ({n} requests); cumulative, µs/request:")
        for label, us, calls in buckets:
            print(f"  {label:46} {us:7.1f}  ({us / total:5.1%}, {calls}×)")
        print("  top by own time (tottime), µs/request:")
        for _, tt, where in top:
            print(f"    {tt / n * 1e6:6.1f}  {where}")
        print(f"  full listing: {listing.relative_to(ROOT)}")
        out[name] = {"total_us": total, "buckets": [{"label": label, "us": us, "calls": calls}
                                                    for label, us, calls in buckets],
                     "top_tottime": [{"where": where, "us": tt / n * 1e6} for _, tt, where in top],
                     "listing": str(listing.relative_to(ROOT))}
    print(f"\nTimed in place, without a profiler (µs per request, {n} requests per host; each part "
          "includes the parts indented under it; perf_counter in one thread, see InPlace):\n")
    parts = timed_in_place(apps, headers, n)
    print(components_table(parts, list(apps)))
    out["in_place_us"] = parts
    return out


# --------------------------------------------------------------------------- the run


def pool(paths: list[str]) -> int:
    """The samples of several runs as one: each run's blocks or rounds stay paired within that run."""
    runs = [json.loads(Path(path).read_text()) for path in paths]
    for part, title in (("inprocess", "In one process"), ("gunicorn", "Under gunicorn")):
        found = [run["results"][part] for run in runs if part in run["results"]]
        if not found:
            continue
        stores = [store for store in TARGETS if all(store in result for result in found)]
        times: dict[str, list[float]] = {}
        for result in found:
            for name, samples in result["samples_us"].items():
                times.setdefault(name, []).extend(samples)
        loads = ", ".join(f"{run['machine']['load_average_before'][0]:.1f}" for run in runs)
        print("\n" + table(f"{title}, {len(found)} runs pooled (load average at their starts: {loads}):",
                           summarize(times, stores), stores))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="inprocess,gunicorn", help="inprocess, gunicorn or both (default)")
    parser.add_argument("--stores", default="files,redis", help="comma-separated (default files,redis)")
    parser.add_argument("--blocks", type=int, default=24, help="in-process blocks per app (default 24)")
    parser.add_argument("--block-requests", type=int, default=500, help="requests per block (default 500)")
    parser.add_argument("--rounds", type=int, default=10, help="gunicorn rounds per app (default 10)")
    parser.add_argument("--requests", type=int, default=1500, help="requests per gunicorn sample (default 1500)")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections (default 4)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also profile N requests per host")
    parser.add_argument("--pool", nargs="+", metavar="JSON", help="measure nothing: pool the samples of earlier "
                        "runs (bench/results/hosts-*.json) and print their tables")
    args = parser.parse_args()
    if args.pool:
        return pool(args.pool)
    args.blocks = max(2, min(args.blocks, 100))
    args.rounds = max(2, min(args.rounds, 50))
    args.block_requests = max(100, min(args.block_requests, 20000))
    args.requests = max(200, min(args.requests, 50000))
    args.connections = max(1, min(args.connections, 64))
    parts = [p for p in args.parts.split(",") if p]
    stores = [s for s in args.stores.split(",") if s]
    if unknown := set(parts) - {"inprocess", "gunicorn"} or set(stores) - set(TARGETS):
        raise SystemExit(f"unknown: {', '.join(sorted(unknown))}")

    info = machine()
    info["load_average_before"] = os.getloadavg()
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}, {info['gunicorn']}; "
          f"load average {' '.join(f'{x:.2f}' for x in info['load_average_before'])}", flush=True)
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix="bench-hosts-"))
    env = {"BENCH_HOSTS_DIR": str(workdir / "sessions")}
    redis_server = None
    if "redis" in stores:
        if shutil.which("redis-server"):
            redis_server = launch.RedisServer(workdir)
            env["BENCH_HOSTS_REDIS_URL"] = redis_server.url
        else:
            print("NOTE: redis-server not found: skipping the redis store", flush=True)
            stores.remove("redis")
    os.environ.update(env)
    results: dict = {}
    try:
        if "inprocess" in parts:
            print(f"in one process: {args.blocks} blocks × {args.block_requests} requests per app", flush=True)
            results["inprocess"] = in_process(stores, args)
        if "gunicorn" in parts:
            print(f"under gunicorn: {args.rounds} rounds × {args.requests} requests per app, "
                  f"{args.connections} connections", flush=True)
            redis_pid = redis_server.process.pid if redis_server and redis_server.process else None
            results["gunicorn"] = under_gunicorn(stores, args, env, workdir, redis_pid)
        if args.profile:
            results["profile"] = profile(stores, args.profile, stamp)
    finally:
        if redis_server:
            redis_server.stop()
    info["load_average_after"] = os.getloadavg()

    if "inprocess" in results:
        print("\n" + table("In one process (test client), CPU per request, median of blocks:",
                           results["inprocess"], stores))
    if "gunicorn" in results:
        print("\n" + table("Under gunicorn (1 worker, 1 thread), server CPU per request, median of rounds:",
                           results["gunicorn"], stores,
                           {name: values for name, values in results["gunicorn"]["redis_server_us"].items()}))
    elapsed = time.monotonic() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"hosts-{stamp}.json"
    out.write_text(json.dumps({"machine": info, "args": vars(args), "elapsed_s": round(elapsed),
                               "results": results}, indent=2))
    print(f"\nload average before {' '.join(f'{x:.2f}' for x in info['load_average_before'])}, after "
          f"{' '.join(f'{x:.2f}' for x in info['load_average_after'])} (2 CPUs: above ~0.5 the figures carry "
          "other work's noise)")
    print(f"\nwritten: {out.relative_to(ROOT)}   (gunicorn logs in {workdir}; {elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
