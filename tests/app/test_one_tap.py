"""One Tap (GOOGLE_SIGNIN_ONE_TAP): the page's markup and CSP, and POST /login/one-tap's rules,
without a browser. Credentials are ID tokens signed by the fake Google's RS256 key, with the nonce
the page gave the browser, posted as Google's client script posts them (form fields `credential`
and `g_csrf_token`, and the cookie `g_csrf_token`). The browser itself: tests/system/test_one_tap_in_chromium.py.
"""

from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from flask_google_signin import signed_in, testing

from ..helpers import CLIENT_ID, AuthActions, set_cookie

STORES = ["cachelib", pytest.param("redis", marks=[pytest.mark.slow, pytest.mark.redis])]
GIS = "https://accounts.google.com/gsi/client"


@pytest.fixture(params=STORES)
def one_tap_app(request, make_app):
    overrides = {"GOOGLE_SIGNIN_ONE_TAP": "true"}
    if request.param == "redis":
        overrides.update(SESSION_TYPE="redis", REDIS_URL=request.getfixturevalue("redis_server").url)
    app = make_app(**overrides)
    if request.param == "redis":
        testing.store(app).client.flushdb()
    return app


def onload(page: str) -> dict[str, str]:
    """The `g_id_onload` element's data attributes, as Google's script reads them."""
    match = re.search(r'<div id="g_id_onload" ([^>]*)></div>', page)
    assert match, "no g_id_onload element on the page"
    return {name: html.unescape(value) for name, value in re.findall(r'data-([a-z_]+)="([^"]*)"', match.group(1))}


class OneTap:
    """A browser on a page with Google's prompt, and Google's script posting what the prompt gave."""

    def __init__(self, client, google) -> None:
        self.client, self.google = client, google

    def page(self, path: str = "/") -> dict[str, str]:
        return onload(self.client.get(path).get_data(as_text=True))

    def credential(self, nonce: str | None, **claims) -> str:
        return self.google.sign({**self.google.claims(), "azp": "another-client", "nonce": nonce, **claims})

    def post(self, credential: str, attributes: dict[str, str], csrf: str | None = "gcsrf-1",
             field: str | None = None):
        if csrf is not None:
            self.client.set_cookie("g_csrf_token", csrf)
        url = urlsplit(attributes["login_uri"])
        form = {"credential": credential, "g_csrf_token": csrf if field is None else field, "select_by": "user"}
        return self.client.post(f"{url.path}?{url.query}", data={k: v for k, v in form.items() if v is not None})

    def sign_in(self, path: str = "/", **claims):
        attributes = self.page(path)
        return self.post(self.credential(attributes["nonce"], **claims), attributes)


def signed_in_page(client) -> bool:
    return client.get("/profile").status_code == 200


# --------------------------------------------------------------------------- the page


def test_off_by_default_no_script_no_route_no_csp_source(make_app):
    app = make_app()
    response = app.test_client().get("/")
    page = response.get_data(as_text=True)
    assert "g_id_onload" not in page and GIS not in page
    assert "accounts.google.com" not in response.headers["Content-Security-Policy"]
    assert app.test_client().post("/login/one-tap", data={"credential": "x"}).status_code == 404


def test_the_page_loads_googles_script_with_the_html_api(one_tap_app, google):
    client = one_tap_app.test_client()
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert f'<script src="{GIS}" async></script>' in page
    attributes = onload(page)
    assert attributes["client_id"] == CLIENT_ID
    assert attributes["login_uri"] == "http://localhost/login/one-tap?next=/"
    assert attributes["use_fedcm_for_prompt"] == "true" and attributes["auto_select"] == "false"
    assert len(attributes["nonce"]) == 43
    assert 'class="gsi-button"' in page  # the redirect button stays, the fallback
    cookie = set_cookie(response, "session_one_tap")
    assert cookie and "HttpOnly" in response.headers["Set-Cookie"]
    assert client.get("/").get_data(as_text=True).count(attributes["nonce"]) == 1  # the same browser, the same nonce
    other = one_tap_app.test_client()
    assert onload(other.get("/").get_data(as_text=True))["nonce"] != attributes["nonce"]
    assert response.headers["Cache-Control"] == "no-store"  # the page carries this browser's nonce


def test_a_page_view_writes_nothing_to_the_store(one_tap_app, google, tmp_path):
    visitor = one_tap_app.test_client()
    for _ in range(20):
        assert "g_id_onload" in visitor.get("/").get_data(as_text=True)
    records = testing.store(one_tap_app)
    if hasattr(records, "client"):
        assert records.client.dbsize() == 0
    else:
        assert [path.name for path in (tmp_path / "sessions").iterdir() if path.is_file()] == []


def test_auto_select_is_the_setting(make_app, google):
    app = make_app(GOOGLE_SIGNIN_ONE_TAP="true", GOOGLE_SIGNIN_ONE_TAP_AUTO_SELECT="true")
    assert onload(app.test_client().get("/").get_data(as_text=True))["auto_select"] == "true"


