"""PENDING_SIGNINS_MAX under a flood on the production server: gunicorn with two workers (each with
its threads), 1,000 concurrent /login from 30 networks, on both stores. The cap holds within 5 %
(both stores hold it exactly), no request is refused, and a sign-in started elsewhere during the
flood finishes.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from flask_google_signin.store.redis import make_redis

from ..servers import Browser

pytestmark = pytest.mark.slow

CAP = 200
FLOOD = 1000


def pending_held(store: str, folder: Path, redis_url: str | None) -> int:
    if store == "redis":
        assert redis_url
        return sum(1 for _ in make_redis(redis_url, 2).scan_iter("pending:{*}:*"))
    with sqlite3.connect(folder / "pending" / "pending.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])


@pytest.mark.parametrize("store", ["files", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_flood_on_two_workers_holds_the_cap_and_a_visitor_signs_in(store, gunicorn_factory, local_provider,
                                                                      tmp_path, request):
    env = dict(GOOGLE_CLIENT_ID="cap-client", GOOGLE_CLIENT_SECRET="cap-secret", TRUSTED_PROXIES="1",
               GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url, PENDING_SIGNINS_MAX=str(CAP),
               LOGIN_RATE_LIMIT="100000/minute", SESSION_CACHELIB_DIR=str(tmp_path / "sessions"))
    redis_url = None
    if store == "redis":
        redis_url = request.getfixturevalue("redis_server").url
        make_redis(redis_url, 2).flushdb()
        env.update(SESSION_TYPE="redis", REDIS_URL=redis_url)
    server = gunicorn_factory(**env)
    visitor = Browser()
    visitor.http.headers["X-Forwarded-For"] = "203.0.113.77"

    def login(n: int) -> int:
        if n == FLOOD // 2:
            back = visitor.authorize(server.url, "grace@example.com")  # mid-flood, from another network
            visitor_back.append(back)
        answer = requests.get(f"{server.url}/login", allow_redirects=False, timeout=30,
                              headers={"X-Forwarded-For": f"198.51.100.{n % 30}"})
        return answer.status_code

    visitor_back: list[str] = []
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(login, range(FLOOD)))
    assert set(statuses) == {302}, {status: statuses.count(status) for status in set(statuses)}
    held = pending_held(store, tmp_path / "sessions", redis_url)
    assert CAP * 0.95 <= held <= CAP * 1.05, held
    assert visitor.callback(visitor_back[0], server.url).status_code == 302
    assert "grace@example.com" in visitor.get(f"{server.url}/profile").text
