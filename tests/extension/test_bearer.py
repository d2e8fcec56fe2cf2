"""Bearer Google ID tokens on `login_required(bearer=True)` views (RFC 6750): apps and services call a
host's API without a session. Tokens are minted by the fake Google's own RS256 key, with chosen claims."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from pathlib import Path

import pytest
import requests
from flask import Flask, jsonify
from flask_wtf import CSRFProtect
from joserfc.jwk import RSAKey

from flask_google_signin import GoogleSignIn, current_user, google_identity, login_required, parse_settings, testing

from ..helpers import CLIENT_ID, CLIENT_SECRET, GOOGLE, AuthActions
from ..hostile_provider import raw_jws

SITE_URL = "https://api.example.com"  # the audience services ask for (gcloud --audiences=URL)
ANDROID_CLIENT_ID = "123-android.apps.googleusercontent.com"
SERVICE_ACCOUNT = "reporter@project-42.iam.gserviceaccount.com"
SERVICE_ACCOUNT_ID = "117740296519487052399"  # a service account's sub and azp: its numeric id
AUDIENCES = f"{CLIENT_ID},{ANDROID_CLIENT_ID},{SITE_URL}"
PROBLEM = "application/problem+json"


def make_api(tmp_path, **config) -> Flask:
    """A host with a JSON API that takes bearer tokens, a POST one, and a page for signed-in users only."""
    app = Flask("api_host", root_path=str(tmp_path))
    config.setdefault("GOOGLE_SIGNIN_BEARER_AUDIENCES", AUDIENCES)
    app.config.update(SECRET_KEY="host-secret", GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                      GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"),
                      GOOGLE_SIGNIN_COOKIE_SECURE=False, **config)
    GoogleSignIn(app)

    @app.get("/api/whoami")
    @login_required(bearer=True)
    def whoami():
        who = google_identity()
        return jsonify(sub=current_user.sub, email=current_user.email, via=who.via, aud=who.claims.get("aud"))

    @app.post("/api/reports")
    @login_required(bearer=True)
    def add_report():
        return jsonify(added=True, by=current_user.sub)

    @app.get("/members")
    @login_required
    def members():
        return "members only"

    app.testing = True
    return app


def mint(google, key: RSAKey | None = None, header: dict | None = None, **changes) -> str:
    """An ID token from the fake Google for Ada (aud: the site's client id), with `changes` (None drops a claim)."""
    claims = {k: v for k, v in {**google.claims(), **changes}.items() if v is not None}
    return google.sign(claims, key, header)


def service_account_token(google, **changes) -> str:
    """What `gcloud auth print-identity-token --audiences=URL --include-email` gives a service account."""
    return mint(google, aud=SITE_URL, azp=SERVICE_ACCOUNT_ID, sub=SERVICE_ACCOUNT_ID, email=SERVICE_ACCOUNT,
                email_verified=True, name=None, picture=None, given_name=None, family_name=None, **changes)


def bearer(token: str, **headers: str) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}


def assert_no_session(response) -> None:
    assert response.headers.getlist("Set-Cookie") == []
    assert "Authorization" in response.vary


def refused_logs(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "bearer_refused"]


def jwks_fetches(google) -> int:
    return sum(1 for r in google.mocker.request_history if r.url == GOOGLE["jwks_uri"])


# --------------------------------------------------------------------------- accepted


def test_a_token_for_the_sites_client_id_is_the_requests_identity(tmp_path, google):
    app = make_api(tmp_path)
    response = app.test_client().get("/api/whoami", headers=bearer(mint(google)))
    assert response.status_code == 200, response.data
    assert response.json == {"sub": google.sub, "email": "ada@example.com", "via": "bearer", "aud": CLIENT_ID}
    assert_no_session(response)


@pytest.mark.parametrize(("aud", "azp"), [(CLIENT_ID, ANDROID_CLIENT_ID), (ANDROID_CLIENT_ID, ANDROID_CLIENT_ID)],
                         ids=["for-the-servers-client-id", "for-the-apps-own-client-id"])