def test_the_csp_allows_exactly_googles_sources_with_one_tap_on(make_app, google):
    def policy(app) -> dict[str, str]:
        header = app.test_client().get("/").headers["Content-Security-Policy"]
        return {part.split()[0]: part.split(None, 1)[1] for part in header.split("; ")}

    off, on = policy(make_app()), policy(make_app(GOOGLE_SIGNIN_ONE_TAP="true"))
    assert on["script-src"] == f"{off['script-src']} {GIS}"
    assert on["style-src"] == f"{off['style-src']} https://accounts.google.com/gsi/style"
    assert on["connect-src"] == f"{off['connect-src']} https://accounts.google.com/gsi/"
    assert on["frame-src"] == "'self' https://accounts.google.com/gsi/" and "frame-src" not in off
    gis = ("script-src", "style-src", "connect-src", "frame-src")
    assert {k: v for k, v in on.items() if k not in gis} == {k: v for k, v in off.items() if k not in gis}
    stand_in = policy(make_app(GOOGLE_SIGNIN_ONE_TAP="true", GOOGLE_SIGNIN_GIS_CLIENT_URL="http://127.0.0.1:9/gsi/client"))
    assert stand_in["script-src"].endswith(" http://127.0.0.1:9/gsi/client")
    assert stand_in["connect-src"].endswith(" http://127.0.0.1:9 http://127.0.0.1:9/")
    assert "accounts.google.com" not in str(stand_in)


def test_signed_in_pages_load_the_script_for_the_sign_out_button_only(one_tap_app, google):
    client = one_tap_app.test_client()
    assert OneTap(client, google).sign_in().status_code == 303
    page = client.get("/profile").get_data(as_text=True)
    assert f'<script src="{GIS}" async></script>' in page and "g_id_onload" not in page
    assert re.search(r'<button type="submit" class="[^"]*\bg_id_signout\b', page)  # Google's: no sign-in after


# --------------------------------------------------------------------------- POST /login/one-tap


def test_one_tap_signs_in_as_a_redirect_sign_in_does(one_tap_app, google):
    client = one_tap_app.test_client()
    received = []
    with signed_in.connected_to(lambda sender, **extra: received.append(extra), one_tap_app):
        tap = OneTap(client, google)
        attributes = tap.page()
        attributes["login_uri"] = attributes["login_uri"].replace("next=/", "next=/calendar")
        response = tap.post(tap.credential(attributes["nonce"]), attributes)
    assert response.status_code == 303 and response.location == "/calendar"
    assert set_cookie(response, "session_one_tap") == ""  # spent: the next page has a new nonce
    assert received and received[0]["user"].sub == google.sub
    profile = client.get("/profile").get_data(as_text=True)
    assert "Signed in with Google's prompt" in profile and "Google access has ended" not in profile
    assert "Ada Lovelace" in profile
    # No access token came with it: Calendar goes through the incremental connect.
    connect = client.get("/connect/calendar")
    assert connect.status_code == 302 and connect.location.startswith("https://accounts.google.com/")
    assert parse_qs(urlsplit(connect.location).query)["login_hint"] == [google.sub]


def test_a_new_session_id_and_the_login_rate_limit(make_app, google):
    app = make_app(GOOGLE_SIGNIN_ONE_TAP="true", LOGIN_RATE_LIMIT="1/minute")
    first = OneTap(app.test_client(), google)
    AuthActions(first.client, google).sign_in()  # one sign-in this minute (the redirect)
    before = first.client.get_cookie("session").value
    again = OneTap(app.test_client(), google)
    assert again.sign_in().status_code == 429  # the same address, over the limit
    assert not signed_in_page(again.client)
    assert first.client.get_cookie("session").value == before


def test_a_visitors_session_id_is_not_kept(one_tap_app, google):
    client = one_tap_app.test_client()
    with client.session_transaction() as sess:
        sess["cart"] = ["tea"]
    response = OneTap(client, google).sign_in()
    assert response.status_code == 303
    with client.session_transaction() as sess:
        assert sess["cart"] == ["tea"]  # kept through sign-in, as a redirect sign-in keeps it


@pytest.mark.parametrize(("cookie", "field"), [(None, "gcsrf-1"), ("gcsrf-1", ""), ("gcsrf-1", "gcsrf-2"), ("", "")])
def test_the_g_csrf_token_double_submit_is_required(one_tap_app, google, cookie, field):
    tap = OneTap(one_tap_app.test_client(), google)
    attributes = tap.page()
    response = tap.post(tap.credential(attributes["nonce"]), attributes, csrf=cookie, field=field)
    assert response.status_code == 400
    assert "form token is missing" in response.get_data(as_text=True)
    assert set_cookie(response, "session") is None and not signed_in_page(tap.client)


