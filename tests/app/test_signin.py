"""The sign-in flow against Google's endpoints as faked by requests-mock: the redirect with PKCE, nonce
and scope; sign-in, profile and sign-out; state and codes that are missing, forged, replayed, from
another browser or already used are refused; an unreachable provider is a 503; no token reaches the
cookie; discovery and keys are fetched once."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from ..helpers import CLIENT_ID


def test_home_shows_sign_in_button_when_anonymous(client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/login"' in page and "Sign in with Google" in page
    assert "Sign out" not in page


def test_login_redirects_to_google_with_pkce_nonce_and_scope(auth):
    params = auth.start()
    assert params["client_id"] == CLIENT_ID
    assert params["response_type"] == "code"
    assert params["scope"] == "openid email profile"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["nonce"]) >= 20 and len(params["state"]) >= 20
    assert params["redirect_uri"] == "http://localhost/callback"
    assert "access_type" not in params and "hd" not in params


def test_full_sign_in_shows_profile_then_sign_out(auth, client, google):
    response = auth.sign_in(next="/profile")
    assert response.status_code == 302 and response.location == "/profile"
    # the code was exchanged with the PKCE verifier and our client credentials
    exchange = google.token_requests[-1]
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]
    profile = client.get("/profile")
    assert profile.status_code == 200
    html = profile.get_data(as_text=True)
    for expected in ("Ada Lovelace", "ada@example.com", "verified", "https://lh3.googleusercontent.com/a/test-avatar",
                     "https://www.googleapis.com/auth/userinfo.email", "Access token expires", "given_name"):
        assert expected in html
    for secret in (google.access_token, google.refresh_token, "id_token", "eyJ"):
        assert secret not in html
    home = client.get("/").get_data(as_text=True)
    assert "Hello, Ada Lovelace" in home and 'href="/profile"' in home

    out = auth.logout()
    assert out.status_code == 303 and out.location == "/"
    home = client.get("/").get_data(as_text=True)
    assert "You have been signed out." in home and "Sign in with Google" in home
    assert client.get("/profile").status_code == 302


def test_profile_sends_anonymous_visitor_through_login(client):
    response = client.get("/profile")
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/login"
    assert parse_qs(urlsplit(response.location).query)["next"] == ["/profile"]


def test_profile_shows_hd_and_locale_when_present(auth, client, google):
    google.id_claims = {"hd": "example.com"}
    google.userinfo_extra = {"hd": "example.com", "locale": "en-GB"}
    auth.sign_in()
    html = client.get("/profile").get_data(as_text=True)
    assert "Workspace domain" in html and "example.com" in html and "en-GB" in html


def test_profile_picture_falls_back_to_initials(auth, client, google):
    google.id_claims = {"picture": None}
    auth.sign_in()
    html = client.get("/profile").get_data(as_text=True)
    assert 'class="avatar avatar-large avatar-initials"' in html and ">AL<" in html


def test_signed_in_user_visiting_login_goes_to_next(auth, client):
    auth.sign_in()
    response = client.get("/login?next=/profile")
    assert response.status_code == 302 and response.location == "/profile"


@pytest.mark.parametrize(
    ("error", "status"),
    [("access_denied", 403), ("temporarily_unavailable", 503), ("server_error", 502), ("invalid_scope", 400)],
)
def test_provider_error_gives_friendly_page(auth, client, error, status):
    params = auth.start()
    response = client.get("/callback", query_string={"error": error, "state": params["state"],
                                                     "error_description": "<script>alert(1)</script>"})
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert "Try again" in html and "Traceback" not in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert client.get("/profile").status_code == 302  # nobody signed in
    # the pending sign-in is spent: the same state cannot be used again
    assert auth.callback(params).status_code == 400


@pytest.mark.parametrize("state", [None, "", "forged-state-value"])
def test_missing_or_forged_state_is_refused(auth, client, state):
    auth.start()
    response = client.get("/callback", query_string={"code": "4/good-code", **({"state": state} if state is not None
                                                                                else {})})
    assert response.status_code == 400
    assert "Try again" in response.get_data(as_text=True)
    assert client.get("/profile").status_code == 302


def test_replayed_state_is_refused(auth, client):
    params = auth.start()
    assert auth.callback(params).status_code == 302
    auth.logout()
    assert auth.callback(params).status_code == 400
    assert client.get("/profile").status_code == 302


def test_state_from_another_browser_is_refused(auth, app, google):
    params = auth.start()  # the attacker's own pending sign-in
    victim = app.test_client()
    google.codes.add("4/attacker-code")
    response = victim.get("/callback", query_string={"code": "4/attacker-code", "state": params["state"]})
    assert response.status_code == 400
    assert victim.get("/profile").status_code == 302


@pytest.mark.parametrize("code", ["4/unknown-code", None])
def test_unknown_or_missing_code_is_refused(auth, client, google, code):
    params = auth.start()
    response = client.get("/callback", query_string={"state": params["state"], **({"code": code} if code else {})})
    assert response.status_code == 400
    assert "Try again" in response.get_data(as_text=True)
    assert client.get("/profile").status_code == 302


def test_used_code_is_refused(auth, client, google):
    params = auth.start()
    assert auth.callback(params, code="4/once").status_code == 302
    auth.logout()
    params = auth.start()
    google.codes.discard("4/once")
    response = client.get("/callback", query_string={"code": "4/once", "state": params["state"]})
    assert response.status_code == 400
    assert client.get("/profile").status_code == 302


def test_unreachable_provider_gives_503(auth, client, google):
    import requests

    params = auth.start()
    google.mocker.post("https://oauth2.googleapis.com/token", exc=requests.ConnectionError("refused"))
    response = auth.callback(params)
    assert response.status_code == 503
    assert "could not be reached" in response.get_data(as_text=True)
    assert client.get("/profile").status_code == 302


def test_unreachable_discovery_at_login_gives_503(client, google):
    import requests

    google.mocker.get("https://accounts.google.com/.well-known/openid-configuration",
                      exc=requests.ConnectTimeout("timed out"))
    response = client.get("/login")
    assert response.status_code == 503
    assert "Try again" in response.get_data(as_text=True)


def test_tokens_never_reach_the_cookie(auth, client, google):
    response = auth.sign_in()
    cookie = response.headers["Set-Cookie"]
    assert google.access_token not in cookie and "eyJ" not in cookie
    assert len(cookie.split(";")[0].split("=", 1)[1]) < 64  # the cookie is only a session id


def test_metadata_and_jwks_are_cached(auth, google):
    auth.sign_in()
    auth.logout()
    before = [r.url for r in google.mocker.request_history]
    auth.sign_in()
    warm = [r.url for r in google.mocker.request_history][len(before):]
    assert warm == ["https://oauth2.googleapis.com/token", "https://openidconnect.googleapis.com/v1/userinfo"]
