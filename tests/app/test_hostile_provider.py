"""The sign-in against a hostile OpenID provider (tests/hostile_provider.py).

Each case breaks one rule, modelled on the OpenID Foundation's RP certification tests; for each,
nobody is signed in, the user gets a clean error page with the right status and "Try again", the
refusal is logged with its reason, and the app never answers 500. The provider answers in process
(requests-mock hands it each call); the cases of a provider that hangs or drips its answer need the
deadline to cut real sockets, so they run against it as a real HTTP server on 127.0.0.1 (slow).
"""

from __future__ import annotations

import contextlib
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import requests_mock

from ..helpers import CLIENT_ID, CLIENT_SECRET
from ..hostile_provider import DROP, HostileProvider

FAST_TIMEOUT = 0.3  # PROVIDER_TIMEOUT in most tests, so a "hangs" case costs that much
HANG = 30  # how long a hanging endpoint stalls (released at the end of each test)
SLOW = pytest.mark.slow  # the deadline cases: a deadline cuts real sockets, so they need the real server


@pytest.fixture(scope="module")
def hostile_server():
    """The provider as a real HTTP server on 127.0.0.1, for the slow tests."""
    server = HostileProvider(CLIENT_ID, CLIENT_SECRET)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hostile_app():
    """The same provider in process: requests-mock hands it every call to its URL, nothing listens."""
    return HostileProvider(CLIENT_ID, CLIENT_SECRET, serve=False)


@pytest.fixture
def op(request):
    """The real server for a slow test, the in-process provider for the others (any other URL raises)."""
    if request.node.get_closest_marker("slow"):
        provider, transport = request.getfixturevalue("hostile_server"), contextlib.nullcontext()
    else:
        provider, transport = request.getfixturevalue("hostile_app"), requests_mock.Mocker()
    provider.reset()
    with transport as mocker:
        if mocker is not None:
            mocker.add_matcher(provider.answer)
        yield provider
    provider.reset()  # wakes any handler still stalling


@pytest.fixture
def rp(make_app, op):
    return make_app(GOOGLE_SERVER_METADATA_URL=op.metadata_url, PROVIDER_TIMEOUT=FAST_TIMEOUT)


class Browser:
    """A browser: the test client for our app, real HTTP for the provider's authorization endpoint."""

    def __init__(self, app) -> None:
        self.client = app.test_client()

    def login(self, next: str | None = None):
        return self.client.get("/login", query_string={"next": next} if next else None)

    def authorize(self, location: str) -> str:
        answer = requests.get(location, allow_redirects=False, timeout=5)
        assert answer.status_code == 302, answer.text
        back = urlsplit(answer.headers["Location"])
        assert back.path == "/callback"
        return f"{back.path}?{back.query}"

    def sign_in(self, next: str | None = None):
        start = self.login(next)
        assert start.status_code == 302, start.get_data(as_text=True)
        return self.client.get(self.authorize(start.location))

    def signed_in(self) -> bool:
        with self.client.session_transaction() as sess:
            has_user = "user" in sess
        return has_user or self.client.get("/profile").status_code == 200


def assert_refused(browser: Browser, response, status: int, caplog=None, reason: str = "") -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    assert "Try again" in html and 'href="/login"' in html
    assert "Traceback" not in html and "Error 500" not in html
    assert response.headers["Cache-Control"] == "no-store"
    assert not browser.signed_in()
    assert browser.client.get("/profile").status_code == 302
    if caplog is not None:
        refusals = [r for r in caplog.records if getattr(r, "event", None) == "sign_in_refused"]
        assert refusals, "no log line for the refusal"
        assert reason in refusals[-1].reason


def test_well_behaved_provider_signs_in(rp, op):
    """The baseline: every refusal below differs from this in exactly one respect."""
    browser = Browser(rp)
    response = browser.sign_in(next="/profile")
    assert response.status_code == 302 and response.location == "/profile"
    assert browser.signed_in()
    assert "Grace Hopper" in browser.client.get("/profile").get_data(as_text=True)
    grant = next(iter(op.calls("authorize")))
    assert grant["code_challenge_method"] == "S256" and grant["scope"] == "openid email profile"
    assert [name for name, _ in op.log] == ["discovery", "authorize", "token", "jwks", "userinfo"]


def now() -> int:
    return int(time.time())


