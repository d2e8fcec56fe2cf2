"""Cross-Account Protection (RISC): POST /risc applies Google's security events and refuses anything
else, and `flask risc` registers, verifies and shows the event stream.

Google's security event tokens (RFC 8417) are faked with the fake Google's own RS256 key, published
at the fake RISC configuration's jwks_uri (requests-mock: nothing reaches Google). Two users, Alice
and Bob, are signed in through the real sign-in; each case checks the answer (RFC 8935: 202 empty,
400 with `err` and `description`, 503 to be retried), what happened to both users' sessions, what
accounts.py was asked to do, and the log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import socket
import time

import pytest
import requests
import requests_mock
from joserfc import jws, jwt
from joserfc.jwk import RSAKey

from flask_google_signin import testing
from flask_google_signin.accounts import index as accounts
from flask_google_signin.accounts import risc
from flask_google_signin.web.cli import AUDIENCE, PUSH, RISC_API

from ..helpers import CLIENT_ID, AuthActions, stored_record
from ..hostile_provider import raw_jws

CONTENT_TYPE = "application/secevent+jwt"
CONFIG_URL = "https://accounts.google.com/.well-known/risc-configuration"
ISSUER = "https://accounts.google.com/"  # Google's RISC issuer, with the slash (its ID tokens have none)
JWKS_URL = "https://www.googleapis.com/fake-risc/certs"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
REVOKED = RISC + "sessions-revoked"
USER_EVENTS = [REVOKED, OAUTH + "tokens-revoked", RISC + "account-disabled",
               RISC + "account-credential-change-required"]
TOKEN_REVOKED = OAUTH + "token-revoked"
ALICE, BOB = "111111111111111111111", "222222222222222222222"
ALICE_REFRESH, BOB_REFRESH = "1//alice-refresh-token-0123456789", "1//bob-refresh-token-9876543210"
STORES = ["cachelib", pytest.param("redis", marks=[pytest.mark.slow, pytest.mark.redis])]


# --------------------------------------------------------------------------- fakes and helpers


class FakeRisc:
    """Google's RISC configuration document and keys, on the fake Google's requests-mock."""

    def __init__(self, google) -> None:
        self.google = google
        self.published = [google.key]
        self.config = {"issuer": ISSUER, "jwks_uri": JWKS_URL, "delivery_methods_supported": [PUSH]}
        google.mocker.get(CONFIG_URL, json=lambda *_: self.config)
        google.mocker.get(JWKS_URL, json=lambda *_: {"keys": [k.as_dict(private=False) for k in self.published]})

    def fetches(self, url: str) -> int:
        return sum(1 for r in self.google.mocker.request_history if r.url == url)

    def claims(self, events, **overrides) -> dict:
        claims = {"iss": ISSUER, "aud": CLIENT_ID, "iat": int(time.time()), "jti": secrets.token_hex(16),
                  "events": events}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, events, key: RSAKey | None = None, header: dict | None = None, **overrides) -> str:
        key = key or self.google.key
        header = header or {"alg": "RS256", "kid": key.kid, "typ": "secevent+jwt"}
        return jwt.encode(header, self.claims(events, **overrides), key)


def user_event(uri: str, sub: str, **extra) -> dict:
    return {uri: {"subject": {"subject_type": "iss-sub", "iss": ISSUER, "sub": sub}, **extra}}


def token_event(identifier: str, alg: str = "prefix", **subject) -> dict:
    return {TOKEN_REVOKED: {"subject": {"subject_type": "oauth_token", "token_type": "refresh_token",
                                        "token_identifier_alg": alg, "token": identifier, **subject}}}


def double_sha512(token: str) -> str:
    """Google's `hash_base64_sha512_sha512`: "the double hash of the token using SHA-512", base64."""
    return base64.b64encode(hashlib.sha512(hashlib.sha512(token.encode()).digest()).digest()).decode()


def deliver(app, token: str | bytes, content_type: str | None = CONTENT_TYPE):
    """A POST as Google makes it: no cookie, no CSRF token."""
    client = app.test_client(use_cookies=False)
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post("/risc", data=token, headers=headers)


class Users:
    """Alice and Bob, each signed in through /login and /callback in a browser of their own."""

    def __init__(self, app, google, expires_in: int | None = None) -> None:
        self.app = app
        self.google = google
        self.browsers = {}
        for name, sub, refresh in (("alice", ALICE, ALICE_REFRESH), ("bob", BOB, BOB_REFRESH)):
            self.sign_in(name, sub, refresh, expires_in)

    def sign_in(self, name: str, sub: str, refresh: str, expires_in: int | None = None) -> None:
        browser = self.app.test_client()
        self.google.sub, self.google.refresh_token = sub, refresh
        self.google.token_extra = {"expires_in": expires_in} if expires_in else {}
        assert AuthActions(browser, self.google).sign_in().status_code == 302
        self.browsers[name] = browser
        self.google.token_extra = {}

    def carry_to(self, app) -> None:
        """The same browsers, on `app`: another deployment on the same store (after a key rotation)."""
        for name, browser in self.browsers.items():
            self.browsers[name] = app.test_client()
            self.browsers[name].set_cookie("session", browser.get_cookie("session").value)
        self.app = app

    def signed_in(self) -> dict[str, bool]:
        """Who a page still knows (GET /profile answers 200 only while signed in)."""
        return {name: b.get("/profile").status_code == 200 for name, b in self.browsers.items()}

    def record(self, name: str) -> dict | None:
        return stored_record(self.app, self.browsers[name].get_cookie("session").value)


