"""Sign-out end to end: from anywhere on this site, and only from this site.

Chromium -> gunicorn (the Dockerfile's command) -> local OpenID provider; over https through a
TLS-terminating proxy (tests/tls_proxy.py) where the point is the https Referer rules.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError

from ..helpers import screenshot
from ..tls_proxy import OnePageSite

pytestmark = [pytest.mark.slow, pytest.mark.browser]

IDLE_LIFETIME = 4  # seconds, for the expiring server: room to see the signed-in page on a busy machine


@pytest.fixture(scope="session")
def expiring_server(gunicorn_factory, local_provider):
    """A gunicorn whose sessions end after IDLE_LIFETIME seconds without activity."""
    return gunicorn_factory(GOOGLE_CLIENT_ID="e2e-expiring-client", GOOGLE_CLIENT_SECRET="e2e-secret",
                            GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url,
                            PERMANENT_SESSION_LIFETIME=str(IDLE_LIFETIME))


@pytest.fixture
def https_page(browser):
    """A fresh browser context that accepts the proxy's self-signed certificate."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page, base: str, sub: str = "alice") -> str:
    """Sign in at the local provider's page; returns the redirect_uri the app sent there."""
    page.goto(base + "/login")
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    redirect_uri = parse_qs(urlsplit(page.url).query)["redirect_uri"][0]
    page.locator(f"button[name=sub][value={sub}]").click()
    page.wait_for_url(base + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, Alice Example!"
    return redirect_uri


def profile(page, base: str):
    """GET /profile with the browser's cookies, redirects not followed: 200 signed in, 302 to /login not."""
    return page.context.request.get(base + "/profile", max_redirects=0)


def assert_signed_in(page, base: str) -> None:
    response = profile(page, base)
    assert response.status == 200, (response.status, response.headers.get("location"))


def assert_signed_out(page, base: str) -> None:
    response = profile(page, base)
    assert response.status == 302
    assert urlsplit(response.headers["location"]).path == "/login"


def is_logout_post(response) -> bool:
    return response.request.method == "POST" and urlsplit(response.url).path == "/logout"


def click_sign_out(page, button):
    """Click a sign-out button; returns the response to the POST /logout (before any redirect)."""
    with page.expect_response(is_logout_post) as answer:
        button.click()
    return answer.value


def assert_status(response, status: int) -> None:
    if response.status != status:
        try:
            main = re.search(r"<main.*?</main>", response.text(), re.DOTALL)
            body = re.sub(r"(<[^>]+>|\s)+", " ", main[0] if main else response.text()).strip()[:600]
        except PlaywrightError:  # a redirect has no body to show
            body = response.headers.get("location")
        pytest.fail(f"{response.request.method} {response.url}: {response.status}, expected {status}: {body}")


def header_sign_out(page):
    return page.get_by_role("navigation", name="Account").get_by_role("button", name="Sign out")


def assert_home_signed_out(page, base: str, message: str = "You have been signed out.") -> None:
    page.wait_for_url(base + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome"
    assert page.get_by_role("status").inner_text() == message
    assert page.get_by_role("link", name="Sign in with Google", exact=True).is_visible()
    assert page.get_by_role("button", name="Sign out").count() == 0
    assert_signed_out(page, base)


# --------------------------------------------------------------------------- 1. an expired session


def test_sign_out_after_the_session_expired(page, expiring_server):
    base = expiring_server.url
    sign_in(page, base)
    signed_in = time.monotonic()
    button = header_sign_out(page)
    assert button.is_visible()
    time.sleep(max(0.0, signed_in + IDLE_LIFETIME + 1.5 - time.monotonic()))  # the idle lifetime passes

    response = click_sign_out(page, button)  # the form still on the page, its CSRF token now orphaned
    assert_status(response, 303)  # not the 400 "CSRF session token is missing"
    page.wait_for_url(base + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome"
    # the session was over before the POST: nothing was ended, so no "You have been signed out."
    assert "You have been signed out." not in page.locator(".flashes").all_inner_texts()
    assert page.get_by_role("link", name="Sign in with Google", exact=True).is_visible()
    assert page.get_by_role("button", name="Sign out").count() == 0
    assert_signed_out(page, base)


# --------------------------------------------------------------------------- 2. over https behind a proxy


def test_sign_out_from_callback_error_page_over_https(https_page, https_app_server):
    page, base = https_page, https_app_server.url
    assert base.startswith("https://127.0.0.1:")
    assert sign_in(page, base) == base + "/callback"  # built from X-Forwarded-Proto and -Host

    error = page.goto(base + "/callback?state=forged&code=x")
    assert error.status == 400
    assert error.header_value("referrer-policy") == "no-referrer"
    assert page.get_by_role("heading", level=1).inner_text() == "Sign-in could not be completed"
    assert_signed_in(page, base)  # a forged callback does not end the session

    response = click_sign_out(page, header_sign_out(page))
    sent = response.request.all_headers()
    assert "referer" not in sent and sent.get("sec-fetch-site") == "same-origin", sent
    received = [h for m, p, h in https_app_server.requests if m == "POST" and p == "/logout"]
    assert received and not any(k.lower() == "referer" for k in received[-1])  # what the app got
    assert_status(response, 303)  # Flask-WTF's strict https Referer check said 400
    assert_home_signed_out(page, base)


def test_sign_out_from_profile_over_https(https_page, https_app_server):
    page, base = https_page, https_app_server.url
    sign_in(page, base)
    page.goto(base + "/profile")
    assert page.get_by_role("heading", level=1).inner_text() == "Alice Example"
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-session")  # Secure: host-prefixed
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert "domain" not in cookie or not cookie["domain"].startswith(".")  # a host-only cookie

    response = click_sign_out(page, header_sign_out(page))
    assert_status(response, 303)
    assert_home_signed_out(page, base)


# --------------------------------------------------------------------------- 4. GET /logout


def test_logout_page_signs_nobody_out_and_its_button_does(https_page, https_app_server):
    page, base = https_page, https_app_server.url
    sign_in(page, base)

    shown = page.goto(base + "/logout")
    assert shown.status == 200
    assert page.get_by_role("heading", level=1).inner_text() == "Sign out"
    main = page.get_by_role("main")
    assert "You are signed in as alice@example.com." in main.inner_text()
    button = main.get_by_role("button", name="Sign out", exact=True)
    assert button.is_visible()
    screenshot(page, "logout")
    assert_signed_in(page, base)  # showing the page signed nobody out
    page.reload()
    assert page.get_by_role("main").get_by_role("button", name="Sign out", exact=True).is_visible()

    response = click_sign_out(page, button)
    assert_status(response, 303)
    assert_home_signed_out(page, base)

    page.goto(base + "/logout")  # signed out: the page says so and its button ends nothing, without error
    assert "You are not signed in." in page.get_by_role("main").inner_text()
    response = click_sign_out(page, page.get_by_role("button", name="Sign out anyway"))
    assert_status(response, 303)
    page.wait_for_url(base + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome"


# --------------------------------------------------------------------------- 3. CSRF stays real


@pytest.mark.parametrize(("attacker_host", "fetch_site"), [("localhost", "cross-site"), ("127.0.0.1", "same-site")])
def test_post_from_another_origin_signs_nobody_out(page, app_server, attacker_host, fetch_site):
    """A page elsewhere that auto-submits a form to /logout. From localhost it is another site (the
    Lax cookie stays home); from 127.0.0.1 on another port it is the same site, so the session cookie
    goes along and only the origin check stands in the way."""
    base = app_server.url
    sign_in(page, base)
    site = OnePageSite(f'<!doctype html><title>elsewhere</title><form method="post" action="{base}/logout">'
                       '<input type="hidden" name="csrf_token" value="forged"></form>'
                       "<script>document.forms[0].submit()</script>")
    try:
        with page.expect_response(is_logout_post) as answer:
            page.goto(f"http://{attacker_host}:{site.port}/")
        response = answer.value
    finally:
        site.stop()
    sent = response.request.all_headers()
    assert sent.get("sec-fetch-site") == fetch_site, sent
    if fetch_site == "same-site":
        assert "session=" in sent.get("cookie", ""), sent  # a live session reached the app
    assert_status(response, 400)
    page.wait_for_url(base + "/logout")
    assert "Sign-out must come from this site." in page.get_by_role("main").inner_text()  # the origin check said no
    assert_signed_in(page, base)
    page.goto(base + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, Alice Example!"