# Each case: (OIDF test id or our own name, how the provider misbehaves, reason logged).
ID_TOKEN_CASES = [
    ("rp-id_token-bad-sig-rs256", lambda op: setattr(op, "signing_key", op.other_key) or op.header.update(
        kid=op.key.kid), "BadSignature"),
    ("rp-id_token-sig-none", lambda op: setattr(op, "signer", "none"), "ID token rejected"),
    ("alg-none-listed-in-discovery", lambda op: setattr(op, "signer", "none") or op.discovery.update(
        id_token_signing_alg_values_supported=["none", "RS256"]), "ID token rejected"),
    ("hs256-signed-with-rsa-public-key", lambda op: setattr(op, "signer", "hs256-public-key"), "ID token rejected"),
    ("rp-id_token-bad-sig-hs256", lambda op: setattr(op, "signer", "hs256-client-secret") or op.discovery.update(
        id_token_signing_alg_values_supported=["HS256"]), "ID token rejected"),
    ("es256-not-rs256", lambda op: setattr(op, "signer", "es256") or op.published.append(op.ec_key),
     "ID token rejected"),
    ("rp-id_token-kid-absent-multiple-jwks", lambda op: op.header.update(kid=DROP) or op.published.append(
        op.other_key), "InvalidKeyIdError"),
    ("unknown-kid-after-refetch", lambda op: setattr(op, "signing_key", op.other_key), "InvalidKeyIdError"),
    ("rp-id_token-issuer-mismatch", lambda op: op.id_claims.update(iss="https://op.example.com"), "iss"),
    ("iss-missing", lambda op: op.id_claims.update(iss=DROP), "iss"),
    ("iss-without-scheme-not-google", lambda op: op.id_claims.update(iss=op.issuer.removeprefix("http://")), "iss"),
    ("rp-id_token-aud", lambda op: op.id_claims.update(aud="someone-else", azp=DROP), "aud"),
    ("aud-other-azp-ours", lambda op: op.id_claims.update(aud="someone-else"), "aud"),
    ("aud-extra-untrusted", lambda op: op.id_claims.update(aud=[CLIENT_ID, "someone-else"]), "aud"),
    ("aud-missing", lambda op: op.id_claims.update(aud=DROP), "aud"),
    ("azp-not-us", lambda op: op.id_claims.update(azp="someone-else"), "azp"),
    ("exp-passed", lambda op: op.id_claims.update(iat=now() - 900, exp=now() - 300), "expired"),
    ("exp-missing", lambda op: op.id_claims.update(exp=DROP), "exp"),
    ("exp-not-after-iat", lambda op: op.id_claims.update(iat=now() + 30, exp=now() + 30), "exp is not after iat"),
    ("rp-id_token-iat", lambda op: op.id_claims.update(iat=DROP), "iat"),
    ("iat-in-the-future", lambda op: op.id_claims.update(iat=now() + 3600, exp=now() + 7200), "future"),
    ("iat-a-day-old", lambda op: op.id_claims.update(iat=now() - 86400), "iat is too far in the past"),
    ("iat-not-a-number", lambda op: op.id_claims.update(iat="yesterday"), "iat"),
    ("rp-id_token-sub", lambda op: op.id_claims.update(sub=DROP), "sub"),
    ("sub-empty", lambda op: op.id_claims.update(sub=""), "sub"),
    ("sub-not-a-string", lambda op: op.id_claims.update(sub=12345), "sub"),
    ("rp-nonce-invalid", lambda op: op.id_claims.update(nonce="not-the-nonce-we-sent"), "nonce"),
    ("nonce-missing", lambda op: op.id_claims.update(nonce=DROP), "nonce"),
    ("at_hash-wrong", lambda op: op.id_claims.update(at_hash="AAAAAAAAAAAAAAAAAAAAAA"), "at_hash"),
]


@pytest.mark.parametrize(("case", "misbehave", "reason"), ID_TOKEN_CASES, ids=[c[0] for c in ID_TOKEN_CASES])
def test_bad_id_token_is_refused(rp, op, caplog, case, misbehave, reason):
    """Core 3.1.3.7: any failed check refuses the sign-in, and userinfo is never called."""
    misbehave(op)
    browser = Browser(rp)
    response = browser.sign_in()
    assert_refused(browser, response, 401, caplog, reason)
    assert "failed verification" in response.get_data(as_text=True)
    assert op.calls("token"), "the code was exchanged"
    assert op.calls("userinfo") == [], "userinfo called before the ID token validated"


def test_unknown_kid_refetches_jwks_once(rp, op):
    op.signing_key = op.other_key  # kid op-key-2, never published
    browser = Browser(rp)
    assert browser.sign_in().status_code == 401
    assert len(op.calls("jwks")) == 2  # the cached set, then one refetch; no loop


def test_kid_absent_with_single_key_signs_in(rp, op):
    """rp-id_token-kid-absent-single-jwks: without a kid the single published key is used."""
    op.header["kid"] = DROP
    browser = Browser(rp)
    assert browser.sign_in().status_code == 302
    assert browser.signed_in()