@pytest.fixture
def fake_risc(google):
    return FakeRisc(google)


@pytest.fixture
def app(make_app):
    """The app with a rate limit on /risc that the tests here never reach (one test sets its own)."""
    return make_app(RISC_RATE_LIMIT="1000/second")


@pytest.fixture(params=STORES)
def store_app(request, make_app):
    """The app on each store; `make(**overrides)` builds more instances on the same store."""

    def make(**overrides):
        if request.param == "redis":
            overrides = {"SESSION_TYPE": "redis", "REDIS_URL": request.getfixturevalue("redis_server").url,
                         **overrides}
        return make_app(RISC_RATE_LIMIT="1000/second", **overrides)

    app = make()
    app.make = make
    if request.param == "redis":
        testing.store(app).client.flushdb()
    return app


def rotated(app):
    """The app deployed again under a new SECRET_KEY, the old one kept as a fallback, on the same store."""
    return app.make(SECRET_KEY="new-secret-key", SECRET_KEY_FALLBACKS=[app.config["SECRET_KEY"]])


@pytest.fixture
def calls(monkeypatch):
    """What risc.py asked of accounts.py, in order; the real functions still run."""
    made: list[tuple] = []
    end, drop = accounts.end_user_sessions, accounts.drop_refresh_token

    def end_user_sessions(sub, reason, *, keep_sid=None, detail=""):
        made.append(("end_user_sessions", sub, detail or reason))
        return end(sub, reason, keep_sid=keep_sid, detail=detail)

    def drop_refresh_token(identifier, alg):
        made.append(("drop_refresh_token", identifier, alg))
        return drop(identifier, alg)

    monkeypatch.setattr(accounts, "end_user_sessions", end_user_sessions)
    monkeypatch.setattr(accounts, "drop_refresh_token", drop_refresh_token)
    return made


def logged(caplog, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == event]


def everything_logged(caplog) -> str:
    return "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)


def assert_refused(response, err: str) -> None:
    assert response.status_code == 400, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"err", "description"} and body["err"] == err
    assert isinstance(body["description"], str) and body["description"]


# --------------------------------------------------------------------------- each event does its job


@pytest.mark.parametrize("uri", USER_EVENTS, ids=lambda uri: uri.rsplit("/", 1)[-1])
def test_a_user_event_ends_every_session_of_that_user_only(store_app, google, fake_risc, calls, caplog, uri):
    caplog.set_level(logging.INFO)
    users = Users(store_app, google)
    users.sign_in("alice-phone", ALICE, ALICE_REFRESH)  # a second session of Alice's
    name = uri.rsplit("/", 1)[-1]
    token = fake_risc.token(user_event(uri, ALICE, reason="hijacking"))

    response = deliver(store_app, token)

    assert response.status_code == 202 and response.data == b""
    assert users.signed_in() == {"alice": False, "bob": True, "alice-phone": False}
    assert calls == [("end_user_sessions", ALICE, name)]
    [line] = logged(caplog, "risc_event")
    jti = jwt.decode(token, google.key).claims["jti"]
    assert (line.reason, line.sub, line.jti) == (name, ALICE, jti)
    assert jti in line.getMessage() and "2 session(s) ended" in line.getMessage()
    assert [r.reason for r in logged(caplog, "session_ended")] == [name, name]  # accounts.py's audit lines
    assert token not in everything_logged(caplog)


@pytest.mark.parametrize("alg", ["prefix", "hash_base64_sha512_sha512"])
def test_token_revoked_drops_that_refresh_token_only(store_app, google, fake_risc, calls, caplog, alg):
    """The session holding the token drops its Google tokens (here: before its next refresh), and
    stays signed in; the other user keeps and refreshes hers."""
    caplog.set_level(logging.INFO)
    users = Users(store_app, google, expires_in=30)  # both access tokens due for a refresh
    identifier = ALICE_REFRESH[:16] if alg == "prefix" else double_sha512(ALICE_REFRESH)

    response = deliver(store_app, fake_risc.token(token_event(identifier, alg)))

    assert response.status_code == 202 and response.data == b""
    assert calls == [("drop_refresh_token", identifier, alg)]
    assert users.signed_in() == {"alice": True, "bob": True}
    alice, bob = users.record("alice"), users.record("bob")
    assert "token" not in alice and alice.get("google_access_ended") == "token_revoked"
    assert bob["token"]["refresh_token"] == BOB_REFRESH
    refreshed = [r.get("refresh_token") for r in google.token_requests if r.get("grant_type") == "refresh_token"]
    assert refreshed == [BOB_REFRESH]  # Alice's revoked token was never used again
    [line] = logged(caplog, "risc_event")
    assert line.reason == "token-revoked" and "1 session(s)" in line.getMessage()
    assert ALICE_REFRESH[:16] not in everything_logged(caplog) and identifier not in everything_logged(caplog)


