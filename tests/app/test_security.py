"""The browser side of sign-in: a new session id at sign-in, sign-out only by POST with this session's
CSRF token (revoking at Google, briefly), pending sign-ins and anonymous records that expire, `next`
only to local paths, security headers, cookie flags, proxies trusted only when configured, the pinned
redirect URI, idle and absolute lifetimes, allow-lists of domains and emails, Google's issuer in either
spelling only, and logs that say who and why and never hold a secret.

Against FakeGoogle (requests-mock) through the Flask test client: fast, and nothing leaves the process.
"""

from __future__ import annotations

import logging
import os
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import flask_google_signin.oidc.client as oidc
import flask_google_signin.sessions.pending as sessions
import flask_google_signin.store.files as store
import flask_google_signin.web.guard as guard
from app import create_app
from app.config import load_settings
from flask_google_signin import error_page

from ..helpers import (
    CLIENT_SECRET,
    AuthActions,
    base_config,
    pending_count,
    pending_record,
    set_cookie,
    stored_record,
)


def sid(response) -> str:
    value = set_cookie(response, "session")
    assert value, response.headers.getlist("Set-Cookie")
    return value


def signed_in(client) -> bool:
    with client.session_transaction() as sess:
        return "user" in sess


def redirect_uri_of(response) -> str:
    return parse_qs(urlsplit(response.location).query)["redirect_uri"][0]


def store_has(app, session_id: str) -> bool:
    return stored_record(app, session_id) is not None


# --------------------------------------------------------------------------- session fixation and sign-out


def test_sign_in_issues_a_new_session_id(app, auth, client):
    """OWASP: what a visitor's cookie held before signing in (perhaps planted by an attacker) signs
    nobody in: the signed-in session is a new server-side record under a new id."""
    client.set_cookie("session", "attacker-planted-session-id")
    with client.session_transaction() as sess:  # a visitor's session, as a flash message makes
        sess["note"] = "before sign-in"
    before = client.get_cookie("session").value
    assert before != "attacker-planted-session-id" and not store_has(app, before)  # a signed cookie
    planted = app.test_client()
    planted.set_cookie("session", before)  # the attacker knows the visitor's cookie
    after = sid(auth.callback(auth.start()))
    assert after != before and store_has(app, after)
    assert signed_in(client)
    assert stored_record(app, after)["note"] == "before sign-in"  # the host's data came along
    assert planted.get("/profile").status_code == 302  # the old cookie is not signed in


def test_sign_out_deletes_the_server_side_record(app, auth, client):
    old = sid(auth.sign_in())
    thief = app.test_client()
    thief.set_cookie("session", old)  # a copy of the cookie, taken while signed in
    assert thief.get("/profile").status_code == 200
    assert store_has(app, old)
    response = auth.logout()
    assert response.status_code == 303
    assert not store_has(app, old)
    assert thief.get("/profile").status_code == 302  # the copied cookie is dead
    assert sid(response) != old


def test_get_logout_does_not_sign_out(auth, client):
    auth.sign_in()
    page = client.get("/logout")
    assert page.status_code == 200 and 'action="/logout"' in page.get_data(as_text=True)
    assert signed_in(client) and client.get("/profile").status_code == 200


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_logout_without_a_valid_csrf_token_does_not_sign_out(auth, client, google, token):
    auth.sign_in()
    response = client.post("/logout", data={} if token is None else {"csrf_token": token})
    assert response.status_code == 400
    assert signed_in(client) and client.get("/profile").status_code == 200
    assert google.revoked == []


def test_csrf_token_of_another_session_is_refused(app, auth, client, google):
    auth.sign_in()
    attacker = AuthActions(app.test_client(), google)
    attacker.sign_in()  # the attacker's own, valid, token
    response = client.post("/logout", data={"csrf_token": attacker.csrf_token()})
    assert response.status_code == 400
    assert signed_in(client)


def test_sign_out_revokes_the_token(auth, client, google):
    auth.sign_in()
    auth.logout()
    assert google.revoked == [google.refresh_token]


def test_sign_out_revokes_the_access_token_when_there_is_no_refresh_token(auth, client, google):
    google.refresh_token = None
    auth.sign_in()
    auth.logout()
    assert google.revoked == [google.access_token]