def test_key_rotation(rp, op):
    """rp-key-rotation-op-sign-key: a new kid makes the RP refetch the JWKS, once."""
    assert Browser(rp).sign_in().status_code == 302
    op.published = [op.other_key]
    op.signing_key = op.other_key
    browser = Browser(rp)
    assert browser.sign_in().status_code == 302
    assert browser.signed_in()
    assert len(op.calls("jwks")) == 2


@pytest.mark.parametrize("aud", [CLIENT_ID, [CLIENT_ID]])
def test_aud_as_string_or_single_list_and_no_azp_signs_in(rp, op, aud):
    op.id_claims.update(aud=aud, azp=DROP)
    browser = Browser(rp)
    assert browser.sign_in().status_code == 302
    assert browser.signed_in()


@pytest.mark.parametrize(("case", "userinfo"), [("rp-userinfo-bad-sub-claim", {"sub": "someone-else"}),
                                                ("userinfo-sub-missing", {"sub": DROP})])
def test_userinfo_sub_must_match(rp, op, caplog, case, userinfo):
    """Core 5.3.2: userinfo is trusted only when its sub is the ID token's."""
    op.userinfo_extra = userinfo
    browser = Browser(rp)
    response = browser.sign_in()
    assert_refused(browser, response, 401, caplog, "userinfo sub does not match")
    assert op.calls("userinfo")


TOKEN_ENDPOINT_CASES = [
    ("no-id_token", lambda op: op.token_extra.update(id_token=DROP), 401, "no ID token"),
    ("error-invalid_request", lambda op: setattr(op, "token_body", {"error": "invalid_request"}) or setattr(
        op, "token_status", 400), 502, "invalid_request"),
    ("error-invalid_grant", lambda op: setattr(op, "token_body", {"error": "invalid_grant"}) or setattr(
        op, "token_status", 400), 400, "invalid_grant"),
    ("error-500-json", lambda op: setattr(op, "token_body", {"error": "server_error"}) or setattr(
        op, "token_status", 500), 502, "bad provider"),
    ("html-200", lambda op: setattr(op, "token_body", "<html><body>Welcome!</body></html>"), 502, "bad provider"),
    ("html-502", lambda op: setattr(op, "token_body", "<html>Bad gateway</html>") or setattr(
        op, "token_status", 502), 502, "bad provider"),
    ("json-list", lambda op: setattr(op, "token_body", ["access_token"]), 502, "bad provider"),
    ("no-access_token", lambda op: op.token_extra.update(access_token=DROP), 502, ""),
    ("hangs", lambda op: op.hang.update(token=HANG), 503, "Timeout"),
]


@pytest.mark.parametrize(("case", "misbehave", "status", "reason"), [
    pytest.param(*c, id=c[0], marks=[SLOW] if c[0] == "hangs" else []) for c in TOKEN_ENDPOINT_CASES])
def test_bad_token_endpoint_is_refused(rp, op, caplog, case, misbehave, status, reason):
    misbehave(op)
    browser = Browser(rp)
    started = time.monotonic()
    response = browser.sign_in()
    assert time.monotonic() - started < FAST_TIMEOUT + 2
    assert_refused(browser, response, status, caplog, reason)
    assert op.calls("userinfo") == []


@SLOW
@pytest.mark.parametrize("endpoint", ["jwks", "userinfo"])
def test_hanging_jwks_or_userinfo_gives_503_within_the_timeout(rp, op, caplog, endpoint):
    op.hang[endpoint] = HANG
    browser = Browser(rp)
    started = time.monotonic()
    response = browser.sign_in()
    assert time.monotonic() - started < FAST_TIMEOUT + 2
    assert_refused(browser, response, 503, caplog, "Timeout")


@SLOW
@pytest.mark.parametrize("endpoint", ["token", "userinfo"])
def test_provider_dripping_its_answer_is_cut_off_at_the_deadline(rp, op, caplog, endpoint):
    """Slowloris: every read returns quickly, so a per-read timeout alone would wait for minutes."""
    op.drip[endpoint] = 0.2  # a ~1 KB answer would take minutes
    browser = Browser(rp)
    started = time.monotonic()
    response = browser.sign_in()
    assert time.monotonic() - started < FAST_TIMEOUT + 2
    assert_refused(browser, response, 503, caplog, "Timeout")


@pytest.mark.slow
def test_default_timeout_answers_a_hanging_provider_within_10_seconds(make_app, op):
    """With PROVIDER_TIMEOUT left at its default (8 s), a stalled token endpoint costs < 10 s."""
    app = make_app(GOOGLE_SERVER_METADATA_URL=op.metadata_url)
    assert app.config["GOOGLE_SIGNIN_PROVIDER_TIMEOUT"] == 8.0
    op.hang["token"] = HANG
    browser = Browser(app)
    start = browser.login()
    started = time.monotonic()
    response = browser.client.get(browser.authorize(start.location))
    assert time.monotonic() - started < 10
    assert_refused(browser, response, 503)