@pytest.mark.parametrize("nonce", [None, "", "a-nonce-of-our-making", "other-browser"])
def test_the_nonce_must_be_the_one_this_browser_was_given(one_tap_app, google, nonce):
    tap = OneTap(one_tap_app.test_client(), google)
    attributes = tap.page()
    if nonce == "other-browser":
        nonce = OneTap(one_tap_app.test_client(), google).page()["nonce"]
    response = tap.post(tap.credential(nonce), attributes)
    assert response.status_code == 400 and not signed_in_page(tap.client)


def test_without_the_nonce_cookie_the_credential_is_refused(one_tap_app, google):
    tap = OneTap(one_tap_app.test_client(), google)
    attributes = tap.page()
    tap.client.delete_cookie("session_one_tap")
    assert tap.post(tap.credential(attributes["nonce"]), attributes).status_code == 400


def test_a_replayed_credential_is_refused_even_with_the_original_cookies(one_tap_app, google):
    tap = OneTap(one_tap_app.test_client(), google)
    attributes = tap.page()
    browser_value = tap.client.get_cookie("session_one_tap").value
    credential = tap.credential(attributes["nonce"])
    assert tap.post(credential, attributes).status_code == 303
    AuthActions(tap.client, google).logout()
    assert not signed_in_page(tap.client)
    tap.client.set_cookie("session_one_tap", browser_value)
    response = tap.post(credential, attributes)
    assert response.status_code == 400 and "used already" in response.get_data(as_text=True)
    assert not signed_in_page(tap.client)


@pytest.mark.parametrize(("claims", "why"), [
    ({"aud": "another-client.apps.googleusercontent.com"}, "aud"),
    ({"iss": "https://evil.example"}, "iss"),
    ({"exp": int(time.time()) - 120, "iat": int(time.time()) - 3720}, "expired"),
    ({"iat": int(time.time()) + 600, "exp": int(time.time()) + 4200}, "future iat"),
    ({"sub": None}, "no sub"),
])
def test_a_credential_failing_a_check_is_refused(one_tap_app, google, claims, why):
    tap = OneTap(one_tap_app.test_client(), google)
    attributes = tap.page()
    response = tap.post(tap.credential(attributes["nonce"], **claims), attributes)
    assert response.status_code == 401, why
    assert set_cookie(response, "session") is None and not signed_in_page(tap.client)


@pytest.mark.parametrize("credential", ["", "not-a-jwt", "a.b.c", "é" * 50])
def test_a_malformed_credential_is_a_clear_4xx(one_tap_app, google, credential):
    tap = OneTap(one_tap_app.test_client(), google)
    response = tap.post(credential, tap.page())
    assert 400 <= response.status_code < 500 and not signed_in_page(tap.client)


def test_a_credential_signed_by_another_key_is_refused(one_tap_app, google):
    from joserfc.jwk import RSAKey

    tap = OneTap(one_tap_app.test_client(), google)
    attributes = tap.page()
    stranger = RSAKey.generate_key(2048, parameters={"kid": google.key.kid})
    forged = google.sign({**google.claims(), "nonce": attributes["nonce"]}, key=stranger)
    assert tap.post(forged, attributes).status_code == 401


def test_the_allow_lists_apply(make_app, google):
    app = make_app(GOOGLE_SIGNIN_ONE_TAP="true", ALLOWED_DOMAINS="corp.example")
    tap = OneTap(app.test_client(), google)
    response = tap.sign_in()
    assert response.status_code == 403 and not signed_in_page(tap.client)
    assert OneTap(app.test_client(), google).sign_in(hd="corp.example").status_code == 303


def test_next_is_a_local_path_only(one_tap_app, google):
    tap = OneTap(one_tap_app.test_client(), google)
    attributes = tap.page()
    attributes["login_uri"] = "http://localhost/login/one-tap?next=//evil.example"
    response = tap.post(tap.credential(attributes["nonce"]), attributes)
    assert response.status_code == 303 and response.location == "/"


def test_a_query_that_is_not_utf8_is_no_5xx(one_tap_app, google):
    """Bytes a WSGI server hands over as they came (0xFF: no UTF-8): the page's `next` is its path alone,
    and the POST lands on `/`."""
    tap = OneTap(one_tap_app.test_client(), google)
    page = tap.client.get("/", environ_overrides={"QUERY_STRING": "next=\xff"})
    assert page.status_code == 200
    attributes = onload(page.get_data(as_text=True))
    assert attributes["login_uri"].endswith("/login/one-tap?next=/")
    tap.client.set_cookie("g_csrf_token", "t")
    response = tap.client.post("/login/one-tap", environ_overrides={"QUERY_STRING": "next=\xff"},
                               data={"credential": tap.credential(attributes["nonce"]), "g_csrf_token": "t"})
    assert response.status_code == 303 and response.location == "/"
    connect = tap.client.get("/connect/calendar", environ_overrides={"QUERY_STRING": "x=\xff"})
    assert connect.status_code == 302  # signed in now: to Google, the retry link the path alone
