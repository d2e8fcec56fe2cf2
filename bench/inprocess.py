"""The A/B rows of bench/run.py again, in one process through Flask's test client (no gunicorn, no wrk).

One thread, so no GIL contention and no other server: a cross-check of the gunicorn numbers,
which a busy machine moves by ±30 % per sample. Blocks of requests alternate between the real
app and the variant (bench/variants.py); CPU per request is the process's CPU time (all its
threads), per block; the ratio is median(with) ÷ median(without).

    python bench/inprocess.py [--requests 1000] [--blocks 10] [--stores cachelib,redis] [--ceilings]

--ceilings measures the app against its ceilings instead (bench/baseline.py's /store/profile and
/store/login, served by the same process): CPU per request of each, ratio = ceiling ÷ app.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(1, str(ROOT))
import launch  # noqa: E402  (scripts/launch.py)


def signed_in_cookie(client) -> str:
    """alice, signed in through the test client against the local provider: her session cookie."""
    start = client.get("/login")
    answer = requests.post(start.headers["Location"], data={"sub": "alice"}, allow_redirects=False, timeout=15)
    back = urlsplit(answer.headers["Location"])
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 302, done.status_code
    return client.get_cookie("session").value


def cpu_per_request(client, path: str, headers: dict, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        response = client.get(path, headers=headers)
        if response.status_code >= 400 or (path == "/profile" and response.status_code != 200):
            raise SystemExit(f"{path} answered {response.status_code}")
    return (time.process_time() - started) / n * 1000


def ceilings(store: str, app, args: argparse.Namespace) -> None:
    """The app's /profile and /login against bench/baseline.py's ceilings, blocks alternating."""
    sys.modules.pop("bench.baseline", None)  # it reads the settings (SESSION_TYPE ...) when imported
    baseline = importlib.import_module("bench.baseline")

    cookie = signed_in_cookie(app.test_client())
    signed_in = {"Cookie": f"session={cookie}"}
    real, ceiling = app.test_client(use_cookies=False), baseline.app.test_client(use_cookies=False)
    for route, headers in (("profile", signed_in), ("login", {})):
        sides = [(real, f"/{route}"), (ceiling, f"/store/{route}")]
        for client, path in sides:
            cpu_per_request(client, path, headers, 200)  # warm
        times: list[list[float]] = [[], []]
        for block in range(args.blocks):
            for i in (0, 1) if block % 2 == 0 else (1, 0):
                times[i].append(cpu_per_request(*sides[i], headers, args.requests))
        app_ms, ceiling_ms = statistics.median(times[0]), statistics.median(times[1])
        paired = sorted(c / a for a, c in zip(times[0], times[1], strict=True))
        print(f"{store:8} /{route:8} app {app_ms:.3f} ms  ceiling {ceiling_ms:.3f} ms  ceiling/app "
              f"{ceiling_ms / app_ms:.3f}  (per-block {paired[0]:.3f} to {paired[-1]:.3f})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests per block (default 1000)")
    parser.add_argument("--blocks", type=int, default=10, help="blocks per app, alternating (default 10)")
    parser.add_argument("--stores", default="cachelib,redis")
    parser.add_argument("--ceilings", action="store_true", help="the app against its ceilings, not the A/B pairs")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-inprocess-"))
    provider = launch.Provider()
    provider_port = provider.port
    redis_server = launch.RedisServer(workdir) if "redis" in args.stores and shutil.which("redis-server") else None
    redis_port = redis_server.port if redis_server else 0
    try:
        os.environ.update(ENV_FILE="", SECRET_KEY="bench-secret-key", GOOGLE_CLIENT_ID="bench-client",
                          GOOGLE_CLIENT_SECRET="bench", SESSION_COOKIE_SECURE="false", LOG_LEVEL="ERROR",
                          GOOGLE_SERVER_METADATA_URL=f"http://127.0.0.1:{provider_port}/.well-known/openid-configuration",
                          REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", LOGIN_RATE_LIMIT="100000000/minute",
                          PENDING_SIGNINS_MAX="10000000")
        from app import create_app
        from bench import variants

        for store in [s for s in args.stores.split(",") if s]:
            if store == "redis" and not redis_server:
                print("redis-server not found: skipping redis")
                continue
            os.environ.update(SESSION_TYPE=store, SESSION_CACHELIB_DIR=str(workdir / f"sessions-{store}"))
            if args.ceilings:
                ceilings(store, create_app(), args)
                continue
            pairs = [("sealing", "/profile", create_app(), variants.build_unsealed()),
                     ("rate limit", "/login", create_app(), variants.build_unlimited())]
            for label, path, real, variant in pairs:
                clients, headers = [], []
                for app in (real, variant):
                    client = app.test_client()
                    cookie = signed_in_cookie(client) if path == "/profile" else None
                    clients.append(app.test_client(use_cookies=False))  # wrk's way: the same cookie, or none
                    headers.append({"Cookie": f"session={cookie}"} if cookie else {})
                    cpu_per_request(clients[-1], path, headers[-1], 200)  # warm
                times: list[list[float]] = [[], []]
                for block in range(args.blocks):
                    for i in (0, 1) if block % 2 == 0 else (1, 0):
                        times[i].append(cpu_per_request(clients[i], path, headers[i], args.requests))
                with_, without = statistics.median(times[0]), statistics.median(times[1])
                paired = sorted(a / b for a, b in zip(times[0], times[1], strict=True))
                print(f"{store:8} {label:10} {path:8} with {with_:.3f} ms  without {without:.3f} ms  "
                      f"ratio {with_ / without:.3f}  (per-block {paired[0]:.3f} to {paired[-1]:.3f})", flush=True)
    finally:
        provider.stop()
        if redis_server:
            redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