@pytest.mark.parametrize(("uri", "extra", "detail"), [(RISC + "account-enabled", {}, ""),
                                                     (RISC + "verification", {"state": "hello from flask"},
                                                      "hello from flask")])
def test_account_enabled_and_verification_are_only_logged(app, google, fake_risc, calls, caplog, uri, extra, detail):
    caplog.set_level(logging.INFO)
    users = Users(app, google)
    events = user_event(uri, ALICE, **extra) if uri.endswith("account-enabled") else {uri: extra}

    response = deliver(app, fake_risc.token(events))

    assert response.status_code == 202
    assert users.signed_in() == {"alice": True, "bob": True}
    assert calls == []
    [line] = logged(caplog, "risc_event")
    assert line.reason == uri.rsplit("/", 1)[-1] and "logged only" in line.getMessage()
    assert detail in line.getMessage()


def test_an_event_type_we_do_not_know_is_accepted_and_logged(app, google, fake_risc, calls, caplog):
    caplog.set_level(logging.INFO)
    users = Users(app, google)
    response = deliver(app, fake_risc.token(user_event(RISC + "identifier-changed", ALICE)))
    assert response.status_code == 202
    assert users.signed_in() == {"alice": True, "bob": True} and calls == []
    assert [r.reason for r in logged(caplog, "risc_event")] == ["identifier-changed"]


def test_several_events_in_one_token_all_apply(app, google, fake_risc, calls):
    users = Users(app, google)
    events = {**user_event(REVOKED, ALICE), **user_event(RISC + "account-disabled", BOB)}
    assert deliver(app, fake_risc.token(events)).status_code == 202
    assert users.signed_in() == {"alice": False, "bob": False}
    assert [c[1:] for c in calls] == [(ALICE, "sessions-revoked"), (BOB, "account-disabled")]


# --------------------------------------------------------------------------- after a SECRET_KEY rotation


def test_a_user_event_after_a_key_rotation_ends_sessions_indexed_before_it(store_app, google, fake_risc, calls):
    """Alice's phone makes a request after the rotation (indexed anew, under the new key), her first
    session makes none (indexed under the old key only): the event ends both."""
    users = Users(store_app, google)
    users.sign_in("alice-phone", ALICE, ALICE_REFRESH)
    users.carry_to(rotated(store_app))
    assert users.browsers["alice-phone"].get("/profile").status_code == 200

    assert deliver(users.app, fake_risc.token(user_event(REVOKED, ALICE))).status_code == 202

    assert users.signed_in() == {"alice": False, "bob": True, "alice-phone": False}
    assert calls == [("end_user_sessions", ALICE, "sessions-revoked")]


@pytest.mark.parametrize("request_since", [False, True], ids=["no-request-since", "a-request-since"])
def test_token_revoked_after_a_key_rotation_finds_a_token_indexed_before_it(store_app, google, fake_risc, caplog,
                                                                             request_since):
    """The refresh token's lookups were made under the old key; a request since moved them to the new
    key's, where an instance without the fallback finds them too."""
    caplog.set_level(logging.INFO)
    users = Users(store_app, google, expires_in=30)
    users.carry_to(rotated(store_app))
    receiver = users.app
    if request_since:
        assert users.browsers["alice"].get("/profile").status_code == 200
        receiver = store_app.make(SECRET_KEY="new-secret-key")

    response = deliver(receiver, fake_risc.token(token_event(ALICE_REFRESH[:16])))

    assert response.status_code == 202
    [line] = logged(caplog, "risc_event")
    assert "1 session(s)" in line.getMessage()
    with users.app.app_context():
        marked = {sub: [entry["tokens_revoked"] for entry in accounts.user_sessions(sub).values()]
                  for sub in (ALICE, BOB)}
    assert marked == {ALICE: [True], BOB: [False]}
    assert users.signed_in() == {"alice": True, "bob": True}
    if not request_since:  # its first request after the rotation applies the mark
        assert "token" not in users.record("alice") and "token" in users.record("bob")


# --------------------------------------------------------------------------- a replay acts once


def test_a_replayed_jti_is_accepted_and_has_no_second_effect(store_app, google, fake_risc, calls, caplog):
    caplog.set_level(logging.INFO)
    users = Users(store_app, google)
    token = fake_risc.token(user_event(REVOKED, ALICE))
    assert deliver(store_app, token).status_code == 202
    users.sign_in("alice", ALICE, ALICE_REFRESH)  # Alice signs in again after the event

    replay = deliver(store_app, token)
    same_jti = deliver(store_app, fake_risc.token(user_event(RISC + "account-disabled", ALICE),
                                                  jti=jwt.decode(token, google.key).claims["jti"]))

    assert replay.status_code == 202 and replay.data == b"" and same_jti.status_code == 202
    assert users.signed_in() == {"alice": True, "bob": True}
    assert calls == [("end_user_sessions", ALICE, "sessions-revoked")]
    assert len(logged(caplog, "risc_duplicate")) == 2 and len(logged(caplog, "risc_event")) == 1


# --------------------------------------------------------------------------- anything else is refused


