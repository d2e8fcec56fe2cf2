"""The reference app's JSON API, `GET /api/me`: the caller's identity by session cookie or by bearer ID token."""

from __future__ import annotations

from ..helpers import CLIENT_ID, AuthActions

SITE_URL = "https://signin.example.com"
SERVICE_ACCOUNT = "deployer@project-42.iam.gserviceaccount.com"


def test_api_me_by_session_cookie(auth, client, google):
    assert auth.sign_in().status_code == 302
    response = client.get("/api/me")
    assert response.status_code == 200
    assert response.json == {"sub": google.sub, "email": "ada@example.com", "email_verified": True,
                             "name": "Ada Lovelace", "hd": None, "via": "session"}
    assert response.headers["Cache-Control"] == "no-store"


def test_api_me_by_a_service_accounts_bearer_token(make_app, google):
    app = make_app(GOOGLE_SIGNIN_BEARER_AUDIENCES=f"{CLIENT_ID},{SITE_URL}", ALLOWED_EMAILS=SERVICE_ACCOUNT)
    claims = {**google.claims(), "aud": SITE_URL, "azp": "1177402965", "sub": "1177402965",
              "email": SERVICE_ACCOUNT, "email_verified": True}
    for key in ("name", "picture", "given_name", "family_name"):
        claims.pop(key)
    client = app.test_client()
    response = client.get("/api/me", headers={"Authorization": f"Bearer {google.sign(claims)}"})
    assert response.status_code == 200, response.data
    assert response.json == {"sub": "1177402965", "email": SERVICE_ACCOUNT, "email_verified": True, "name": None,
                             "hd": None, "via": "bearer"}
    assert response.headers.getlist("Set-Cookie") == []
    ada = client.get("/api/me", headers={"Authorization": f"Bearer {google.sign(google.claims())}"})
    assert ada.status_code == 403  # a valid token, for the client id, of someone not on ALLOWED_EMAILS


def test_api_me_without_credentials_is_401_with_a_challenge(make_app, google):
    app = make_app(GOOGLE_SIGNIN_BEARER_AUDIENCES=SITE_URL)
    response = app.test_client().get("/api/me")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Bearer realm="localhost"'
    signed_in = AuthActions(app.test_client(), google)
    assert signed_in.sign_in().status_code == 302
    assert signed_in.client.get("/api/me").json["via"] == "session"  # bearer tokens on, cookies still work
