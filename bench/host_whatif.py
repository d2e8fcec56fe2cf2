"""What the changes docs/benchmarks.md suggests for the extension's signed-in page would save.

Each change is prototyped by patching ONE app instance of bench/hosts.py (an instance attribute, a
registered hook, the template context's dict), never the package, so the unchanged host runs beside
it in the same process. Then, for each store, both hosts serve GET /page in alternating blocks, and
the parts are timed in place (perf_counter around each, inside whole requests) and the whole request
by process_time.

    read   FolderRecords.get on a str path with os.open + flock + os.read (files only)
    timer  Vault.records without the TimedRecords wrapper (metrics are off)
    guard  load_identity resolving request, session and g once; settings and hooks read once
    token  google_signin_csrf_token by one hmac.digest call, the session resolved once
and, with --redis-bound, the Redis GET made on a pooled connection without redis-py's command
layer (a bound on what that layer costs, not a proposal: it drops the retry).

    python bench/host_whatif.py [--stores files,redis] [--requests 4000] [--redis-bound]

Not part of `make bench`: it reaches into the extension's internals, and is for the one question.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import gc
import hashlib
import hmac
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "scripts"))
import launch  # noqa: E402  (scripts/launch.py)

from bench import hosts  # noqa: E402


def patch_read(app) -> bool:
    records = app.session_interface.vault.records
    records = getattr(records, "records", records)
    if not hasattr(records, "sessions"):
        return False
    main, pending, prefix, live, sha256 = (str(records.sessions), str(records.pending), records.PENDING,
                                           records._live, hashlib.sha256)

    def get(key: str) -> bytes | None:
        path = f"{pending if key.startswith(prefix) else main}/{sha256(key.encode()).hexdigest()}"
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # never a half-written record, as now
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(fd)
        return live(b"".join(chunks))

    records.get = get
    return True


def patch_timer(app) -> bool:
    vault = app.session_interface.vault
    if app.extensions["google_signin_settings"]["METRICS"] or not hasattr(vault.records, "records"):
        return False
    vault.records = vault.records.records
    return True


def patch_guard(app) -> bool:
    from flask import g, request, session

    from flask_google_signin.accounts import index as accounts
    from flask_google_signin.errors import StoreUnavailable
    from flask_google_signin.sessions.identity import GoogleIdentity
    from flask_google_signin.sessions.interface import TOUCH_INTERVAL
    from flask_google_signin.web import guard

    hooks = app.before_request_funcs[None]
    original = guard.load_identity
    settings, host_hooks = app.extensions["google_signin_settings"], app.extensions["google_signin_hooks"]
    idle, absolute = int(settings["IDLE_TIMEOUT"]), int(settings["ABSOLUTE_TIMEOUT"])

    def load_identity() -> None:
        if request.endpoint == "static":
            return
        sess = session._get_current_object()  # as the proxy does: marks the session accessed
        if sess.unavailable:
            raise StoreUnavailable("session store unavailable")
        if not sess.server_side:
            return
        user = sess.get("user")
        if not user:
            return
        now, last_seen = time.time(), sess.get("last_seen", 0)
        if now >= min(int(last_seen) + idle, int(sess.get("signed_in_at", 0)) + absolute):
            return original()  # the session ends: the code as it is
        found = GoogleIdentity(user, sess.get("userinfo"))
        state = g._get_current_object()
        state._google_signin_identity = state._google_signin_user = found
        if now - last_seen >= TOUCH_INTERVAL:
            sess["last_seen"] = int(now)
            accounts.on_touch(found.sub)
        if host_hooks.user_loader is not None:
            host_user = host_hooks.user_loader(found)
            if host_user is None:
                return original()  # refused: the code as it is
            state._google_signin_user = host_user
        return None

    hooks[hooks.index(original)] = load_identity
    return True


def patch_token(app) -> bool:
    from flask import session

    from flask_google_signin.web import csrf

    key = csrf._key(app.extensions["google_signin_settings"]["SECRET_KEY"])

    def token() -> str:
        sess = session._get_current_object()
        if not sess.server_side or not sess.sid:
            return ""
        mac = hmac.digest(key, sess.sid.partition(".")[0].encode(), "sha256")
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    for processor in app.template_context_processors[None]:
        values = processor()
        if values.get("google_signin_csrf_token") is csrf.csrf_token:  # the same dict on every call
            values["google_signin_csrf_token"] = token
            if values.get("csrf_token") is csrf.csrf_token:
                values["csrf_token"] = token
            return True
    return False


def patch_redis_bound(app) -> bool:
    records = app.session_interface.vault.records
    records = getattr(records, "records", records)
    if not hasattr(records, "client"):
        return False
    pool = records.client.connection_pool

    def get(key: str) -> bytes | None:
        connection = pool.get_connection()
        try:
            connection.send_command("GET", key)
            return connection.read_response()
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    records.get = get
    return True


def instrument(app, tag: str, totals: dict) -> None:
    """perf_counter around the session open and save, the store read, the guard and the token."""

    def timed(part: str, fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[tag, part] = totals.get((tag, part), 0.0) + time.perf_counter() - started
        return wrapper

    interface = app.session_interface
    hooks = app.before_request_funcs[None]
    for i, hook in enumerate(hooks):
        if hook.__name__ == "load_identity":
            hooks[i] = timed("load_identity", hook)
    for processor in app.template_context_processors[None]:
        values = processor()
        if "google_signin_csrf_token" in values:
            values["google_signin_csrf_token"] = timed("sign-out token", values["google_signin_csrf_token"])
    interface.vault.records.get = timed("store read", interface.vault.records.get)
    interface.open_session = timed("session open", interface.open_session)
    interface.save_session = timed("session save", interface.save_session)


def compare(store: str, patches: dict, n: int) -> None:
    unchanged, changed = hosts.build(store), hosts.build(store)
    applied = [name for name, patch in patches.items() if patch(changed)]
    apps = {"unchanged": unchanged, "changed": changed}
    totals: dict = {}
    headers, clients = {}, {}
    for tag, app in apps.items():
        headers[tag] = {"User-Agent": hosts.UA, "Cookie": f"session={hosts.signed_in_cookie(app)}"}
        instrument(app, tag, totals)
        clients[tag] = app.test_client(use_cookies=False)
    pages = {}
    for tag, client in clients.items():  # the same answer from both, but for the session's own token
        response = client.get("/page", headers=headers[tag])
        assert response.status_code == 200 and "Set-Cookie" not in response.headers, (tag, response.status_code)
        pages[tag] = (response.headers.get("Vary"), hosts.NAME in response.text, len(response.data))
        for _ in range(300):
            client.get("/page", headers=headers[tag])
    assert pages["unchanged"] == pages["changed"], pages
    totals.clear()
    whole = dict.fromkeys(apps, 0.0)
    block = max(1, n // 10)
    for round_ in range(10):
        for tag in ("unchanged", "changed") if round_ % 2 == 0 else ("changed", "unchanged"):
            gc.collect()
            started = time.process_time()
            for _ in range(block):
                clients[tag].get("/page", headers=headers[tag])
            whole[tag] += time.process_time() - started
    done = block * 10
    print(f"\n{store}: {done} requests each, alternating blocks of {block}; load average {os.getloadavg()[0]:.2f}; "
          f"changes: {', '.join(applied)}")
    print("| GET /page, µs per request | unchanged | changed | saved |\n|---|---:|---:|---:|")
    u, c = whole["unchanged"] / done * 1e6, whole["changed"] / done * 1e6
    print(f"| whole request (CPU) | {u:.0f} | {c:.0f} | {u - c:.0f} |")
    for part in ("session open", "store read", "load_identity", "sign-out token", "session save"):
        u, c = (totals.get((tag, part), 0.0) / done * 1e6 for tag in ("unchanged", "changed"))
        print(f"| {part} (in place) | {u:.1f} | {c:.1f} | {u - c:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="files,redis")
    parser.add_argument("--requests", type=int, default=4000, help="per host (default 4000)")
    parser.add_argument("--redis-bound", action="store_true", help="the Redis GET without redis-py's command layer")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-whatif-"))
    os.environ["BENCH_HOSTS_DIR"] = str(workdir / "sessions")
    redis_server = None
    try:
        for store in [s for s in args.stores.split(",") if s]:
            patches = {"read": patch_read, "timer": patch_timer, "guard": patch_guard, "token": patch_token}
            if store == "redis":
                if not shutil.which("redis-server"):
                    print("redis-server not found: skipping redis")
                    continue
                redis_server = redis_server or launch.RedisServer(workdir)
                os.environ["BENCH_HOSTS_REDIS_URL"] = redis_server.url
                if args.redis_bound:
                    patches["redis-bound"] = patch_redis_bound
            compare(store, patches, max(100, min(args.requests, 100_000)))
    finally:
        if redis_server:
            redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