def signed(fake_risc, events=None, **claims) -> str:
    return fake_risc.token(user_event(REVOKED, ALICE) if events is None else events, **claims)


def by_hand(fake_risc, header: dict, sign) -> str:
    return raw_jws(header, fake_risc.claims(user_event(REVOKED, ALICE)), sign)


def without(fake_risc, claim: str) -> str:
    claims = fake_risc.claims(user_event(REVOKED, ALICE))
    del claims[claim]
    return jwt.encode({"alg": "RS256", "kid": fake_risc.google.key.kid}, claims, fake_risc.google.key)


def public_pem(fake_risc) -> bytes:
    return fake_risc.google.key.as_pem(private=False)


OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "not-google"})
BAD_SET = {
    # the signature: RS256 by a published key, nothing else
    "bad-signature": ("invalid_key", lambda r: r.token(user_event(REVOKED, ALICE), key=OTHER_KEY,
                                                       header={"alg": "RS256", "kid": r.google.key.kid})),
    "alg-none": ("invalid_key", lambda r: by_hand(r, {"alg": "none", "kid": r.google.key.kid}, lambda _: b"")),
    "hs256-keyed-with-the-public-key": ("invalid_key", lambda r: by_hand(
        r, {"alg": "HS256", "kid": r.google.key.kid},
        lambda data: hmac.new(public_pem(r), data, hashlib.sha256).digest())),
    "unknown-kid": ("invalid_key", lambda r: r.token(user_event(REVOKED, ALICE), key=OTHER_KEY)),
    # the claims (RFC 8417, Google's page)
    "iss-of-google-id-tokens": ("invalid_issuer", lambda r: signed(r, iss="https://accounts.google.com")),
    "iss-other": ("invalid_issuer", lambda r: signed(r, iss="https://evil.example/")),
    "iss-missing": ("invalid_issuer", lambda r: without(r, "iss")),
    "iss-a-number": ("invalid_issuer", lambda r: signed(r, iss=5)),
    "aud-other-client": ("invalid_audience", lambda r: signed(r, aud="other.apps.googleusercontent.com")),
    "aud-with-an-extra-client": ("invalid_audience", lambda r: signed(r, aud=[CLIENT_ID, "other"])),
    "aud-an-object": ("invalid_audience", lambda r: signed(r, aud={"x": CLIENT_ID})),
    "jti-missing": ("invalid_request", lambda r: without(r, "jti")),
    "jti-empty": ("invalid_request", lambda r: signed(r, jti="")),
    "jti-a-number": ("invalid_request", lambda r: signed(r, jti=12345)),
    "jti-a-list": ("invalid_request", lambda r: signed(r, jti=["a"])),
    "jti-too-long": ("invalid_request", lambda r: signed(r, jti="j" * 256)),
    "iat-a-string": ("invalid_request", lambda r: signed(r, iat="now")),
    "iat-true": ("invalid_request", lambda r: signed(r, iat=True)),
    "iat-missing": ("invalid_request", lambda r: without(r, "iat")),
    "iat-in-1970": ("invalid_request", lambda r: signed(r, iat=1)),
    "iat-past-the-jti-memory": ("invalid_request", lambda r: signed(r, iat=int(time.time()) - 7 * 24 * 3600)),
    "iat-far-ahead": ("invalid_request", lambda r: signed(r, iat=int(time.time()) + 10**8)),
    "iat-ten-minutes-ahead": ("invalid_request", lambda r: signed(r, iat=int(time.time()) + 600)),
    "iat-not-finite": ("invalid_request", lambda r: signed(r, iat=float("inf"))),
    "no-events": ("invalid_request", lambda r: without(r, "events")),
    "events-empty": ("invalid_request", lambda r: signed(r, events={})),
    "events-a-list": ("invalid_request", lambda r: signed(r, events=[REVOKED])),
    "events-a-string": ("invalid_request", lambda r: signed(r, events="sessions-revoked")),
    "event-not-an-object": ("invalid_request", lambda r: signed(r, events={REVOKED: [ALICE]})),
    # the subject of a user event
    "no-subject": ("invalid_request", lambda r: signed(r, events={REVOKED: {}})),
    "subject-a-string": ("invalid_request", lambda r: signed(r, events={REVOKED: {"subject": ALICE}})),
    "subject-an-email": ("invalid_request", lambda r: signed(r, events={REVOKED: {
        "subject": {"subject_type": "email", "email": "ada@example.com"}}})),
    "subject-type-a-list": ("invalid_request", lambda r: signed(r, events={REVOKED: {
        "subject": {"subject_type": ["iss-sub"], "iss": ISSUER, "sub": ALICE}}})),
    "sub-missing": ("invalid_request", lambda r: signed(r, events={REVOKED: {
        "subject": {"subject_type": "iss-sub", "iss": ISSUER}}})),
    "sub-a-number": ("invalid_request", lambda r: signed(r, events=user_event(REVOKED, 111))),
    "sub-empty": ("invalid_request", lambda r: signed(r, events=user_event(REVOKED, ""))),
    "sub-a-list": ("invalid_request", lambda r: signed(r, events=user_event(REVOKED, [ALICE]))),
    "subject-iss-missing": ("invalid_request", lambda r: signed(r, events={REVOKED: {
        "subject": {"subject_type": "iss-sub", "sub": ALICE}}})),
    "subject-iss-other": ("invalid_request", lambda r: signed(r, events={REVOKED: {
        "subject": {"subject_type": "iss-sub", "iss": "https://evil.example/", "sub": ALICE}}})),
    # the subject of token-revoked
    "token-alg-unknown": ("invalid_request", lambda r: signed(r, events=token_event(ALICE_REFRESH, "plain"))),
    "token-missing": ("invalid_request", lambda r: signed(r, events=token_event(None))),
    "token-a-number": ("invalid_request", lambda r: signed(r, events=token_event(16))),
    "token-an-access-token": ("invalid_request", lambda r: signed(
        r, events=token_event(ALICE_REFRESH[:16], token_type="access_token"))),
    "token-subject-a-list": ("invalid_request", lambda r: signed(r, events={TOKEN_REVOKED: {"subject": []}})),
    # one good event, one bad: nothing of the token is applied
    "one-bad-event-of-two": ("invalid_request", lambda r: signed(r, events={
        **user_event(REVOKED, ALICE), RISC + "account-disabled": {"subject": None}})),
    # not a signed JWT at all
    "garbage": ("invalid_request", lambda r: "this is not a token"),
    "three-garbage-parts": ("invalid_request", lambda r: "a.b.c"),
    "jwe-shaped": ("invalid_request", lambda r: "a.b.c.d.e"),
    "empty": ("invalid_request", lambda r: ""),
    "not-ascii": ("invalid_request", lambda r: "é.é.é".encode()),
    "header-without-alg": ("invalid_request", lambda r: by_hand(r, {"kid": r.google.key.kid}, lambda _: b"x")),
    "kid-a-number": ("invalid_request", lambda r: by_hand(r, {"alg": "RS256", "kid": 5}, lambda _: b"x")),
    "crit-a-number": ("invalid_request", lambda r: by_hand(r, {"alg": "RS256", "kid": "k", "crit": 5}, lambda _: b"x")),
    "payload-a-list": ("invalid_request", lambda r: jws.serialize_compact(
        {"alg": "RS256", "kid": r.google.key.kid}, b"[1, 2]", r.google.key)),
    "too-large": ("invalid_request", lambda r: signed(r, padding="x" * 20_000)),
    # Google's own ID token for this client: a valid JWT by the same key, but no SET
    "a-google-id-token": ("invalid_issuer", lambda r: r.google.sign(r.google.claims())),
}