def test_an_android_apps_token_passes_for_a_listed_audience_whatever_its_azp(tmp_path, google, aud, azp):
    app = make_api(tmp_path)
    response = app.test_client().get("/api/whoami", headers=bearer(mint(google, aud=aud, azp=azp)))
    assert response.status_code == 200, response.data
    assert response.json["aud"] == aud and response.json["via"] == "bearer"


def test_a_service_account_token_for_the_sites_url_passes_when_its_email_is_allowed(tmp_path, google):
    app = make_api(tmp_path, GOOGLE_SIGNIN_ALLOWED_EMAILS=f"someone@example.com,{SERVICE_ACCOUNT}")
    client = app.test_client()
    response = client.get("/api/whoami", headers=bearer(service_account_token(google)))
    assert response.status_code == 200, response.data
    assert response.json == {"sub": SERVICE_ACCOUNT_ID, "email": SERVICE_ACCOUNT, "via": "bearer", "aud": SITE_URL}
    posted = client.post("/api/reports", headers=bearer(service_account_token(google)))  # no CSRF token needed
    assert posted.status_code == 200 and posted.json == {"added": True, "by": SERVICE_ACCOUNT_ID}
    assert_no_session(posted)


def test_audiences_are_kept_as_written():
    """Client ids and URLs are case-sensitive: unlike the allow-lists, nothing is lower-cased."""
    parsed = parse_settings({"GOOGLE_SIGNIN_BEARER_AUDIENCES": " https://Api.Example.com/Run , 1-Ab.apps ,"})
    assert parsed["GOOGLE_SIGNIN_BEARER_AUDIENCES"] == ["https://Api.Example.com/Run", "1-Ab.apps"]


def test_the_user_loader_gets_the_bearer_identity_from_the_first_asker_on(tmp_path, google):
    app = make_api(tmp_path)
    signin = app.extensions["google_signin"]
    asked: list = []
    seen_first: list = []

    @signin.user_loader
    def load(identity):
        asked.append(identity)
        return {"host_user": identity.sub} if identity.sub == google.sub else None

    @app.before_request
    def hosts_own_hook():  # runs before the extension's own: the token is already the user here
        seen_first.append(current_user._get_current_object())

    @app.get("/api/host-user")
    @login_required(bearer=True)
    def host_user():
        return jsonify(current_user._get_current_object())

    client = app.test_client()
    response = client.get("/api/host-user", headers=bearer(mint(google)))
    assert response.status_code == 200 and response.json == {"host_user": google.sub}
    assert seen_first == [{"host_user": google.sub}]
    assert len(asked) == 1 and asked[0].via == "bearer" and asked[0].signing_in is False
    assert asked[0].claims["aud"] == CLIENT_ID and asked[0].email == "ada@example.com"
    refused = client.get("/api/host-user", headers=bearer(mint(google, sub="someone-unknown")))
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert "WWW-Authenticate" not in refused.headers
    assert_no_session(refused)


# --------------------------------------------------------------------------- RFC 6750: 401 and its challenge


def hs256(google, secret: bytes) -> str:
    return raw_jws({"alg": "HS256", "kid": google.key.kid, "typ": "JWT"}, google.claims(),
                   lambda data: hmac.new(secret, data, hashlib.sha256).digest())


OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "google-key-1"})  # same kid, not Google's key
INVALID_TOKENS = {
    "aud-another-sites": (lambda g: mint(g, aud="another-site.apps.googleusercontent.com"), "aud"),
    "aud-two-audiences": (lambda g: mint(g, aud=[CLIENT_ID, SITE_URL]), "aud"),
    "aud-missing": (lambda g: mint(g, aud=None), "aud"),
    "iss-not-google": (lambda g: mint(g, iss="https://accounts.example.com"), "iss"),
    "expired": (lambda g: mint(g, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), "expired"),
    "iat-in-the-future": (lambda g: mint(g, iat=int(time.time()) + 3600, exp=int(time.time()) + 7200), "future"),
    "sub-missing": (lambda g: mint(g, sub=None), "sub"),
    "alg-none": (lambda g: raw_jws({"alg": "none", "typ": "JWT"}, g.claims(), lambda _: b"x"),
                 "unsupported_algorithm"),
    "hs256-keyed-with-the-public-key": (lambda g: hs256(g, g.key.as_pem(private=False)), "unsupported_algorithm"),
    "hs256-keyed-with-the-client-secret": (lambda g: hs256(g, CLIENT_SECRET.encode()), "unsupported_algorithm"),
    "signed-by-another-key": (lambda g: mint(g, key=OTHER_KEY), "bad_signature"),
    "signature-cut": (lambda g: mint(g).rsplit(".", 1)[0] + ".AAAA", "bad_signature"),
    "not-a-jwt": (lambda g: "not-a-jwt", "malformed"),
    "a-jwe": (lambda g: "a.b.c.d.e", "malformed"),
    "non-ascii": (lambda g: "é" + mint(g), "malformed"),
    "huge-header": (lambda g: raw_jws({"alg": "RS256", "kid": "google-key-1", "x": "y" * 20_000}, g.claims(),
                                      lambda _: b"x"), "malformed"),
    "header-not-json": (lambda g: "bm90IGpzb24." + mint(g).split(".", 1)[1], "decode_error"),
}


@pytest.mark.parametrize("case", INVALID_TOKENS)
def test_an_invalid_token_is_401_invalid_token_with_problem_details(tmp_path, google, caplog, case):
    caplog.set_level(logging.INFO)
    make, reason = INVALID_TOKENS[case]
    token = make(google)
    app = make_api(tmp_path)
    response = app.test_client().get("/api/whoami", headers=bearer(token))
    assert response.status_code == 401, response.data
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="localhost", error="invalid_token", error_description="')
    assert reason in challenge
    assert response.mimetype == PROBLEM
    assert response.json["status"] == 401 and response.json["title"] == "Invalid token"
    assert_no_session(response)
    [line] = refused_logs(caplog)
    assert reason in line.reason and line.sub is None
    assert token[:40] not in everything_logged(caplog)


def test_an_unknown_kid_refetches_the_keys_once_then_is_refused(tmp_path, google):
    app = make_api(tmp_path)
    client = app.test_client()
    assert client.get("/api/whoami", headers=bearer(mint(google))).status_code == 200
    assert jwks_fetches(google) == 1
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-googles"})
    response = client.get("/api/whoami", headers=bearer(mint(google, key=stranger)))
    assert response.status_code == 401 and 'error_description="invalid_key_id"' in response.headers["WWW-Authenticate"]
    assert jwks_fetches(google) == 2
    assert client.get("/api/whoami", headers=bearer(mint(google, key=stranger))).status_code == 401
    assert jwks_fetches(google) == 2  # a second stranger within 30 s refetches nothing


@pytest.mark.parametrize("authorization", [None, "", "Basic YWRhOnNlY3JldA==", "Bearer", "Bearer   ",
                                           "Token abc.def.ghi", "abc.def.ghi"],
                         ids=["none", "empty", "basic", "bearer-without-token", "bearer-blank", "other-scheme",
                              "no-scheme"])
