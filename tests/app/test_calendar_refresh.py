"""A token refresh is single-flight per session. Two page views of one browser that need a refresh at
the same moment (two tabs on one app, or on two instances sharing Redis) make one token call; the
other waits for it and uses its result, a refused refresh included. A crashed holder's lock ends with
its lease, and the lease outlasts the refresh call."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from flask_google_signin import testing
from flask_google_signin.accounts.google_api import lock_lease

from ..calendar_fakes import CONNECT_TOKEN, FakeCalendar, connect, same_browser
from ..helpers import AuthActions, stored_record

REFRESHED = "ya29.test-access-token-refreshed"
TOKEN_CALL = 0.25  # seconds the fake token endpoint takes, so that the two page views overlap


def view_together(clients, path: str = "/calendar") -> list[str]:
    """Each client GETs `path` at the same moment, from its own thread; the pages, in order."""
    barrier = threading.Barrier(len(clients))

    def view(client) -> str:
        barrier.wait()
        response = client.get(path)
        assert response.status_code == 200, response.status_code
        return response.get_data(as_text=True)

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(view, clients))


def signed_in_with_calendar(app, google, **connect_options) -> tuple:
    calendar = FakeCalendar(google)
    auth = AuthActions(app.test_client(), google)
    auth.sign_in()
    connect(auth, **connect_options)
    calendar.token_delay = TOKEN_CALL
    return auth.client, calendar


def test_two_tabs_needing_a_refresh_make_one_token_call(app, google):
    """The token is about to expire: both page views want a refresh before calling the API."""
    first, calendar = signed_in_with_calendar(app, google, expires_in=30)
    pages = view_together([first, same_browser(app, first)])
    assert calendar.refreshes() == 1
    assert all("Stand-up" in page for page in pages)
    assert {call["authorization"] for call in calendar.calls} == {f"Bearer {REFRESHED}"}
    assert stored_record(app, first.get_cookie("session").value)["token"]["access_token"] == REFRESHED


def test_two_tabs_meeting_a_401_make_one_token_call(app, google):
    first, calendar = signed_in_with_calendar(app, google)
    calendar.accepted.discard(CONNECT_TOKEN)
    pages = view_together([first, same_browser(app, first)])
    assert calendar.refreshes() == 1
    assert all("Stand-up" in page for page in pages)


def test_a_refused_refresh_is_not_tried_again_by_the_tab_that_waited(app, google):
    """No refresh token is used twice: the waiter takes the holder's outcome, tokens dropped."""
    first, calendar = signed_in_with_calendar(app, google, expires_in=30)
    google.refresh_error = "invalid_grant"
    pages = view_together([first, same_browser(app, first)])
    assert calendar.refreshes() == 1 and calendar.calls == []
    assert all("Reconnect Google Calendar" in page for page in pages)
    assert "token" not in stored_record(app, first.get_cookie("session").value)


@pytest.fixture(params=["files", pytest.param("redis", marks=[pytest.mark.slow, pytest.mark.redis])])
def store_app(request, make_app):
    if request.param == "files":
        return make_app(PROVIDER_TIMEOUT=2)
    server = request.getfixturevalue("redis_server")
    return make_app(PROVIDER_TIMEOUT=2, SESSION_TYPE="redis", REDIS_URL=server.url)


def test_a_crashed_holders_lock_ends_with_its_lease(store_app, google):
    """A lock left by a request that died: the next page view waits for its lease, then refreshes."""
    client, calendar = signed_in_with_calendar(store_app, google, expires_in=30)
    calendar.token_delay = 0  # one page view: nothing to overlap, the wait is the lease's alone
    interface = store_app.session_interface
    session_id = client.get_cookie("session").value.partition(".")[0]
    testing.store(interface.app).put(f"refresh-lock:{interface.key_prefix}{session_id}", b"crashed", 2, exists=False)
    started = time.monotonic()
    page = client.get("/calendar").get_data(as_text=True)
    assert "Stand-up" in page and calendar.refreshes() == 1
    assert 0.9 < time.monotonic() - started < lock_lease_of(store_app)  # the file store counts whole seconds


def lock_lease_of(app) -> int:
    with app.app_context():
        return lock_lease()


def test_the_lease_outlasts_the_refresh_call(make_app):
    """oauth2-proxy issues 1580 and 3456: a lock shorter than the call lets two requests use one token."""
    app = make_app(PROVIDER_TIMEOUT=8, REDIS_TIMEOUT=0.5)
    assert lock_lease_of(app) > 8 + 2 * 0.5 * 2  # the call's hard deadline, and a store write with its retry


@pytest.mark.slow
@pytest.mark.redis
def test_two_instances_on_redis_make_one_token_call(make_app, google, redis_server):
    """The same browser on two instances (two apps, one Redis), both needing the refresh at once."""
    a = make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url)
    b = make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url)
    on_a, calendar = signed_in_with_calendar(a, google, expires_in=30)
    pages = view_together([on_a, same_browser(b, on_a)])
    assert calendar.refreshes() == 1
    assert all("Stand-up" in page for page in pages)
    assert stored_record(b, on_a.get_cookie("session").value)["token"]["access_token"] == REFRESHED