@pytest.mark.parametrize("case", list(BAD_SET))
def test_an_invalid_token_is_refused_and_changes_nothing(app, google, fake_risc, calls, caplog, case):
    caplog.set_level(logging.INFO)
    users = Users(app, google)
    err, make = BAD_SET[case]
    response = deliver(app, make(fake_risc))
    assert_refused(response, err)
    assert calls == []
    assert users.signed_in() == {"alice": True, "bob": True}
    [line] = logged(caplog, "risc_refused")
    assert line.reason.startswith(f"{err}: ")
    assert not logged(caplog, "risc_event")


@pytest.mark.parametrize("content_type", [None, "application/jwt", "application/json", "text/plain",
                                          "application/x-www-form-urlencoded", "application/secevent+json"])
def test_any_other_content_type_is_refused(app, google, fake_risc, calls, content_type):
    """RFC 8935 2.1: the request's Content-Type is application/secevent+jwt; 2.3: a request we cannot
    take as a SET is a 400 with an error body (it names no 415)."""
    users = Users(app, google)
    response = deliver(app, fake_risc.token(user_event(REVOKED, ALICE)), content_type)
    assert_refused(response, "invalid_request")
    assert "application/secevent+jwt" in response.get_json()["description"]
    assert calls == [] and users.signed_in() == {"alice": True, "bob": True}


def test_content_type_parameters_are_fine(app, google, fake_risc):
    token = fake_risc.token(user_event(RISC + "account-enabled", ALICE))
    assert deliver(app, token, "application/secevent+jwt; charset=utf-8").status_code == 202


def test_the_receiver_is_post_only(app):
    assert app.test_client().get("/risc").status_code == 405


# --------------------------------------------------------------------------- configuration and keys


def test_configuration_and_keys_are_fetched_once_and_cached(app, google, fake_risc):
    for _ in range(3):
        assert deliver(app, fake_risc.token(user_event(RISC + "account-enabled", ALICE))).status_code == 202
    assert (fake_risc.fetches(CONFIG_URL), fake_risc.fetches(JWKS_URL)) == (1, 1)


def test_the_configurations_jwks_uri_is_the_only_source_of_keys(app, google, fake_risc):
    """The sign-in JWKS (discovery's jwks_uri) publishes the key too; RISC only trusts its own."""
    fake_risc.published = [OTHER_KEY]
    response = deliver(app, fake_risc.token(user_event(RISC + "account-enabled", ALICE)))
    assert_refused(response, "invalid_key")


