"""`make bench`: requests/s of the app against the framework's and the design's ceilings,
and what sealing and the /login rate limit cost, by server CPU per request.

For each session store (cachelib, redis), on the same gunicorn settings (gunicorn.conf.py):
  bare       /bare/profile, /bare/login     Flask + Jinja only (bench/baseline.py)
  store      /store/profile, /store/login   + one sealed store read / one sealed pending write (the design's ceiling)
  app        GET /profile (signed in), GET /login (anonymous), and complete sign-ins/s
  unsealed   GET /profile on the same app without the crypto (bench/variants.py:unsealed)
  unlimited  GET /login on the same app without the rate limiter (bench/variants.py:unlimited)
The A/B pairs (app vs unsealed /profile, app vs unlimited /login) run in the same interleaved
rounds, their order swapped every other round; cost ratio = CPU/request with ÷ without.
Everything runs on 127.0.0.1: a local provider, a private redis-server, gunicorn. Every load
loop is bounded by --duration. The load generator is wrk (apt-get install wrk); without it a
slower pure-Python generator runs and says so, and its numbers are not comparable with wrk's.

    python bench/run.py [--duration 5] [--rounds 3] [--connections 16] [--stores cachelib,redis]
                        [--no-ab | --ab-only]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(1, str(ROOT))
import launch  # noqa: E402  (scripts/launch.py: the launcher `make run` and the tests use)

from flask_google_signin.store import FolderRecords, namespace  # noqa: E402
from flask_google_signin.store.redis import RedisRecords, make_redis  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent


def gunicorn(module: str, env: dict, log: Path) -> launch.Gunicorn:
    """gunicorn -c gunicorn.conf.py MODULE, like the Docker image, with gunicorn.conf.py's own worker count."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "GUNICORN_THREADS")}
    full_env.update(env, ENV_FILE="")
    ready = "/bare/profile" if module.startswith("bench.baseline") else "/healthz"
    return launch.Gunicorn(full_env, log, module=module, ready_path=ready, workers=None)


# --------------------------------------------------------------------------- load generators


