"""Sign-in end to end: Chromium -> gunicorn (the Dockerfile's command) -> local OpenID provider; a
cancel at the provider is a friendly page, the access log never holds the code, and the security headers
come through gunicorn."""

from __future__ import annotations

import re

import pytest
import requests

from ..helpers import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_sign_in_profile_sign_out(page, app_server):
    page.goto(app_server.url + "/")
    assert page.get_by_role("note").inner_text().startswith("Local test provider — not Google")
    sign_in = page.get_by_role("link", name="Sign in with Google", exact=True)
    assert sign_in.is_visible()
    screenshot(page, "1-home-anonymous")

    sign_in.click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    screenshot(page, "2-provider-login")
    page.locator("button[name=sub][value=alice]").click()

    page.wait_for_url(app_server.url + "/")
    assert "Hello, Alice Example!" in page.get_by_role("heading", level=1).inner_text()
    screenshot(page, "3-home-signed-in")

    page.get_by_role("link", name="View your profile").click()
    page.wait_for_url(app_server.url + "/profile")
    assert page.get_by_role("heading", level=1).inner_text() == "Alice Example"
    assert "alice@example.com" in page.locator(".email").inner_text()
    assert "verified" in page.locator(".email").inner_text()
    claims = page.locator("table.claims").inner_text()
    assert "email_verified" in claims and "example.com" in claims
    screenshot(page, "4-profile")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(app_server.url + "/")
    assert page.get_by_role("status").inner_text() == "You have been signed out."
    assert page.get_by_role("link", name="Sign in with Google", exact=True).is_visible()
    screenshot(page, "5-signed-out")
    page.goto(app_server.url + "/profile")
    page.wait_for_url(re.compile(r"/oauth2/authorize"))  # signed out: profile needs a new sign-in


def test_cancel_at_provider_shows_friendly_page(page, app_server):
    page.goto(app_server.url + "/login?next=/profile")
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(re.compile(r"/callback\?"))
    assert page.get_by_role("heading", level=1).inner_text() == "Nothing changed"  # no state
    assert page.get_by_role("link", name="Try again").is_visible()
    screenshot(page, "6-cancelled")


def test_gunicorn_access_log_never_holds_the_code(app_server):
    assert "/callback" in app_server.logs()
    assert "code=" not in app_server.logs() and "state=" not in app_server.logs()


def test_headers_from_gunicorn(app_server):
    response = requests.get(app_server.url + "/", timeout=5)
    assert response.headers["Server"] == "gunicorn"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