def test_rotated_keys_are_refetched_once(app, google, fake_risc, monkeypatch):
    assert deliver(app, fake_risc.token(user_event(RISC + "account-enabled", ALICE))).status_code == 202
    new_key = RSAKey.generate_key(2048, parameters={"kid": "google-key-2", "use": "sig", "alg": "RS256"})
    fake_risc.published = [new_key]
    monkeypatch.setattr(risc, "KEYS_REFETCH_INTERVAL", 0)  # the cached keys are "old enough"

    assert deliver(app, fake_risc.token(user_event(RISC + "account-enabled", ALICE), key=new_key)).status_code == 202
    assert fake_risc.fetches(JWKS_URL) == 2
    assert_refused(deliver(app, fake_risc.token(user_event(RISC + "account-enabled", ALICE))), "invalid_key")
    assert fake_risc.fetches(JWKS_URL) == 3  # the retired key: one refetch, then refused; no loop


def test_a_flood_of_unknown_kids_does_not_hammer_googles_keys(app, google, fake_risc):
    for _ in range(5):
        response = deliver(app, fake_risc.token(user_event(REVOKED, ALICE), key=OTHER_KEY))
        assert_refused(response, "invalid_key")
    assert fake_risc.fetches(JWKS_URL) == 1  # refetched at most every KEYS_REFETCH_INTERVAL seconds


@pytest.mark.parametrize("failure", ["unreachable", "error-500", "not-json", "no-jwks_uri", "issuer-not-its-url",
                                     "keys-unreachable", "keys-not-a-key-set"])
def test_no_configuration_or_keys_is_a_503_and_the_event_waits_for_redelivery(app, google, fake_risc, calls,
                                                                              caplog, failure):
    users = Users(app, google)
    good_config = dict(fake_risc.config)
    if failure == "unreachable":
        google.mocker.get(CONFIG_URL, exc=requests.exceptions.ConnectTimeout)
    elif failure == "error-500":
        google.mocker.get(CONFIG_URL, status_code=500, text="oops")
    elif failure == "not-json":
        google.mocker.get(CONFIG_URL, text="<html>")
    elif failure == "no-jwks_uri":
        del fake_risc.config["jwks_uri"]
    elif failure == "issuer-not-its-url":
        fake_risc.config["issuer"] = "https://evil.example/"
    elif failure == "keys-unreachable":
        google.mocker.get(JWKS_URL, exc=requests.exceptions.ReadTimeout)
    else:
        google.mocker.get(JWKS_URL, json={"keys": "none"})
    token = fake_risc.token(user_event(REVOKED, ALICE))

    response = deliver(app, token)

    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert response.get_json()["description"]
    assert calls == [] and users.signed_in() == {"alice": True, "bob": True}
    assert logged(caplog, "risc_unavailable")
    # Google back to normal: the same delivery now acts (its jti was not spent)
    FakeRisc.__init__(fake_risc, google)
    fake_risc.config = good_config
    app.extensions.pop("google_signin_risc")  # forget the cached configuration, as an hour later
    assert deliver(app, token).status_code == 202
    assert users.signed_in() == {"alice": False, "bob": True}


# --------------------------------------------------------------------------- a store that fails


def test_a_store_error_is_a_quick_503_and_redelivery_applies_it(store_app, google, fake_risc, calls, monkeypatch):
    users = Users(store_app, google)
    records = testing.store(store_app)
    failing = records.store_errors[0]

    def down(*args, **kwargs):
        raise failing("down")

    token = fake_risc.token(user_event(REVOKED, ALICE))
    with monkeypatch.context() as patch:
        patch.setattr(records, "put", down)
        started = time.monotonic()
        response = deliver(store_app, token)
        assert time.monotonic() - started < 1
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert calls == []
    assert users.signed_in() == {"alice": True, "bob": True}

    assert deliver(store_app, token).status_code == 202
    assert users.signed_in() == {"alice": False, "bob": True}


def test_a_store_error_while_applying_forgets_the_jti(store_app, google, fake_risc, monkeypatch):
    users = Users(store_app, google)
    failing = testing.store(store_app).store_errors[0]
    end = accounts.end_user_sessions

    def fails_once(sub, reason, *, keep_sid=None, detail=""):
        monkeypatch.setattr(accounts, "end_user_sessions", end)
        raise failing("down")

    monkeypatch.setattr(accounts, "end_user_sessions", fails_once)
    token = fake_risc.token(user_event(REVOKED, ALICE))
    assert deliver(store_app, token).status_code == 503
    assert users.signed_in() == {"alice": True, "bob": True}
    assert deliver(store_app, token).status_code == 202  # redelivered: not taken for a replay
    assert users.signed_in() == {"alice": False, "bob": True}