def wrk(url: str, duration: int, connections: int, cookie: str | None) -> dict:
    args = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--latency", url]
    if cookie:
        args[1:1] = ["-H", f"Cookie: session={cookie}"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    p50 = re.search(r"\s50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"\s99%\s+([\d.]+\w+)", out)
    return {"rps": rps, "bad": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0,
            "p50": p50.group(1) if p50 else "", "p99": p99.group(1) if p99 else ""}


def pyload(url: str, duration: int, connections: int, cookie: str | None) -> dict:
    """The fallback: keep-alive http.client loops in threads, stopped by a deadline."""
    parts = urlsplit(url)
    headers = {"Cookie": f"session={cookie}"} if cookie else {}
    deadline = time.monotonic() + duration
    counts = {"ok": 0, "bad": 0, "errors": 0}
    lock = threading.Lock()

    def loop() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        ok = bad = errors = 0
        while time.monotonic() < deadline:
            try:
                conn.request("GET", parts.path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status < 400:
                    ok += 1
                else:
                    bad += 1
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        conn.close()
        with lock:
            counts["ok"] += ok
            counts["bad"] += bad
            counts["errors"] += errors

    started = time.monotonic()
    threads = [threading.Thread(target=loop) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"rps": (counts["ok"] + counts["bad"]) / elapsed, "bad": counts["bad"], "socket_errors": counts["errors"],
            "p50": "", "p99": ""}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a gunicorn master and its workers (Linux /proc); -inf elsewhere."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        total = 0
        for proc in [str(pid), *children]:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return float("-inf")


def fmt_ms(value: float | None) -> str:
    return f"{value:.2f} ms" if value is not None else "-"


# --------------------------------------------------------------------------- sign-ins


def sign_in(app_url: str, sub: str) -> requests.Session:
    """The browser's part of a sign-in; the provider is called without the app's cookie."""
    http = requests.Session()
    start = http.get(f"{app_url}/login", allow_redirects=False, timeout=15)
    start.raise_for_status()
    answer = requests.post(start.headers["Location"], data={"sub": sub}, allow_redirects=False, timeout=15)
    back = urlsplit(answer.headers["Location"])
    done = http.get(f"{app_url}{back.path}?{back.query}", allow_redirects=False, timeout=15)
    if done.status_code != 302:
        raise RuntimeError(f"sign-in answered {done.status_code}")
    return http


def sign_ins_per_second(app_url: str, duration: int, concurrency: int) -> dict:
    deadline = time.monotonic() + duration
    run = secrets.token_hex(3)

    def loop(worker: int) -> tuple[int, int]:
        done = failed = 0
        while time.monotonic() < deadline:
            try:
                sign_in(app_url, f"bench-{run}-{worker}-{done}@example.com")
                done += 1
            except (requests.RequestException, RuntimeError, KeyError):
                failed += 1
        return done, failed

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(loop, range(concurrency)))
    elapsed = time.monotonic() - started
    return {"rps": sum(d for d, _ in results) / elapsed, "failed": sum(f for _, f in results)}


# --------------------------------------------------------------------------- the run


def machine() -> dict:
    cpu = "unknown"
    try:
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    gunicorn = subprocess.run([shutil.which("gunicorn", path=str(BIN)) or "gunicorn", "--version"],
                              capture_output=True, text=True).stdout.strip()
    wrk_version = ""
    if shutil.which("wrk"):
        wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "gunicorn": gunicorn,
            "wrk": wrk_version, "platform": platform.platform()}


CLIENT_ID = "bench-client"
# The A/B pairs: (what is measured, the real app's row, the row without it, most it may cost).
AB_PAIRS = (
    ("sealing", "app /profile", "unsealed /profile", 1.10),
    ("rate limit", "app /login", "unlimited /login", 1.25),
)


def pending_cleaner(store: str, folder: Path, redis_url: str | None):
    """A function that empties the store's pending sign-ins (the bench's own, in its private store).

    Called before every sample that writes them, so each /login sample starts from the same empty
    store: the file store recounts its pending folder each second or so (FolderRecords._recount_pending,
    O(files)), so without this a sample's cost would depend on how many /login samples ran before
    it, and the second of an A/B pair would pay for the first.
    """
    space = namespace(CLIENT_ID)
    if store == "redis":
        records = RedisRecords(make_redis(redis_url, 5.0), space)

        def clear() -> None:
            client = records.client
            batch = []
            for key in client.scan_iter(match=records.pending_key("*"), count=10_000):
                batch.append(key)
                if len(batch) >= 5000:
                    client.delete(*batch)
                    batch = []
            client.delete(records.pending_index, *batch)
        return clear
    pending = FolderRecords(str(folder), 1, 1).pending

    def clear() -> None:
        with os.scandir(pending) as entries:
            for entry in entries:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass
    return clear


def stored_record(store: str, folder: Path, redis_url: str | None, cookie: str) -> bytes | None:
    """The raw bytes the store holds for a session cookie (`id.secret`), as app/sessions.py names them."""
    space = namespace(CLIENT_ID)
    key = f"session:{space}:{cookie.split('.')[0]}"
    if store == "redis":
        return RedisRecords(make_redis(redis_url, 5.0), space).get(key)
    return FolderRecords(str(folder), 1, 1).get(key)


def bench_store(store: str, args: argparse.Namespace, load, provider_url: str, redis_url: str | None,
                redis_pid: int | None, workdir: Path) -> dict:
    folder = workdir / f"sessions-{store}"
    env = {"SESSION_TYPE": store, "SESSION_CACHELIB_DIR": str(folder), "SECRET_KEY": "bench-secret-key",
           "SESSION_COOKIE_SECURE": "false", "GOOGLE_CLIENT_ID": CLIENT_ID, "GOOGLE_CLIENT_SECRET": "bench",
           "GOOGLE_SERVER_METADATA_URL": f"{provider_url}/.well-known/openid-configuration",
           "LOG_LEVEL": "WARNING",
           "PENDING_SIGNINS_MAX": "10000000",  # never the cap's 503; the pending store is emptied between samples
           "LOGIN_RATE_LIMIT": "100000000/minute"}  # every request comes from 127.0.0.1; the limiter still counts
    if redis_url:
        env["REDIS_URL"] = redis_url
    results: dict = {}
    servers: list[launch.Gunicorn] = []

    def serve_(module: str, name: str) -> launch.Gunicorn:
        server = gunicorn(module, env, workdir / f"{name}-{store}.log")
        servers.append(server)
        return server

    try:
        app = serve_("wsgi:app", "app")
        alice = sign_in(app.url, "alice")
        cookie = alice.cookies["session"]
        check = alice.get(f"{app.url}/profile", allow_redirects=False, timeout=15)
        assert check.status_code == 200 and "alice@example.com" in check.text, check.status_code
        sealed = stored_record(store, folder, redis_url, cookie)
        assert sealed and b"alice@example.com" not in sealed, "the app's session record is not sealed"
        profile_routes, login_routes = [], []  # (name, server, path, cookie)
        if not args.ab_only:
            baseline = serve_("bench.baseline:app", "baseline")
            check = requests.get(f"{baseline.url}/store/profile", cookies={"session": cookie}, timeout=15)
            assert check.status_code == 200 and "alice@example.com" in check.text, check.status_code
            profile_routes += [("bare /profile", baseline, "/bare/profile", None),
                               ("store /profile", baseline, "/store/profile", cookie)]
            login_routes += [("bare /login", baseline, "/bare/login", None),
                             ("store /login", baseline, "/store/login", None)]
        # The app's /login on a server of its own: each server of an A/B pair serves one route only,
        # so the two have the same history (requests served, heap, limiter state) when measured.
        app_login = serve_("wsgi:app", "app-login")
        profile_routes.append(("app /profile", app, "/profile", cookie))
        login_routes.append(("app /login", app_login, "/login", None))
        if not args.no_ab:
            unsealed = serve_("bench.variants:unsealed", "unsealed")
            plain_cookie = sign_in(unsealed.url, "alice").cookies["session"]
            check = requests.get(f"{unsealed.url}/profile", cookies={"session": plain_cookie},
                                 allow_redirects=False, timeout=15)
            assert check.status_code == 200 and "alice@example.com" in check.text, check.status_code
            plain = stored_record(store, folder, redis_url, plain_cookie)
            assert plain and plain.startswith(b"\x00") and b"alice@example.com" in plain, "unsealed record?"
            profile_routes.append(("unsealed /profile", unsealed, "/profile", plain_cookie))
            login_routes.append(("unlimited /login", serve_("bench.variants:unlimited", "unlimited"), "/login", None))
        routes = profile_routes + login_routes
        clear_pending = pending_cleaner(store, folder, redis_url)
        for _, server, path, jar in routes:
            load(f"{server.url}{path}", 1, args.connections, jar)  # warm every worker: metadata, templates
        # Rounds, interleaved, best of each: a neighbour's burst of CPU lowers one sample, not the result.
        # A ceiling is measured right before the app's route it bounds; each A/B pair back to back,
        # its order swapped every other round.
        samples: dict[str, list[dict]] = {}
        for round_ in range(1, args.rounds + 1):
            ordered = list(routes)
            if round_ % 2 == 0:
                for _, with_, without, _ in AB_PAIRS:
                    names = [r[0] for r in ordered]
                    if with_ in names and without in names:
                        i, j = names.index(with_), names.index(without)
                        ordered[i], ordered[j] = ordered[j], ordered[i]
            for name, server, path, jar in ordered:
                if path.endswith("login") and not path.startswith("/bare"):
                    clear_pending()
                before = cpu_seconds(server.process.pid)
                redis_before = cpu_seconds(redis_pid) if redis_pid else None
                sample = load(f"{server.url}{path}", args.duration, args.connections, jar)
                used = cpu_seconds(server.process.pid) - before
                requests_done = max(1, sample["rps"] * args.duration)
                sample["cpu_ms"] = used / requests_done * 1000 if used >= 0 else None
                if redis_before is not None:
                    sample["redis_cpu_ms"] = (cpu_seconds(redis_pid) - redis_before) / requests_done * 1000
                print(f"  {store:8} round {round_} {name:17} {sample['rps']:8.0f} req/s  p50 {sample['p50'] or '-':>8}"
                      f"  p99 {sample['p99'] or '-':>8}  server CPU {fmt_ms(sample['cpu_ms'])}/req"
                      + (f" (+ redis {fmt_ms(sample['redis_cpu_ms'])})" if "redis_cpu_ms" in sample else "")
                      + f"  bad {sample['bad']}  socket errors {sample['socket_errors']}", flush=True)
                samples.setdefault(name, []).append(sample)
                if sample["bad"]:  # an error page, not a slow answer: the numbers would mean nothing
                    raise SystemExit(f"error: {name} answered {sample['bad']} errors; see {workdir}")
        for name, runs in samples.items():
            cpus = [r["cpu_ms"] for r in runs if r["cpu_ms"] is not None]
            results[name] = {**max(runs, key=lambda r: r["rps"]), "samples": [round(r["rps"]) for r in runs],
                             "cpu_ms_samples": [round(c, 4) for c in cpus],
                             "cpu_ms_best": min(cpus) if cpus else None,
                             "socket_errors_all_rounds": sum(r["socket_errors"] for r in runs)}
            if all("redis_cpu_ms" in r for r in runs):
                results[name]["redis_cpu_ms_samples"] = [round(r["redis_cpu_ms"], 4) for r in runs]
        results["ab"] = ab_results(samples)
        for server in servers[1:]:  # only the app serves the sign-ins
            server.stop()
        del servers[1:]
        check = alice.get(f"{app.url}/profile", allow_redirects=False, timeout=15)
        assert check.status_code == 200, f"the signed-in session was lost during the run ({check.status_code})"
        if not args.ab_only:
            results["sign-ins"] = sign_ins_per_second(app.url, args.signin_seconds, args.signin_concurrency)
            print(f"  {store:8} {'sign-ins':17} {results['sign-ins']['rps']:8.1f} /s"
                  f"  failed {results['sign-ins']['failed']}", flush=True)
    finally:
        for server in servers:
            server.stop()
    if not args.ab_only:
        results["profile/ceiling"] = results["app /profile"]["rps"] / results["store /profile"]["rps"]
        results["login/ceiling"] = results["app /login"]["rps"] / results["store /login"]["rps"]
        results["profile/ceiling by CPU"] = (results["store /profile"]["cpu_ms_best"]
                                             / results["app /profile"]["cpu_ms_best"])
        results["login/ceiling by CPU"] = results["store /login"]["cpu_ms_best"] / results["app /login"]["cpu_ms_best"]
    return results


def ab_results(samples: dict[str, list[dict]]) -> dict:
    """Cost with ÷ cost without, by server CPU per request (best round of each) and per round."""
    out = {}
    for label, with_, without, limit in AB_PAIRS:
        if with_ not in samples or without not in samples:
            continue
        a, b = samples[with_], samples[without]
        cpu_a = [r["cpu_ms"] for r in a if r["cpu_ms"] is not None]
        cpu_b = [r["cpu_ms"] for r in b if r["cpu_ms"] is not None]
        if not cpu_a or not cpu_b:
            continue
        per_round = [x["cpu_ms"] / y["cpu_ms"] for x, y in zip(a, b, strict=True) if x["cpu_ms"] and y["cpu_ms"]]
        result = {"with": with_, "without": without, "limit": limit,
                  "cpu_with": min(cpu_a), "cpu_without": min(cpu_b), "ratio": min(cpu_a) / min(cpu_b),
                  "round_ratios": [round(r, 4) for r in per_round],
                  "median_round_ratio": statistics.median(per_round) if per_round else None,
                  "rps_with": max(r["rps"] for r in a), "rps_without": max(r["rps"] for r in b)}
        result["rps_cost_ratio"] = result["rps_without"] / result["rps_with"]
        if all("redis_cpu_ms" in r for r in a + b):  # the store's server too, for the record
            best_a = min(r["cpu_ms"] + r["redis_cpu_ms"] for r in a)
            best_b = min(r["cpu_ms"] + r["redis_cpu_ms"] for r in b)
            result["ratio_with_redis_cpu"] = best_a / best_b
        result["met"] = result["ratio"] <= limit
        out[label] = result
    return out


TARGETS = {"profile": 0.85, "login": 0.6}  # app ÷ its ceiling by CPU per request, at least (docs/benchmarks.md)


def table(all_results: dict) -> str:
    rows = ["| store | bare /profile | store /profile | app /profile | ratio | bare /login | store /login "
            "| app /login | ratio | sign-ins/s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for store, r in all_results.items():
        rows.append(
            f"| {store} | {r['bare /profile']['rps']:.0f} | {r['store /profile']['rps']:.0f} "
            f"| {r['app /profile']['rps']:.0f} | **{r['profile/ceiling']:.2f}** | {r['bare /login']['rps']:.0f} "
            f"| {r['store /login']['rps']:.0f} | {r['app /login']['rps']:.0f} | **{r['login/ceiling']:.2f}** "
            f"| {r['sign-ins']['rps']:.1f} |")
    rows += ["", "Server CPU per request (gunicorn master + workers; best round of each; ratio = ceiling ÷ app;"
             f" targets: /profile ≥ {TARGETS['profile']}, /login ≥ {TARGETS['login']}):", "",
             "| store | bare /profile | store /profile | app /profile | ratio | bare /login | store /login "
             "| app /login | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def verdict(ratio: float, route: str) -> str:
        return f"**{ratio:.2f}** ({'ok' if ratio >= TARGETS[route] else 'under'})"

    for store, r in all_results.items():
        cells = [fmt_ms(r[name]["cpu_ms_best"]) for name in ("bare /profile", "store /profile", "app /profile")]
        cells.append(verdict(r["profile/ceiling by CPU"], "profile"))
        cells += [fmt_ms(r[name]["cpu_ms_best"]) for name in ("bare /login", "store /login", "app /login")]
        cells.append(verdict(r["login/ceiling by CPU"], "login"))
        rows.append(f"| {store} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def ab_table(all_results: dict) -> str:
    rows = ["| store | cost of | route | CPU/req with | CPU/req without | **ratio** (limit) | median of rounds "
            "| per-round ratios | req/s with | req/s without | cost by req/s |",
            "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for store, r in all_results.items():
        for label, ab in r.get("ab", {}).items():
            route = ab["with"].split()[-1]
            verdict = "ok" if ab["met"] else "OVER"
            median = f"{ab['median_round_ratio']:.3f}" if ab["median_round_ratio"] else "-"
            rows.append(
                f"| {store} | {label} | {route} | {fmt_ms(ab['cpu_with'])} | {fmt_ms(ab['cpu_without'])} "
                f"| **{ab['ratio']:.3f}** (≤ {ab['limit']:.2f}, {verdict}) | {median} "
                f"| {', '.join(f'{x:.3f}' for x in ab['round_ratios'])} "
                f"| {ab['rps_with']:.0f} | {ab['rps_without']:.0f} | {ab['rps_cost_ratio']:.3f} |")
    rows += ["", "ratio = best round's CPU/request with ÷ best round's without; per-round ratios pair the two samples "
             "of one round; cost by req/s = best req/s without ÷ best req/s with."]
    notes = [f"{store} {label}: {ab['ratio_with_redis_cpu']:.3f} with redis-server's CPU added"
             for store, r in all_results.items() for label, ab in r.get("ab", {}).items()
             if "ratio_with_redis_cpu" in ab]
    if notes:
        rows += ["", "Ratio by CPU/request including redis-server's own CPU: " + "; ".join(notes) + "."]
    return "\n".join(rows)


def check_limiter_variant(provider_url: str, workdir: Path) -> str:
    """`bench.variants:unlimited` really has no limit: a 1/minute limit is enforced by the app, not by it."""
    env = {**os.environ, "SESSION_TYPE": "cachelib", "SESSION_CACHELIB_DIR": str(workdir / "sessions-check"),
           "SECRET_KEY": "bench-secret-key", "SESSION_COOKIE_SECURE": "false", "GOOGLE_CLIENT_ID": CLIENT_ID,
           "GOOGLE_CLIENT_SECRET": "bench", "ENV_FILE": "", "LOG_LEVEL": "ERROR",
           "GOOGLE_SERVER_METADATA_URL": f"{provider_url}/.well-known/openid-configuration"}
    done = subprocess.run([sys.executable, "-m", "bench.variants", "--check-limiter"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise SystemExit(f"error: {done.stdout}{done.stderr}")
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, best kept (default 3)")
    parser.add_argument("--signin-seconds", type=int, default=10, help="seconds of sign-ins (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--signin-concurrency", type=int, default=8, help="parallel sign-in loops (default 8)")
    parser.add_argument("--stores", default="cachelib,redis", help="comma-separated (default cachelib,redis)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-ab", action="store_true", help="skip the sealing and rate-limit A/B rows")
    which.add_argument("--ab-only", action="store_true", help="only the A/B rows: no ceilings, no sign-ins")
    args = parser.parse_args()
    args.duration = max(1, min(args.duration, 120))  # bounded, whatever is asked
    args.rounds = max(1, min(args.rounds, 10))
    args.signin_seconds = max(1, min(args.signin_seconds, 120))
    stores = [s for s in args.stores.split(",") if s]

    if shutil.which("wrk"):
        load = wrk
    else:
        print("NOTE: wrk not found (Debian/Ubuntu: apt-get install wrk). Using the pure-Python load generator:\n"
              "      it shares the CPU with the servers, so its numbers are lower and not comparable with wrk's.",
              flush=True)
        load = pyload
    info = machine()
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}, {info['gunicorn']}, "
          f"{info['wrk'] or 'pure-Python load'}", flush=True)

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    provider = launch.Provider()
    redis_server = None
    try:
        provider_url = provider.url
        if not args.no_ab:
            info["limiter_check"] = check_limiter_variant(provider_url, workdir)
            print(f"  {info['limiter_check']}", flush=True)
        redis_url = None
        if "redis" in stores:
            if not shutil.which("redis-server"):
                print("NOTE: redis-server not found: skipping the redis store", flush=True)
                stores.remove("redis")
            else:
                redis_server = launch.RedisServer(workdir)
                redis_url = redis_server.url
        all_results = {store: bench_store(store, args, load, provider_url, redis_url if store == "redis" else None,
                                          redis_server.process.pid if redis_server and redis_server.process
                                          and store == "redis" else None, workdir)
                       for store in stores}
    finally:
        provider.stop()
        if redis_server:
            redis_server.stop()

    if not args.ab_only:
        print("\n" + table(all_results))
    if not args.no_ab:
        print("\nSealing and rate limiting: cost with ÷ cost without, server CPU per request\n")
        print(ab_table(all_results))
    elapsed = time.monotonic() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / time.strftime("bench-%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps({"machine": info, "args": vars(args), "elapsed_s": round(elapsed),
                               "results": all_results}, indent=2))
    print(f"\nwritten: {out.relative_to(ROOT)}   (server logs in {workdir}; {elapsed:.0f} s)")
    return 0



if __name__ == "__main__":
    sys.exit(main())
