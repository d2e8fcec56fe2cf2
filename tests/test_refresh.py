"""Refresh tokens over real HTTP: a provider whose access tokens live 30 s, so the first page view
after sign-in finds the token about to expire (the app refreshes within 60 s of expiry)."""

from __future__ import annotations

import time

import pytest
import requests

from .servers import TIMEOUT, Browser, LoggedProvider, redis_pair, stored_session

pytestmark = [pytest.mark.slow, pytest.mark.redis]

TOKEN_MAX_AGE = 30


@pytest.fixture(scope="module")
def short_provider(tmp_path_factory):
    provider = LoggedProvider(tmp_path_factory.mktemp("provider") / "provider.log",
                              "--token-max-age", str(TOKEN_MAX_AGE))
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def pair(gunicorn_factory, redis_server, short_provider):
    return redis_pair(gunicorn_factory, redis_server, short_provider, "refresh")


def userinfo_status(provider: LoggedProvider, access_token: str) -> int:
    return requests.get(f"{provider.url}/userinfo", headers={"Authorization": f"Bearer {access_token}"},
                        timeout=TIMEOUT).status_code


def test_expiring_token_is_refreshed_and_saved_for_every_instance(pair, redis_store, short_provider):
    a, b = pair
    user = Browser()
    user.sign_in(a.url, "refresh-ok@example.com")
    before = stored_session(redis_store, user.sid)["token"]
    assert before["refresh_token"] and before["expires_at"] - time.time() <= TOKEN_MAX_AGE
    refreshes = short_provider.calls().count("POST /oauth2/token")

    page = user.get(f"{b.url}/profile")
    assert page.status_code == 200 and "refresh-ok@example.com" in page.text
    after = stored_session(redis_store, user.sid)["token"]
    assert short_provider.calls().count("POST /oauth2/token") == refreshes + 1
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"]  # still held, server-side
    assert after["expires_at"] >= before["expires_at"]
    # The saved token is the live one: the provider dropped the old access token at refresh.
    assert userinfo_status(short_provider, after["access_token"]) == 200
    assert userinfo_status(short_provider, before["access_token"]) in (400, 401)
    # A's next page view uses the token B saved (the mock's refreshed tokens live an hour), so it
    # neither refreshes again nor falls back to the old one.
    assert user.get(f"{a.url}/profile").status_code == 200
    assert short_provider.calls().count("POST /oauth2/token") == refreshes + 1
    assert stored_session(redis_store, user.sid)["token"] == after

def test_refused_refresh_ends_the_session_with_a_message(pair, redis_store, short_provider):
    a, b = pair
    user = Browser()
    user.sign_in(a.url, "refresh-revoked@example.com")
    sid = user.sid
    short_provider.revoke("refresh-revoked@example.com")

    response = user.get(f"{b.url}/profile")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert stored_session(redis_store, sid) is None  # the signed-in record is gone, not just hidden
    home = user.get(f"{a.url}/")
    assert home.status_code == 200
    assert "Your Google access was revoked or has expired. Please sign in again." in home.text
    again = user.get(f"{a.url}/profile")
    assert again.status_code == 302 and "/login" in again.headers["Location"]
    # The old cookie is worthless everywhere.
    replay = Browser()
    replay.http.cookies.set("session", sid)
    assert replay.get(f"{b.url}/profile").status_code == 302

