"""Integration against a real oidc-provider-mock on 127.0.0.1, through the Flask test client."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

pytestmark = pytest.mark.slow


@pytest.fixture
def provider_app(make_app, local_provider):
    return make_app(GOOGLE_CLIENT_ID="integration-client", GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url)


def sign_in_at_provider(client, sub: str, next_url: str | None = None):
    """The browser's part: follow /login to the provider, pick a user, come back with the code."""
    start = client.get("/login", query_string={"next": next_url} if next_url else None)
    assert start.status_code == 302
    answer = requests.post(start.location, data={"sub": sub}, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    return client.get(back.path, query_string=back.query)


def test_sign_in_against_real_provider(provider_app):
    client = provider_app.test_client()
    response = sign_in_at_provider(client, "alice", "/profile")
    assert response.status_code == 302 and response.location == "/profile"
    html = client.get("/profile").get_data(as_text=True)
    assert "Alice Example" in html and "alice@example.com" in html and "Local test provider" in html


def test_unknown_user_signs_in_with_sub_only(provider_app):
    client = provider_app.test_client()
    assert sign_in_at_provider(client, "carol@example.net").status_code == 302
    html = client.get("/profile").get_data(as_text=True)
    assert "carol@example.net" in html and "not verified" in html


def test_deny_at_provider_is_403(provider_app):
    client = provider_app.test_client()
    start = client.get("/login")
    answer = requests.post(start.location, data={"action": "deny"}, allow_redirects=False, timeout=5)
    back = urlsplit(answer.headers["Location"])
    response = client.get(back.path, query_string=back.query)
    assert response.status_code == 403
    assert client.get("/profile").status_code == 302


def test_code_cannot_be_used_twice(provider_app):
    client = provider_app.test_client()
    start = client.get("/login")
    answer = requests.post(start.location, data={"sub": "bob"}, allow_redirects=False, timeout=5)
    back = urlsplit(answer.headers["Location"])
    assert client.get(back.path, query_string=back.query).status_code == 302
    other = provider_app.test_client()  # an attacker replaying the callback URL elsewhere
    assert other.get(back.path, query_string=back.query).status_code == 400


def test_refresh_against_real_provider(provider_app):
    client = provider_app.test_client()
    sign_in_at_provider(client, "alice")
    with client.session_transaction() as sess:
        old = sess["token"]["access_token"]
        sess["token"] = {**sess["token"], "expires_at": 1}
    assert client.get("/profile").status_code == 200
    with client.session_transaction() as sess:
        assert sess["token"]["access_token"] != old and sess["token"]["expires_at"] > 1