@pytest.mark.parametrize("failure", [requests.ConnectionError("refused"), requests.ReadTimeout("slow")])
def test_sign_out_survives_a_failing_revocation(auth, client, google, caplog, failure):
    auth.sign_in()
    google.mocker.post("https://oauth2.googleapis.com/revoke", exc=failure)
    response = auth.logout()
    assert response.status_code == 303
    assert not signed_in(client) and client.get("/profile").status_code == 302
    assert any(getattr(r, "event", None) == "revoke_failed" for r in caplog.records)


def test_revocation_has_a_short_timeout(auth, client, google):
    auth.sign_in()
    auth.logout()
    revoke = [r for r in google.mocker.request_history if r.url.endswith("/revoke")]
    assert revoke and 0 < revoke[0].timeout <= oidc.REVOKE_TIMEOUT <= 3


def test_every_provider_call_has_a_timeout(auth, client, google):
    auth.sign_in()
    client.get("/profile")
    auth.logout()
    calls = google.mocker.request_history
    assert {urlsplit(r.url).path for r in calls} >= {"/.well-known/openid-configuration", "/oauth2/v3/certs",
                                                       "/token", "/v1/userinfo", "/revoke"}
    for call in calls:
        assert call.timeout is not None and 0 < call.timeout <= 10, call.url


# --------------------------------------------------------------------------- state and pending sign-ins


class Clock:
    """time.time() moved forward; monotonic() untouched (timeouts stay real)."""

    def __init__(self, offset: float = 0) -> None:
        self.offset = offset

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()


def test_pending_sign_in_expires_after_ten_minutes(app, auth, client, monkeypatch):
    params = auth.start()
    assert pending_record(app, client, params["state"])["data"]["nonce"] == params["nonce"]
    monkeypatch.setattr(store, "time", Clock(601))
    response = auth.callback(params)
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)
    assert not signed_in(client)


def test_pending_sign_in_is_accepted_just_before_expiry(auth, client, monkeypatch):
    params = auth.start()
    monkeypatch.setattr(store, "time", Clock(590))
    assert auth.callback(params).status_code == 302
    assert signed_in(client)


def test_state_is_single_use_even_after_a_failed_attempt(auth, client, google):
    params = auth.start()
    google.id_claims = {"aud": "someone-else"}
    assert auth.callback(params).status_code == 401
    google.id_claims = {}
    assert auth.callback(params).status_code == 400  # the pending sign-in is spent
    assert not signed_in(client)


def test_a_visitors_session_is_a_signed_cookie_not_a_record(app, client, google):
    with client.session_transaction() as sess:
        sess["note"] = "a flash message, say"
    value = client.get_cookie("session").value
    assert "." in value and not store_has(app, value)
    assert os.listdir(app.config["GOOGLE_SIGNIN_SESSION_CACHELIB_DIR"]) in ([], ["pending"])


@pytest.mark.slow
def test_login_flood_neither_signs_out_a_user_nor_grows_the_store(make_app, google, monkeypatch):
    """2000 cookieless /login requests: no eviction of the signed-in record, and expired pending
    sign-ins are forgotten as new ones come, so the store holds only the live ones."""
    app = make_app(LOGIN_RATE_LIMIT="100000/minute")  # the store under a flood; the limit: test_limits.py
    client = app.test_client()
    AuthActions(client, google).sign_in()
    anonymous = app.test_client(use_cookies=False)
    for _ in range(2000):
        assert anonymous.get("/login").status_code == 302
    assert pending_count(app) == 2000  # one small record each, nothing evicted ...
    assert client.get("/profile").status_code == 200  # ... least of all the signed-in user
    monkeypatch.setattr(store, "time", Clock(11 * 60))
    for _ in range(25):
        anonymous.get("/login")  # each forgets up to 100 expired ones
    assert pending_count(app) == 25
    assert client.get("/profile").status_code == 200


def test_repeated_login_from_one_browser_keeps_its_record_small(app, auth, client):
    for _ in range(50):
        auth.start()
    cookies = [c for c in client._cookies.values() if c.key.startswith("session_signin_")]
    assert len(cookies) == sessions.MAX_PENDING  # the newest four, for four tabs
    assert pending_count(app) == sessions.MAX_PENDING


# --------------------------------------------------------------------------- next: no open redirect

