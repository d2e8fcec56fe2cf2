"""The authorization URL is built by the app (GoogleClient.start), not by Authlib: pin what it holds."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

from flask_google_signin.oidc.client import google as google_client

from ..helpers import pending_record


def query(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


def test_url_and_pending_sign_in_agree(app, client, google):
    location = client.get("/login?next=/profile").location
    assert location.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    params = query(location)
    assert all(len(v) == 1 for v in params.values()), params
    params = {k: v[0] for k, v in params.items()}
    data = pending_record(app, client, params["state"])["data"]
    verifier = data["code_verifier"]
    assert 43 <= len(verifier) <= 128 and set(verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert params["code_challenge"] == challenge and params["code_challenge_method"] == "S256"
    assert params["nonce"] == data["nonce"] and len(params["nonce"]) >= 32 and len(params["state"]) >= 32
    assert params["response_type"] == "code" and params["scope"] == "openid email profile"
    assert params["client_id"] == app.config["GOOGLE_CLIENT_ID"]
    assert params["redirect_uri"] == data["redirect_uri"] == "http://localhost/callback"
    assert data["next"] == "/profile"
    assert "url" not in data  # the URL itself is not worth a place in every pending record


def test_each_login_draws_fresh_values(client, google):
    first, second = query(client.get("/login").location), query(client.get("/login").location)
    for name in ("state", "nonce", "code_challenge"):
        assert first[name] != second[name]


def test_extra_parameters_cannot_replace_the_security_ones(app, google):  # google: the fake, so no network
    with app.test_request_context("/login"):
        location = google_client().start("http://localhost/callback", "/", code_challenge_method="plain",
                                         state="fixed", nonce="fixed", scope="openid", access_type="offline")
    params = {k: v[0] for k, v in query(location).items()}
    assert params["code_challenge_method"] == "S256" and params["state"] != "fixed"
    assert params["nonce"] != "fixed" and params["scope"] == "openid email profile"
    assert params["access_type"] == "offline"



def test_the_encoded_part_is_per_redirect_uri_and_scope(app, google):
    """oidc/client.py authorize_prefix caches the fixed part of the URL: each redirect URI, scope set and extra
    parameter keeps its own, and the fresh values are still fresh."""
    with app.test_request_context("/login"):
        client = google_client()
        urls = [client.start(uri, "/", **extra) for uri, extra in [
            ("https://a.example/callback", {}), ("https://b.example/callback", {}),
            ("https://a.example/callback", {"hd": "example.com"}), ("https://a.example/callback", {})]]
    params = [{k: v[0] for k, v in query(url).items()} for url in urls]
    assert [p["redirect_uri"] for p in params] == ["https://a.example/callback", "https://b.example/callback",
                                                   "https://a.example/callback", "https://a.example/callback"]
    assert "hd" not in params[0] and params[2]["hd"] == "example.com" and "hd" not in params[3]
    assert len({p["state"] for p in params}) == len({p["code_challenge"] for p in params}) == 4
