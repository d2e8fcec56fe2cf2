"""Two gunicorn instances sharing one redis-server: any instance serves any request.

Also the load test: 100 distinct users sign in at once across both instances, each sees only
their own profile, and nothing answers 5xx.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..servers import Browser, redis_pair, session_key, stored_session

pytestmark = [pytest.mark.slow, pytest.mark.redis]

LOAD_USERS = 100


@pytest.fixture(scope="module")
def pair(gunicorn_factory, redis_server, local_provider):
    """Instances A and B: same secret, same Redis, same provider; separate processes."""
    return redis_pair(gunicorn_factory, redis_server, local_provider, "redis")


def test_both_instances_ready_on_redis(pair):
    for server in pair:
        response = Browser().get(f"{server.url}/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "session_store": "redis"}


def test_sign_in_on_one_instance_profile_and_sign_out_on_the_other(pair, redis_store):
    a, b = pair
    user = Browser()
    # /login on A, the provider's redirect lands on B: the pending sign-in lives in Redis.
    back = user.authorize(a.url, "ada@example.com")
    assert user.callback(back, b.url).status_code == 302
    sid = user.sid
    assert sid and stored_session(redis_store, sid, "redis-client")["user"]["email"] == "ada@example.com"

    for server in (a, b):
        page = user.get(f"{server.url}/profile")
        assert page.status_code == 200, server.url
        assert "ada@example.com" in page.text

    # The sign-out form comes from B, the POST goes to A.
    out = user.logout(a.url, token_from=b.url)
    assert out.status_code == 303
    assert stored_session(redis_store, sid, "redis-client") is None  # the old id points at nothing, on every instance
    for server in (a, b):
        response = user.get(f"{server.url}/profile")
        assert response.status_code == 302 and "/login" in response.headers["Location"], server.url
    # Replaying the old cookie after sign-out does not bring the session back.
    replay = Browser()
    replay.http.cookies.set("session", sid)
    assert replay.get(f"{b.url}/profile").status_code == 302


def test_offline_access_and_refresh_token_stays_server_side(pair, redis_store):
    a, b = pair
    user = Browser()
    start = user.get(f"{a.url}/login")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]

    back = user.authorize(a.url, "grace@example.com")
    signed_in = user.callback(back, b.url)
    token = stored_session(redis_store, user.sid, "redis-client")["token"]
    assert token["refresh_token"] and token["access_token"]
    page = user.get(f"{a.url}/profile")
    assert "held server-side" in page.text
    for response in (signed_in, page):
        exposed = response.text + str(response.headers)
        assert token["refresh_token"] not in exposed and token["access_token"] not in exposed
    assert user.sid == user.http.cookies.get("session") and len(user.sid) == 87  # only an id and its secret


def test_redis_record_expires_on_its_own(pair, redis_store):
    """Redis's TTL does the cleanup: a pending sign-in lives 10 minutes, a signed-in one 8 hours and the grace."""
    a, _ = pair
    user = Browser()
    user.get(f"{a.url}/login")
    pending = [key for key in redis_store.scan_iter("pending:*") if key.count(b":") == 2]
    assert pending and all(0 < redis_store.ttl(key) <= 600 for key in pending)
    user.sign_in(a.url, "ttl@example.com")
    assert 8 * 3600 < redis_store.ttl(session_key(user.sid, "redis-client")) <= 8 * 3600 + 3600  # idle + the grace


def test_load_100_users_across_both_instances(pair):
    """Each user: /login on one instance, callback on the other, /profile on both."""
    a, b = pair
    run = uuid.uuid4().hex[:8]
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(LOAD_USERS, timeout=60)

    class CountingBrowser(Browser):
        """Counts statuses. Like a browser, it retries a GET once when a kept-alive connection turns
        out closed by the server (gunicorn ends idle keep-alive connections after 5 s, and a request
        can cross that on the wire); a server failing twice still fails the test."""

        def __init__(self) -> None:
            super().__init__()
            retry = Retry(total=1, connect=1, read=1, status=0, other=0, allowed_methods={"GET"},
                          raise_on_status=False)
            self.http.mount("http://", HTTPAdapter(max_retries=retry))

        def get(self, url, **kwargs):
            response = super().get(url, **kwargs)
            with lock:
                statuses.append(response.status_code)
            return response

    def one_user(i: int) -> str | None:
        sub = f"load-{run}-{i:03d}@example.com"
        first, second = (a, b) if i % 2 else (b, a)
        user = CountingBrowser()
        barrier.wait()
        done = user.callback(user.authorize(first.url, sub), second.url)
        if done.status_code != 302:
            return f"{sub}: callback {done.status_code}"
        for server in (second, first):
            page = user.get(f"{server.url}/profile")
            seen = set(re.findall(rf"load-{run}-\d{{3}}@example\.com", page.text))
            if page.status_code != 200 or seen != {sub}:
                return f"{sub}: profile {page.status_code} showed {sorted(seen)}"
        return None

    def diagnosed(i: int) -> str | None:
        try:
            return one_user(i)
        except (requests.RequestException, AssertionError) as exc:  # say which user and what, then fail
            return f"user {i}: {type(exc).__name__}: {exc}"

    started = time.monotonic()
    with ThreadPoolExecutor(LOAD_USERS) as pool:
        problems = [p for p in pool.map(diagnosed, range(LOAD_USERS)) if p]
    elapsed = time.monotonic() - started
    assert not problems, problems[:5]
    assert len(statuses) == LOAD_USERS * 4
    assert not [s for s in statuses if s >= 500]
    print(f"{LOAD_USERS} concurrent sign-ins in {elapsed:.1f} s ({LOAD_USERS / elapsed:.0f}/s)")