# -- discovery (at /login, before anything is sent to the provider's authorization endpoint)

DISCOVERY_CASES = [
    ("rp-discovery-issuer-not-matching-config", {"issuer": "https://op.example.com"}, 502),
    ("issuer-missing", {"issuer": DROP}, 502),
    ("jwks_uri-missing", {"jwks_uri": DROP}, 502),
    ("token_endpoint-not-a-string", {"token_endpoint": ["x"]}, 502),
]


@pytest.mark.parametrize(("case", "document", "status"), DISCOVERY_CASES, ids=[c[0] for c in DISCOVERY_CASES])
def test_bad_discovery_is_refused(rp, op, case, document, status):
    op.discovery = document
    browser = Browser(rp)
    response = browser.login()
    assert_refused(browser, response, status)
    assert op.calls("authorize") == [] and op.calls("token") == []


def test_discovery_that_is_not_json_is_refused(rp, op):
    op.discovery_raw = "<html><body>Sign in to the captive portal</body></html>"
    browser = Browser(rp)
    assert_refused(browser, browser.login(), 502)


@SLOW
def test_hanging_discovery_gives_503_within_the_timeout(rp, op):
    op.hang["discovery"] = HANG
    browser = Browser(rp)
    started = time.monotonic()
    response = browser.login()
    assert time.monotonic() - started < FAST_TIMEOUT + 2
    assert_refused(browser, response, 503)


WEAKENING_DISCOVERY = {
    "code_challenge_method": None,
    "code_challenge_methods_supported": ["plain"],
    "scope": "openid",
    "scopes_supported": ["openid"],
    "response_mode": "fragment",
    "response_type": "token",
    "id_token_signing_alg_values_supported": ["none", "HS256", "RS256"],
    "token_endpoint_auth_method": "none",
    "token_endpoint_auth_methods_supported": ["none"],
    "jwks": {"keys": []},
    "nonce": "fixed",
}


def test_discovery_cannot_weaken_the_client(rp, op):
    """Discovery 4.3 / RFC 9700 2.1.1: the document may not switch off PKCE, change the scope,
    response mode, client authentication or the accepted algorithms."""
    op.discovery = dict(WEAKENING_DISCOVERY)
    browser = Browser(rp)
    start = browser.login()
    assert start.status_code == 302
    params = {k: v[0] for k, v in parse_qs(urlsplit(start.location).query).items()}
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["scope"] == "openid email profile" and params["response_type"] == "code"
    assert "response_mode" not in params and params["nonce"] != "fixed"
    response = browser.client.get(browser.authorize(start.location))
    assert response.status_code == 302 and browser.signed_in()
    exchange = op.calls("token")[-1]
    assert exchange["code_verifier"] and exchange["authorization"].startswith("Basic ")
    assert op.calls("jwks"), "the keys came from jwks_uri, not from the document"
    # and an unsigned token is still refused, though the document lists "none"
    op.signer = "none"
    other = Browser(rp)
    assert_refused(other, other.sign_in(), 401)


# -- sign-out revocation against a real server


def signed_in_browser(app) -> Browser:
    browser = Browser(app)
    assert browser.sign_in().status_code == 302
    return browser


def logout(browser: Browser):
    import re

    page = browser.client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return browser.client.post("/logout", data={"csrf_token": token})


def test_sign_out_revokes_at_the_revocation_endpoint(rp, op):
    browser = signed_in_browser(rp)
    response = logout(browser)
    assert response.status_code == 303
    assert op.revoked == [op.refresh_token]
    assert op.calls("revoke")[0]["authorization"].startswith("Basic ")  # the client authenticates
    assert not browser.signed_in()


@pytest.mark.parametrize("failure", [pytest.param("hangs", marks=SLOW), "500"])
def test_sign_out_does_not_wait_on_a_failing_revocation(rp, op, caplog, failure):
    browser = signed_in_browser(rp)
    if failure == "hangs":
        op.hang["revoke"] = HANG
    else:
        op.revoke_status = 500
    started = time.monotonic()
    response = logout(browser)
    elapsed = time.monotonic() - started
    assert response.status_code == 303
    assert elapsed < 4  # REVOKE_TIMEOUT is 3 s, whatever the provider does
    assert not browser.signed_in()
    assert "You have been signed out." in browser.client.get("/").get_data(as_text=True)
    if failure == "hangs":
        assert any(getattr(r, "event", None) == "revoke_failed" for r in caplog.records)
