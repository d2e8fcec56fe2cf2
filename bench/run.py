"""`make bench`: requests/s of the app against the framework's and the design's ceilings.

For each session store (cachelib, redis), on the same gunicorn settings (gunicorn.conf.py):
  bare     /bare/profile, /bare/login     Flask + Jinja only (bench/baseline.py)
  store    /store/profile, /store/login   + one store read / one store write (the design's ceiling)
  app      GET /profile (signed in), GET /login (anonymous), and complete sign-ins/s
Everything runs on 127.0.0.1: a local provider, a private redis-server, gunicorn. Every load
loop is bounded by --duration. The load generator is wrk (apt-get install wrk); without it a
slower pure-Python generator runs and says so, and its numbers are not comparable with wrk's.

    python bench/run.py [--duration 5] [--rounds 3] [--connections 16] [--stores cachelib,redis]
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
import serve  # noqa: E402  (the provider command `make run` uses)
from serve import free_port, wait_http  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class Gunicorn:
    """gunicorn -c gunicorn.conf.py MODULE, like the Docker image; its logs go to a file."""

    def __init__(self, module: str, env: dict, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = shutil.which("gunicorn", path=str(BIN)) or "gunicorn"
        self.log = open(log, "w")
        full_env = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "GUNICORN_THREADS")}
        full_env.update(env, HOST="127.0.0.1", PORT=str(self.port), ENV_FILE="")
        self.process = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", module], cwd=ROOT, env=full_env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(f"{self.url}/healthz" if module == "wsgi:app" else f"{self.url}/bare/profile", self.process)

    def stop(self) -> None:
        stop(self.process)
        self.log.close()


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


def bench_store(store: str, args: argparse.Namespace, load, provider_url: str, redis_url: str | None,
                workdir: Path) -> dict:
    folder = workdir / f"sessions-{store}"
    env = {"SESSION_TYPE": store, "SESSION_CACHELIB_DIR": str(folder), "SECRET_KEY": "bench-secret-key",
           "SESSION_COOKIE_SECURE": "false", "GOOGLE_CLIENT_ID": "bench-client", "GOOGLE_CLIENT_SECRET": "bench",
           "GOOGLE_SERVER_METADATA_URL": f"{provider_url}/.well-known/openid-configuration",
           "BENCH_STORE": store, "LOG_LEVEL": "WARNING",
           "LOGIN_RATE_LIMIT": "100000000/minute"}  # every request comes from 127.0.0.1; the limiter still counts
    if redis_url:
        env["REDIS_URL"] = redis_url
    results: dict = {}

    app = Gunicorn("wsgi:app", env, workdir / f"app-{store}.log")
    baseline = None
    try:
        alice = sign_in(app.url, "alice")
        cookie = alice.cookies["session"]
        check = alice.get(f"{app.url}/profile", allow_redirects=False, timeout=15)
        assert check.status_code == 200 and "alice@example.com" in check.text, check.status_code
        baseline = Gunicorn("bench.baseline:app", env, workdir / f"baseline-{store}.log")
        check = requests.get(f"{baseline.url}/store/profile", cookies={"session": cookie}, timeout=15)
        assert check.status_code == 200 and "alice@example.com" in check.text, check.status_code
        routes = [  # (name, server, path, cookie); a ceiling is measured right before the app's route
            ("bare /profile", baseline, "/bare/profile", None),
            ("store /profile", baseline, "/store/profile", cookie),
            ("app /profile", app, "/profile", cookie),
            ("bare /login", baseline, "/bare/login", None),
            ("store /login", baseline, "/store/login", None),
            ("app /login", app, "/login", None),
        ]
        for _, server, path, jar in routes:
            load(f"{server.url}{path}", 1, args.connections, jar)  # warm every worker: metadata, templates
        # Rounds, interleaved, best of each: a neighbour's burst of CPU lowers one sample, not the result.
        samples: dict[str, list[dict]] = {}
        for round_ in range(1, args.rounds + 1):
            for name, server, path, jar in routes:
                before = cpu_seconds(server.process.pid)
                sample = load(f"{server.url}{path}", args.duration, args.connections, jar)
                used = cpu_seconds(server.process.pid) - before
                sample["cpu_ms"] = used / max(1, sample["rps"] * args.duration) * 1000 if used >= 0 else None
                print(f"  {store:8} round {round_} {name:14} {sample['rps']:8.0f} req/s  p50 {sample['p50'] or '-':>8}"
                      f"  p99 {sample['p99'] or '-':>8}  server CPU {fmt_ms(sample['cpu_ms'])}/req  bad {sample['bad']}"
                      f"  socket errors {sample['socket_errors']}", flush=True)
                samples.setdefault(name, []).append(sample)
                if sample["bad"]:  # an error page, not a slow answer: the numbers would mean nothing
                    raise SystemExit(f"error: {name} answered {sample['bad']} errors; see {workdir}")
        for name, runs in samples.items():
            results[name] = {**max(runs, key=lambda r: r["rps"]), "samples": [round(r["rps"]) for r in runs],
                             "socket_errors_all_rounds": sum(r["socket_errors"] for r in runs)}
        baseline.stop()
        baseline = None
        check = alice.get(f"{app.url}/profile", allow_redirects=False, timeout=15)
        assert check.status_code == 200, f"the signed-in session was lost during the run ({check.status_code})"
        results["sign-ins"] = sign_ins_per_second(app.url, args.signin_seconds, args.signin_concurrency)
        print(f"  {store:8} {'sign-ins':14} {results['sign-ins']['rps']:8.1f} /s"
              f"  failed {results['sign-ins']['failed']}", flush=True)
    finally:
        if baseline:
            baseline.stop()
        app.stop()
    results["profile/ceiling"] = results["app /profile"]["rps"] / results["store /profile"]["rps"]
    results["login/ceiling"] = results["app /login"]["rps"] / results["store /login"]["rps"]
    return results


def table(all_results: dict) -> str:
    rows = ["| store | bare /profile | store /profile | app /profile | ratio | bare /login | store /login "
            "| app /login | ratio | sign-ins/s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for store, r in all_results.items():
        rows.append(
            f"| {store} | {r['bare /profile']['rps']:.0f} | {r['store /profile']['rps']:.0f} "
            f"| {r['app /profile']['rps']:.0f} | **{r['profile/ceiling']:.2f}** | {r['bare /login']['rps']:.0f} "
            f"| {r['store /login']['rps']:.0f} | {r['app /login']['rps']:.0f} | **{r['login/ceiling']:.2f}** "
            f"| {r['sign-ins']['rps']:.1f} |")
    rows += ["", "Server CPU per request (gunicorn master + workers, same samples):", "",
             "| store | bare /profile | store /profile | app /profile | bare /login | store /login | app /login |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    names = ("bare /profile", "store /profile", "app /profile", "bare /login", "store /login", "app /login")
    for store, r in all_results.items():
        rows.append(f"| {store} | " + " | ".join(fmt_ms(r[name].get("cpu_ms")) for name in names) + " |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, best kept (default 3)")
    parser.add_argument("--signin-seconds", type=int, default=10, help="seconds of sign-ins (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--signin-concurrency", type=int, default=8, help="parallel sign-in loops (default 8)")
    parser.add_argument("--stores", default="cachelib,redis", help="comma-separated (default cachelib,redis)")
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

    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    provider_port = free_port()
    provider = subprocess.Popen(serve.provider_command(provider_port), cwd=ROOT, env={**os.environ, "NO_COLOR": "1"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis_server = None
    try:
        provider_url = f"http://127.0.0.1:{provider_port}"
        wait_http(f"{provider_url}/.well-known/openid-configuration", provider)
        redis_url = None
        if "redis" in stores:
            if not shutil.which("redis-server"):
                print("NOTE: redis-server not found: skipping the redis store", flush=True)
                stores.remove("redis")
            else:
                redis_port = free_port()
                redis_server = subprocess.Popen(
                    ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(workdir)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                redis_url = f"redis://127.0.0.1:{redis_port}/0"
                time.sleep(0.3)
        all_results = {store: bench_store(store, args, load, provider_url, redis_url if store == "redis" else None,
                                          workdir) for store in stores}
    finally:
        stop(provider)
        if redis_server:
            stop(redis_server)

    print("\n" + table(all_results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / time.strftime("bench-%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps({"machine": info, "args": vars(args), "results": all_results}, indent=2))
    print(f"\nwritten: {out.relative_to(ROOT)}   (server logs in {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