BAD_NEXT = [
    "//evil.example", "///evil.example", "////evil.example", "/\\evil.example", "\\\\evil.example",
    "/\\/evil.example", "\\/evil.example", "https://evil.example", "http:evil.example", "//evil.example/%2f..",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "evil.example",
    "/%5cevil.example".replace("%5c", "\\"), "/\tevil", "/\t/evil.example", "/\n/evil.example",
    "/ok\r\nSet-Cookie: x=1", "/\x00", "/caf\u00e9", " /profile", "/profile#\x7f", "https:/evil.example",
    "/%0d%0aLocation: https://evil.example".replace("%0d%0a", "\r\n"),
]


@pytest.mark.parametrize("bad", BAD_NEXT)
def test_next_accepts_only_local_paths(auth, client, bad):
    """RFC 9700 4.11: whatever comes in `next`, the sign-in lands on a path of ours."""
    response = auth.sign_in(next=bad)
    assert response.status_code == 302
    assert response.location == "/"
    # and a signed-in visitor is not bounced either
    again = client.get("/login", query_string={"next": bad})
    assert again.status_code == 302 and again.location == "/"


@pytest.mark.parametrize("good", ["/profile", "/profile?tab=tokens", "/a/b-c_d.e~f?x=1&y=%2F"])
def test_next_keeps_local_paths(auth, good):
    assert auth.sign_in(next=good).location == good


def test_next_from_the_callback_url_is_ignored(auth, client):
    params = auth.start(next="/profile")
    response = auth.callback(params, next="//evil.example")
    assert response.status_code == 302 and response.location == "/profile"


# --------------------------------------------------------------------------- headers and cookies


def csp_directives(response) -> dict[str, str]:
    return {d.split()[0]: d for d in (p.strip() for p in response.headers["Content-Security-Policy"].split(";")) if d}