@pytest.mark.parametrize("accept", [None, "application/json"], ids=["any-accept", "json"])
def test_no_credentials_on_an_api_call_is_401_with_a_bare_challenge(tmp_path, google, authorization, accept):
    """Without a session cookie the caller is not a browser to send to the sign-in, even without Accept."""
    app = make_api(tmp_path)
    headers = {k: v for k, v in {"Authorization": authorization, "Accept": accept}.items() if v is not None}
    response = app.test_client().get("/api/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="localhost"'
    assert response.mimetype == PROBLEM and response.json["login_url"] == "/login?next=/api/whoami"
    assert_no_session(response)
    assert jwks_fetches(google) == 0


def test_the_realm_is_the_pinned_public_host(tmp_path, google):
    app = make_api(tmp_path, GOOGLE_SIGNIN_PUBLIC_BASE_URL="https://api.example.com")
    response = app.test_client().get("/api/whoami", base_url="https://api.example.com")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api.example.com"'


def test_the_hosts_unauthorized_handler_answers_and_a_401_keeps_the_challenge(tmp_path, google):
    app = make_api(tmp_path)

    @app.extensions["google_signin"].unauthorized_handler
    def unauthorized():
        return {"error": "sign in first"}, 401

    response = app.test_client().get("/api/whoami")
    assert response.status_code == 401 and response.json == {"error": "sign in first"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="localhost"'


def test_a_browser_with_a_session_cookie_is_sent_to_the_sign_in_as_on_any_page(tmp_path, google):
    app = make_api(tmp_path)
    client = app.test_client()
    client.set_cookie("session", "a-visitors-cookie")
    response = client.get("/api/whoami")
    assert response.status_code == 302 and response.location == "/login?next=/api/whoami"


# --------------------------------------------------------------------------- sessions, plain views, no audiences


def test_a_signed_in_session_wins_over_a_token(tmp_path, google):
    app = make_api(tmp_path)
    auth = AuthActions(app.test_client(), google)
    assert auth.sign_in().status_code == 302
    by_cookie = auth.client.get("/api/whoami")
    assert by_cookie.status_code == 200 and by_cookie.json["via"] == "session"
    both = auth.client.get("/api/whoami", headers=bearer(mint(google, sub="someone-else")))
    assert both.status_code == 200 and both.json["sub"] == google.sub and both.json["via"] == "session"


def test_a_token_on_a_plain_login_required_view_is_ignored(tmp_path, google):
    app = make_api(tmp_path)
    client = app.test_client()
    page = client.get("/members", headers=bearer(mint(google)))
    assert page.status_code == 302 and page.location == "/login?next=/members"
    api = client.get("/members", headers=bearer(mint(google), Accept="application/json"))
    assert api.status_code == 401 and "WWW-Authenticate" not in api.headers
    assert jwks_fetches(google) == 0


def test_without_audiences_a_bearer_view_is_a_plain_login_required_one(tmp_path, google):
    app = make_api(tmp_path, GOOGLE_SIGNIN_BEARER_AUDIENCES="")
    client = app.test_client()
    api = client.get("/api/whoami", headers=bearer(mint(google), Accept="application/json"))
    assert api.status_code == 401 and api.mimetype == PROBLEM and "WWW-Authenticate" not in api.headers
    page = client.get("/api/whoami", headers=bearer(mint(google)))
    assert page.status_code == 302
    assert jwks_fetches(google) == 0


# --------------------------------------------------------------------------- 403: a valid token, a refused user


@pytest.mark.parametrize(("config", "changes", "reason"), [
    ({"GOOGLE_SIGNIN_ALLOWED_DOMAINS": "example.org"}, {}, "not a Workspace account (no hd claim)"),
    ({"GOOGLE_SIGNIN_ALLOWED_DOMAINS": "example.org"}, {"hd": "example.com"}, "account not on the allow-list"),
    ({"GOOGLE_SIGNIN_ALLOWED_EMAILS": "ada@example.com"}, {"email_verified": False}, "email not verified"),
    ({"GOOGLE_SIGNIN_ALLOWED_EMAILS": "ada@example.com"}, {"email": "eve@example.com"},
     "account not on the allow-list"),
], ids=["no-hd", "other-domain", "email-not-verified", "other-email"])
def test_a_valid_token_of_a_user_the_allow_lists_refuse_is_403(tmp_path, google, caplog, config, changes, reason):
    caplog.set_level(logging.INFO)
    app = make_api(tmp_path, **config)
    response = app.test_client().get("/api/whoami", headers=bearer(mint(google, **changes)))
    assert response.status_code == 403 and response.mimetype == PROBLEM
    assert response.json["status"] == 403 and "WWW-Authenticate" not in response.headers
    assert_no_session(response)
    [line] = refused_logs(caplog)
    assert (line.reason, line.sub, line.status) == (reason, google.sub, 403)


def test_a_service_account_not_on_the_allow_list_is_403(tmp_path, google):
    app = make_api(tmp_path, GOOGLE_SIGNIN_ALLOWED_DOMAINS="example.com")  # no hd: a domain never admits one
    response = app.test_client().get("/api/whoami", headers=bearer(service_account_token(google)))
    assert response.status_code == 403


def test_the_csrf_recipe_asks_a_token_of_cookie_callers_only(tmp_path, google):
    """docs/bearer.md: with the host's blanket CSRFProtect, a bearer POST view exempt from it checks
    Flask-WTF's token itself, for session callers only."""
    app = make_api(tmp_path, GOOGLE_SIGNIN_ALLOWED_EMAILS="ada@example.com")
    csrf = CSRFProtect(app)

    @app.post("/api/notes")
    @csrf.exempt
    @login_required(bearer=True)
    def add_note():
        if google_identity().via == "session":
            csrf.protect()
        return jsonify(added=True)

    by_token = app.test_client().post("/api/notes", headers=bearer(mint(google)))
    assert by_token.status_code == 200
    auth = AuthActions(app.test_client(), google)
    assert auth.sign_in().status_code == 302
    assert auth.client.post("/api/notes").status_code == 400  # a browser's POST without the form's token
    assert auth.client.post("/api/reports").status_code == 400  # not exempt: CSRFProtect's own check


def test_a_provider_whose_keys_cannot_be_had_is_503_problem_details(tmp_path, google):
    google.mocker.get(GOOGLE["jwks_uri"], exc=requests.ConnectionError)
    app = make_api(tmp_path)
    response = app.test_client().get("/api/whoami", headers=bearer(mint(google)))
    assert response.status_code == 503 and response.mimetype == PROBLEM
    assert response.headers["Retry-After"] == "10" and "WWW-Authenticate" not in response.headers
    assert_no_session(response)


def test_audiences_without_an_allow_list_warn_at_start(tmp_path, caplog):
    make_api(tmp_path)
    assert any("GOOGLE_SIGNIN_BEARER_AUDIENCES is set without" in r.getMessage() for r in caplog.records)
    caplog.clear()
    make_api(tmp_path, GOOGLE_SIGNIN_ALLOWED_EMAILS=SERVICE_ACCOUNT)
    make_api(tmp_path, GOOGLE_SIGNIN_BEARER_AUDIENCES="")
    assert not any("BEARER_AUDIENCES" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- nothing stored, nothing logged


def everything_logged(caplog) -> str:
    return "\n".join([*(r.getMessage() for r in caplog.records),
                      *(str(v) for r in caplog.records for v in vars(r).values())])


def store_snapshot(app) -> dict:
    """Every key and value the store holds (Redis), or every file with its size and time (files)."""
    records = testing.store(app)
    if hasattr(records, "client"):
        return {key: records.client.dump(key) for key in records.client.scan_iter()}
    folder = Path(app.config["GOOGLE_SIGNIN_SESSION_CACHELIB_DIR"])
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_bearer_requests_write_nothing_set_no_cookie_and_log_no_token(tmp_path, google, caplog, store_config):
    caplog.set_level(logging.DEBUG)
    app = make_api(tmp_path, GOOGLE_SIGNIN_ALLOWED_EMAILS=f"ada@example.com,{SERVICE_ACCOUNT}", **store_config)
    client = app.test_client()
    signed_in = AuthActions(app.test_client(), google)  # someone signed in already: the store is not empty
    assert signed_in.sign_in().status_code == 302
    before = store_snapshot(app)
    assert before
    good, service = mint(google), service_account_token(google)
    tokens = [good, service, mint(google, aud="elsewhere"), mint(google, email="eve@example.com"), "not-a-jwt"]
    answers = [client.get("/api/whoami", headers=bearer(token)) for token in tokens]
    answers += [client.post("/api/reports", headers=bearer(good)), client.get("/api/whoami")]
    assert [r.status_code for r in answers] == [200, 200, 401, 403, 401, 200, 401]
    for response in answers:
        assert_no_session(response)
    assert client.get_cookie("session") is None
    assert store_snapshot(app) == before
    logged = everything_logged(caplog)
    for token in tokens[:4]:
        assert token.rsplit(".", 1)[1] not in logged and token.split(".")[1] not in logged
