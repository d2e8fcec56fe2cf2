"""Refresh tokens over real HTTP: a provider whose access tokens live 30 s, so the first page view
after sign-in finds the token about to expire (the app refreshes within 60 s of expiry)."""

from __future__ import annotations

import time

import pytest
import requests

from ..helpers import Provider
from ..servers import TIMEOUT, Browser, redis_pair, stored_session

pytestmark = [pytest.mark.slow, pytest.mark.redis]

TOKEN_MAX_AGE = 30


@pytest.fixture(scope="module")
def short_provider(tmp_path_factory):
    provider = Provider(None, "--token-max-age", str(TOKEN_MAX_AGE),
                        log_path=tmp_path_factory.mktemp("provider") / "provider.log")
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def pair(gunicorn_factory, redis_server, short_provider):
    return redis_pair(gunicorn_factory, redis_server, short_provider, "refresh")


def userinfo_status(provider: Provider, access_token: str) -> int:
    return requests.get(f"{provider.url}/userinfo", headers={"Authorization": f"Bearer {access_token}"},
                        timeout=TIMEOUT).status_code


def test_expiring_token_is_refreshed_and_saved_for_every_instance(pair, redis_store, short_provider):
    a, b = pair
    user = Browser()
    user.sign_in(a.url, "refresh-ok@example.com")
    before = stored_session(redis_store, user.sid, "refresh-client")["token"]
    assert before["refresh_token"] and before["expires_at"] - time.time() <= TOKEN_MAX_AGE
    refreshes = short_provider.calls().count("POST /oauth2/token")

    page = user.get(f"{b.url}/profile")
    assert page.status_code == 200 and "refresh-ok@example.com" in page.text
    after = stored_session(redis_store, user.sid, "refresh-client")["token"]
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
    assert stored_session(redis_store, user.sid, "refresh-client")["token"] == after

def test_refused_refresh_drops_the_tokens_and_keeps_the_user_signed_in(pair, redis_store, short_provider):
    """Identity and Google access are separate: a grant that is gone ends the tokens, not the session."""
    a, b = pair
    user = Browser()
    user.sign_in(a.url, "refresh-revoked@example.com")
    sid = user.sid
    short_provider.revoke("refresh-revoked@example.com")

    response = user.get(f"{b.url}/profile")
    assert response.status_code == 200 and "Google access has ended" in response.text
    assert "Sign in again to renew access" in response.text
    record = stored_session(redis_store, sid, "refresh-client")
    assert record["user"]["email"] == "refresh-revoked@example.com" and "token" not in record
    assert "refresh_refused" in b.logs()
    again = user.get(f"{a.url}/profile")  # the other instance sees the same: signed in, no access
    assert again.status_code == 200 and "Google access has ended" in again.text
    # Renewing: /login starts a new sign-in although the user is signed in.
    renew = user.get(f"{a.url}/login?next=/profile")
    assert renew.status_code == 302 and renew.headers["Location"].startswith(short_provider.url)