@pytest.mark.parametrize("path", ["/", "/profile", "/login", "/callback?state=x&code=y", "/missing", "/healthz"])
def test_security_headers_on_every_page(auth, client, path):
    auth.sign_in()
    response = client.get(path)
    csp = csp_directives(response)
    assert csp["script-src"] == "script-src 'self'"
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert "https://*.googleusercontent.com" in csp["img-src"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    assert "Strict-Transport-Security" not in response.headers  # plain http


@pytest.mark.parametrize("path", ["/login", "/callback?state=x&code=y"])
def test_no_referrer_on_login_and_callback(client, google, path):
    assert client.get(path).headers["Referrer-Policy"] == "no-referrer"


def test_pages_have_no_inline_script(auth, client):
    auth.sign_in()
    for path in ("/", "/profile", "/missing"):
        html = client.get(path).get_data(as_text=True).lower()
        assert "<script>" not in html and " on" + "click=" not in html and "javascript:" not in html


def test_hsts_only_over_https(make_app, google):
    app = make_app()
    secure = app.test_client().get("/", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(secure.headers["Strict-Transport-Security"].split("=")[1]) >= 31536000
    assert "Strict-Transport-Security" not in app.test_client().get("/").headers


def test_cookie_flags_with_default_settings(tmp_path, google):
    """SESSION_COOKIE_SECURE defaults to True: the cookie carries Secure, HttpOnly and SameSite=Lax."""
    config = base_config(tmp_path)
    del config["SESSION_COOKIE_SECURE"], config["TESTING"]
    app = create_app(config, environ={})
    response = app.test_client().get("/login", base_url="https://localhost")
    cookie = response.headers["Set-Cookie"]
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert "secure" in flags and "httponly" in flags
    assert flags["samesite"] == "SameSite=Lax"


# --------------------------------------------------------------------------- proxies and the redirect URI

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "X-Forwarded-For": "203.0.113.9"}


def test_forwarded_headers_are_ignored_by_default(make_app, google):
    app = make_app()
    response = app.test_client().get("/login", headers=FORWARDED)
    assert redirect_uri_of(response) == "http://localhost/callback"
    assert "Strict-Transport-Security" not in response.headers


def test_forwarded_headers_are_used_with_trusted_proxies(make_app, google):
    app = make_app(TRUSTED_PROXIES=1)
    response = app.test_client().get("/login", headers={**FORWARDED, "X-Forwarded-Host": "app.example.org"})
    assert redirect_uri_of(response) == "https://app.example.org/callback"
    assert "Strict-Transport-Security" in response.headers


def test_trusted_proxies_from_the_environment(tmp_path, google):
    config = base_config(tmp_path)
    app = create_app(config, environ={"TRUSTED_PROXIES": "1"})
    response = app.test_client().get("/login", headers=FORWARDED)
    assert redirect_uri_of(response) == "https://evil.example/callback"  # one hop of ours set them


def test_public_base_url_pins_the_redirect_uri_and_refuses_other_hosts(make_app, google):
    app = make_app(PUBLIC_BASE_URL="https://signin.example.org/", TRUSTED_PROXIES=1)
    response = app.test_client().get("/login", headers={"Host": "signin.example.org"})
    assert redirect_uri_of(response) == "https://signin.example.org/callback"
    for headers in ({}, FORWARDED, {"Host": "evil.example"}):
        response = app.test_client().get("/login", headers=headers)
        assert response.status_code == 400 and not response.location  # no redirect was built
    assert app.test_client().get("/healthz", headers={"Host": "evil.example"}).status_code == 200
    assert app.test_client().get("/", headers={"Host": "evil.example"}).status_code == 200  # the app's own


def test_the_token_request_uses_the_same_pinned_redirect_uri(make_app, google):
    app = make_app(PUBLIC_BASE_URL="https://signin.example.org")
    actions = AuthActions(app.test_client(), google, base_url="https://signin.example.org")
    params = actions.start()
    actions.client.environ_base["HTTP_HOST"] = "evil.example"
    assert actions.callback(params).status_code == 302
    assert google.token_requests[-1]["redirect_uri"] == "https://signin.example.org/callback"


# --------------------------------------------------------------------------- session lifetimes


def test_lifetime_defaults_are_sensible():
    defaults = load_settings({})
    idle, absolute = defaults["GOOGLE_SIGNIN_IDLE_TIMEOUT"], defaults["GOOGLE_SIGNIN_ABSOLUTE_TIMEOUT"]
    assert 15 * 60 <= idle <= 12 * 3600 and idle < absolute <= 30 * 24 * 3600


@pytest.mark.parametrize(("field", "age", "signed_in_after"), [
    ("last_seen", 3600 - 5, True), ("last_seen", 3600 + 5, False),
    ("signed_in_at", 7200 - 5, True), ("signed_in_at", 7200 + 5, False),
])
def test_idle_and_absolute_lifetimes(make_app, google, field, age, signed_in_after):
    app = make_app(PERMANENT_SESSION_LIFETIME=3600, SESSION_ABSOLUTE_LIFETIME=7200)
    client = app.test_client()
    AuthActions(client, google).sign_in()
    now = int(time.time())
    with client.session_transaction() as sess:
        sess[field] = now - age
        if field == "signed_in_at":
            sess["last_seen"] = now  # active all along: only the absolute limit applies
    response = client.get("/profile")
    assert (response.status_code == 200) is signed_in_after
    if not signed_in_after:
        assert "Your session expired" in client.get("/").get_data(as_text=True)
        assert not signed_in(client)


def test_activity_extends_the_idle_lifetime(make_app, google, monkeypatch):
    app = make_app(PERMANENT_SESSION_LIFETIME=3600, SESSION_ABSOLUTE_LIFETIME=7 * 86400)
    client = app.test_client()
    AuthActions(client, google).sign_in()
    clock = Clock(0)
    monkeypatch.setattr(guard, "time", clock)
    for hour in range(1, 5):  # a visit every 50 minutes for over three hours
        clock.offset = hour * 3000
        assert client.get("/profile").status_code == 200


# --------------------------------------------------------------------------- allow-lists


def refused_twice(app, google, setup, caplog, reason: str) -> None:
    """Run the refusal twice in one process: a validator that only works once would let the second in."""
    for _ in range(2):
        setup()
        client = app.test_client()
        response = AuthActions(client, google).sign_in()
        assert response.status_code == 403, response.get_data(as_text=True)
        assert "not allowed" in response.get_data(as_text=True) and "Try again" in response.get_data(as_text=True)
        assert not signed_in(client) and client.get("/profile").status_code == 302
        line = [r for r in caplog.records if getattr(r, "event", None) == "sign_in_refused"][-1]
        assert line.reason == reason and line.sub == google.sub
        caplog.clear()


def test_allowed_domains_admits_the_domain_and_sends_the_hint(make_app, google):
    app = make_app(ALLOWED_DOMAINS=["example.com"])
    google.id_claims = {"hd": "example.com"}
    actions = AuthActions(app.test_client(), google)
    params = actions.start()
    assert params["hd"] == "example.com"
    assert actions.callback(params).status_code == 302


@pytest.mark.parametrize(("claims", "userinfo", "reason"), [
    ({}, {}, "not a Workspace account (no hd claim)"),
    ({"hd": "evil.example"}, {}, "account not on the allow-list"),
    ({"hd": "sub.example.com"}, {}, "account not on the allow-list"),
    ({}, {"hd": "example.com"}, "not a Workspace account (no hd claim)"),  # only the ID token's hd counts
    ({"email": "mallory@example.com"}, {}, "not a Workspace account (no hd claim)"),  # not the email domain
])
def test_allowed_domains_refuses_others(make_app, google, caplog, claims, userinfo, reason):
    app = make_app(ALLOWED_DOMAINS=["example.com"])

    def setup() -> None:
        google.id_claims = dict(claims)
        google.userinfo_extra = dict(userinfo)

    refused_twice(app, google, setup, caplog, reason)


def test_allowed_emails_admits_a_verified_listed_email(make_app, google):
    app = make_app(ALLOWED_EMAILS=["ada@example.com"])
    assert AuthActions(app.test_client(), google).sign_in().status_code == 302


@pytest.mark.parametrize(("claims", "reason"), [
    ({"email_verified": False}, "email not verified"),
    ({"email_verified": "true"}, "email not verified"),  # a string is not a verified flag
    ({"email_verified": None}, "email not verified"),
    ({"email": "mallory@example.com"}, "account not on the allow-list"),
    ({"email": None}, "account not on the allow-list"),
])
def test_allowed_emails_refuses_others(make_app, google, caplog, claims, reason):
    app = make_app(ALLOWED_EMAILS=["ada@example.com"])

    def setup() -> None:
        google.id_claims = dict(claims)
        google.userinfo_extra = {"email_verified": True, "email": "ada@example.com"}  # userinfo cannot vouch

    refused_twice(app, google, setup, caplog, reason)


def test_allowed_domains_and_emails_together(make_app, google):
    app = make_app(ALLOWED_DOMAINS=["example.com"], ALLOWED_EMAILS=["ada@gmail.example"])
    google.id_claims = {"email": "ada@gmail.example"}
    assert AuthActions(app.test_client(), google).sign_in().status_code == 302
    google.id_claims = {"hd": "example.com", "email": "bob@example.com"}
    assert AuthActions(app.test_client(), google).sign_in().status_code == 302


# --------------------------------------------------------------------------- logs


def everything_logged(caplog) -> str:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.extend(str(v) for v in vars(record).values())
    return "\n".join(lines)


def test_logs_say_who_and_why_and_never_a_secret(auth, client, google, caplog):
    caplog.set_level(logging.INFO)
    params = auth.start()
    auth.callback(params, code="4/first-code")
    client.get("/profile")
    auth.logout()
    google.id_claims = {"aud": "someone-else"}
    auth.callback(auth.start(), code="4/second-code")
    google.id_claims = {}
    google.userinfo_extra = {"sub": "someone-else"}
    auth.callback(auth.start(), code="4/third-code")

    events = [(r.event, getattr(r, "sub", None), getattr(r, "reason", None))
              for r in caplog.records if getattr(r, "event", None) in ("sign_in", "sign_out", "sign_in_refused")]
    assert events[0] == ("sign_in", google.sub, None)
    assert events[1] == ("sign_out", google.sub, None)
    assert events[2][0] == "sign_in_refused" and "aud" in events[2][2]
    assert events[3] == ("sign_in_refused", google.sub, "ID token rejected: IDTokenError: userinfo sub does not "
                                                        "match the ID token")
    assert len(events) == 4
    logged = everything_logged(caplog)
    for secret in (google.access_token, google.refresh_token, "4/first-code", "4/second-code", "4/third-code",
                   CLIENT_SECRET, params["state"], params["nonce"], "eyJ"):
        assert secret not in logged, secret


# --------------------------------------------------------------------------- Google's two issuer spellings


@pytest.mark.parametrize("iss", ["https://accounts.google.com", "accounts.google.com"])
def test_google_issuer_in_either_spelling_signs_in(auth, client, google, iss):
    google.id_claims = {"iss": iss}
    assert auth.sign_in().status_code == 302 and signed_in(client)


@pytest.mark.parametrize("iss", ["https://accounts.google.com.evil.example", "http://accounts.google.com",
                                 "https://accounts.google.com/"])
def test_google_issuer_lookalikes_are_refused(auth, client, google, iss):
    google.id_claims = {"iss": iss}
    assert auth.sign_in().status_code == 401 and not signed_in(client)


@pytest.mark.parametrize("issued", ["\u00b2", "\u0663", "12\u00b3", "-1", ""])
def test_odd_digits_in_a_pending_sign_in_cookie_are_no_5xx(app, client, google, issued):
    """'²'.isdigit() is true and int('²') fails: a raw client's cookie must still get a page, not a 502."""
    client.set_cookie("session_signin_abcdefabcdef", f"{issued}.secret")
    assert client.get("/login").status_code == 302


# The byte 0xFF raw in the query (not percent-encoded): not UTF-8, which Werkzeug's request.args and
# request.full_path require (UnicodeDecodeError). Browsers percent-encode it; a raw client may not, and
# a server may pass it on (the standard library's wsgiref does; gunicorn refuses the request line).
NOT_UTF8 = {"QUERY_STRING": "next=\xff"}


@pytest.mark.parametrize(("path", "status"), [("/login", 400), ("/callback", 400), ("/profile", 302),
                                               ("/calendar", 302), ("/connect/calendar", 302)])
def test_a_query_that_is_not_utf8_is_no_5xx(client, google, path, status):
    """The sign-in's views refuse it (400); a page for signed-in users sends a visitor to sign in,
    coming back to the page without the query."""
    response = client.get(path, environ_overrides=NOT_UTF8)
    assert response.status_code == status
    if status == 302:
        assert parse_qs(urlsplit(response.location).query) == {"next": [path]}


def test_a_query_that_is_not_utf8_gets_401_problem_details_from_an_api(client):
    response = client.get("/calendar", headers={"Accept": "application/json"}, environ_overrides=NOT_UTF8)
    assert response.status_code == 401 and response.get_json()["login_url"] == "/login?next=/calendar"


def test_a_static_version_that_is_not_utf8_is_no_5xx(client):
    response = client.get("/static/style.css", environ_overrides={"QUERY_STRING": "v=\xff"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache"


def test_an_error_page_under_a_query_that_is_not_utf8_tries_again_from_home(app):
    """A store outage may give any page the error page, whose "Try again" reads `next`."""
    with app.test_request_context("/profile", environ_overrides=NOT_UTF8):
        html, status = error_page(503, "The store is not answering.", retry=True)
    assert status == 503 and 'href="/login">Try again' in html


def test_trusted_hosts_from_the_environment_refuse_other_hosts(make_app, google):
    app = make_app(TRUSTED_HOSTS="signin.example.org, localhost")
    assert app.config["TRUSTED_HOSTS"] == ["signin.example.org", "localhost"]
    assert app.test_client().get("/", headers={"Host": "evil.example"}).status_code == 400
    assert app.test_client().get("/").status_code == 200


def test_hsts_include_subdomains_is_off_unless_set(make_app):
    plain = make_app().test_client().get("/", base_url="https://localhost")
    assert plain.headers["Strict-Transport-Security"] == "max-age=63072000"
    wide = make_app(HSTS_INCLUDE_SUBDOMAINS="true").test_client().get("/", base_url="https://localhost")
    assert wide.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"


def test_an_allow_list_tightened_between_two_requests_ends_the_session(make_app, google, tmp_path):
    """A redeploy (or a second deployment on the same store, client id and secret key) that no
    longer admits the user ends the session on its next request, says why, and sends signed_out."""
    from flask_google_signin import signed_out

    before = make_app(ALLOWED_DOMAINS="example.com")
    google.id_claims = {"hd": "example.com"}
    auth = AuthActions(before.test_client(), google)
    assert auth.sign_in().status_code == 302 and signed_in(auth.client)
    after = make_app(ALLOWED_DOMAINS="other.example")  # the same store folder, client id and secret key
    client = after.test_client()
    client.set_cookie("session", auth.client.get_cookie("session").value)
    found: list = []
    with signed_out.connected_to(lambda sender, **kw: found.append(kw["reason"]), after):
        response = client.get("/profile")
    assert response.status_code == 302 and found == ["policy"]
    assert "no longer lets your account in" in client.get("/").get_data(as_text=True)
    assert not signed_in(client)
    widened = make_app(ALLOWED_DOMAINS="example.com,other.example")  # still admitted: the session goes on
    again = AuthActions(widened.test_client(), google)
    again.sign_in()
    still = make_app(ALLOWED_DOMAINS="example.com")
    kept = still.test_client()
    kept.set_cookie("session", again.client.get_cookie("session").value)
    assert kept.get("/profile").status_code == 200