@pytest.mark.slow  # starts a server
def test_a_hung_redis_gives_a_503_within_seconds(make_app, google, fake_risc):
    """A Redis that accepts connections and never answers: REDIS_TIMEOUT bounds every call."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        app = make_app(SESSION_TYPE="redis", REDIS_URL=f"redis://127.0.0.1:{hung.getsockname()[1]}/0",
                       REDIS_TIMEOUT=0.3)
        started = time.monotonic()
        response = deliver(app, fake_risc.token(user_event(REVOKED, ALICE)))
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < 3, elapsed


# --------------------------------------------------------------------------- rate limit, CSRF, no 500


def test_risc_rate_limit_answers_429_in_json(make_app, google, fake_risc):
    app = make_app(RISC_RATE_LIMIT="3/minute")
    for _ in range(3):
        assert deliver(app, fake_risc.token(user_event(RISC + "account-enabled", ALICE))).status_code == 202
    response = deliver(app, fake_risc.token(user_event(RISC + "account-enabled", ALICE)))
    assert response.status_code == 429 and response.mimetype == "application/json"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert app.test_client().get("/login").status_code == 302  # the sign-in's own limit is apart


def test_the_default_rate_limit(make_app):
    assert make_app().config["GOOGLE_SIGNIN_RISC_RATE_LIMIT"] == "120/minute"


def test_csrf_protection_still_guards_the_apps_forms(app, google, auth):
    """/risc is exempt; sign-out without its CSRF token still is not."""
    auth.sign_in()
    assert auth.client.post("/logout").status_code == 400


@pytest.mark.parametrize("seed", range(40))
def test_random_bytes_and_shapes_never_give_a_500(app, google, fake_risc, calls, seed):
    rng = secrets.SystemRandom()
    values = [None, 0, -1, 1e308, True, "", "x" * 300, [], {}, [None], {"a": {}}, ISSUER, CLIENT_ID]
    pick = lambda: rng.choice(values)  # noqa: E731
    uri = rng.choice([*USER_EVENTS, TOKEN_REVOKED, RISC + "verification", "x"])
    payloads = [
        fake_risc.token({uri: {"subject": {"subject_type": pick(), "iss": pick(), "sub": pick(),
                                           "token_identifier_alg": pick(), "token": pick(), "token_type": pick()},
                               "reason": pick(), "state": pick()}}),
        fake_risc.token(pick() if rng.random() < 0.5 else {uri: pick()}, jti=pick(), iat=pick()),
        fake_risc.token({uri: {"subject": pick()}}, aud=pick() if rng.random() < 0.3 else CLIENT_ID),
        secrets.token_bytes(rng.randrange(0, 300)),
        ".".join(base64.urlsafe_b64encode(secrets.token_bytes(rng.randrange(0, 40))).decode() for _ in range(3)),
    ]
    for payload in payloads:
        response = deliver(app, payload)
        assert response.status_code in (202, 400), (payload, response.status_code, response.data)
        if response.status_code == 400:
            assert response.get_json()["err"] in ("invalid_request", "invalid_key", "invalid_issuer",
                                                  "invalid_audience")


# --------------------------------------------------------------------------- flask risc


SA_EMAIL = "risc-admin@my-project.iam.gserviceaccount.com"
EVENTS_ON_GOOGLES_PAGE = {
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked",
    "https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked",
    "https://schemas.openid.net/secevent/oauth/event-type/token-revoked",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required",
    "https://schemas.openid.net/secevent/risc/event-type/verification",
}


@pytest.fixture(scope="module")
def sa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "0123456789abcdef"})


@pytest.fixture
def key_file(tmp_path, sa_key):
    """A service account's JSON key file, as the Cloud console downloads it (the key is made here)."""
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "my-project", "private_key_id": sa_key.kid,
        "private_key": sa_key.as_pem(private=True).decode(), "client_email": SA_EMAIL,
        "client_id": "1234567890", "token_uri": "https://oauth2.googleapis.com/token"}))
    return path


@pytest.fixture
def risc_api():
    with requests_mock.Mocker() as mocker:  # only the RISC API answers; anything else raises
        mocker.post(f"{RISC_API}/stream:update", json={})
        mocker.post(f"{RISC_API}/stream:verify", status_code=204)
        mocker.get(f"{RISC_API}/stream", json={"delivery": {"delivery_method": PUSH, "url": "https://x/risc"}})
        mocker.get(f"{RISC_API}/stream/status", json={"status": "enabled"})
        yield mocker


def assert_authorized(request, sa_key) -> None:
    """Google's page: a JWT the service account signs (RS256, kid = private_key_id), iss = sub = its
    email, aud = the RISC management service, valid exactly one hour."""
    scheme, _, bearer = request.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    token = jwt.decode(bearer, RSAKey.import_key(sa_key.as_dict(private=False)), algorithms=["RS256"])
    assert token.header["alg"] == "RS256" and token.header["kid"] == sa_key.kid
    claims = token.claims
    assert claims["iss"] == claims["sub"] == SA_EMAIL
    assert claims["aud"] == AUDIENCE == "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"
    assert claims["exp"] - claims["iat"] == 3600 and abs(claims["iat"] - time.time()) < 60


def test_register_updates_the_stream_for_push_delivery_of_every_event(app, risc_api, key_file, sa_key):
    result = app.test_cli_runner().invoke(args=["risc", "register", "--url", "https://signin.example.com/risc",
                                                "--key-file", str(key_file)])
    assert result.exit_code == 0, result.output
    [request] = risc_api.request_history
    assert (request.method, request.url) == ("POST", "https://risc.googleapis.com/v1beta/stream:update")
    assert_authorized(request, sa_key)
    body = request.json()
    assert body["delivery"] == {"delivery_method": "https://schemas.openid.net/secevent/risc/delivery-method/push",
                                "url": "https://signin.example.com/risc"}
    assert set(body["events_requested"]) == EVENTS_ON_GOOGLES_PAGE and len(body["events_requested"]) == 7
    assert "Registered https://signin.example.com/risc" in result.output


def test_register_takes_the_key_file_from_the_environment_and_the_url_from_public_base_url(make_app, risc_api,
                                                                                           key_file, sa_key):
    app = make_app(PUBLIC_BASE_URL="https://signin.example.com/")
    result = app.test_cli_runner().invoke(args=["risc", "register"],
                                          env={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})
    assert result.exit_code == 0, result.output
    [request] = risc_api.request_history
    assert request.json()["delivery"]["url"] == "https://signin.example.com/risc"
    assert_authorized(request, sa_key)


@pytest.mark.parametrize("url", ["http://signin.example.com/risc", "signin.example.com/risc", "https:///risc"])
def test_register_refuses_a_url_google_would_not_deliver_to(app, risc_api, key_file, url):
    result = app.test_cli_runner().invoke(args=["risc", "register", "--url", url, "--key-file", str(key_file)])
    assert result.exit_code == 2 and "https" in result.output
    assert risc_api.request_history == []


def test_register_without_a_url_or_a_key_file_says_what_is_missing(app, risc_api, key_file):
    runner = app.test_cli_runner()
    no_url = runner.invoke(args=["risc", "register", "--key-file", str(key_file)])
    assert no_url.exit_code == 2 and "--url" in no_url.output
    no_key = runner.invoke(args=["risc", "register", "--url", "https://x.example/risc"],
                           env={"GOOGLE_APPLICATION_CREDENTIALS": None})
    assert no_key.exit_code == 2 and "--key-file" in no_key.output
    assert risc_api.request_history == []


def test_verify_asks_for_a_verification_event_with_the_state(app, risc_api, key_file, sa_key):
    result = app.test_cli_runner().invoke(args=["risc", "verify", "--state", "hello", "--key-file", str(key_file)])
    assert result.exit_code == 0, result.output
    [request] = risc_api.request_history
    assert (request.method, request.url) == ("POST", "https://risc.googleapis.com/v1beta/stream:verify")
    assert request.json() == {"state": "hello"}
    assert_authorized(request, sa_key)
    default = app.test_cli_runner().invoke(args=["risc", "verify", "--key-file", str(key_file)])
    assert default.exit_code == 0 and risc_api.request_history[-1].json()["state"].startswith("flask risc verify ")


def test_status_shows_the_stream_and_its_status(app, risc_api, key_file, sa_key):
    result = app.test_cli_runner().invoke(args=["risc", "status", "--key-file", str(key_file)])
    assert result.exit_code == 0, result.output
    assert [(r.method, r.url) for r in risc_api.request_history] == [
        ("GET", "https://risc.googleapis.com/v1beta/stream"), ("GET", "https://risc.googleapis.com/v1beta/stream/status")]
    shown = json.loads(result.output)
    assert shown["status"] == {"status": "enabled"} and shown["stream"]["delivery"]["delivery_method"] == PUSH
    for request in risc_api.request_history:
        assert_authorized(request, sa_key)


def test_a_refusal_of_the_risc_api_is_shown_and_fails_the_command(app, risc_api, key_file):
    said = "Service account needs permission to access your RISC configuration"
    risc_api.post(f"{RISC_API}/stream:update", status_code=403, json={"error": {"code": 403, "message": said}})
    result = app.test_cli_runner().invoke(args=["risc", "register", "--url", "https://x.example/risc",
                                                "--key-file", str(key_file)])
    assert result.exit_code == 1 and said in result.output and "403" in result.output
    bearer = risc_api.request_history[0].headers["Authorization"].split()[1]
    assert bearer not in result.output


def test_an_unreachable_risc_api_fails_the_command_cleanly(app, risc_api, key_file):
    risc_api.post(f"{RISC_API}/stream:verify", exc=requests.exceptions.ConnectTimeout)
    result = app.test_cli_runner().invoke(args=["risc", "verify", "--key-file", str(key_file)])
    assert result.exit_code == 1 and "could not be reached" in result.output


@pytest.mark.parametrize("content", ['{"type": "authorized_user", "client_id": "x"}', "not json",
                                     '{"client_email": "a@b", "private_key": "nope", "private_key_id": "k"}', "[]"])
def test_a_file_that_is_not_a_service_account_key_is_refused(app, risc_api, tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = app.test_cli_runner().invoke(args=["risc", "verify", "--key-file", str(path)])
    assert result.exit_code == 1 and "not a service account's JSON key file" in result.output
    assert risc_api.request_history == []


def test_a_token_within_the_freshness_window_is_taken(app, google, fake_risc, calls):
    """Six days old, or a minute ahead (clock skew): fresh enough; the window is the jti's memory."""
    for iat in (int(time.time()) - 6 * 24 * 3600, int(time.time()) + 60):
        assert deliver(app, fake_risc.token(user_event(REVOKED, ALICE), iat=iat)).status_code == 202
