"""examples/flaskr/ served the way its docstring says (`gunicorn "flaskr:create_app()"` from examples/)
in Chromium against the local provider: a password user, then the same person with Google (linked
by the verified email), a post each way, and the sign-out button.
(The test-client tests: tests/extension/test_example_flaskr.py.)
"""

from __future__ import annotations

import re

import pytest

from ..extension.test_example_flaskr import ENV_PREFIX, flaskr_env
from ..helpers import screenshot, server_env
from ..servers import ExampleServer


@pytest.fixture(scope="module")
def flaskr_server(local_provider, tmp_path_factory):
    directory = tmp_path_factory.mktemp("flaskr")
    env = {k: v for k, v in server_env().items() if not k.startswith(ENV_PREFIX)}
    env.update(flaskr_env(SECRET_KEY="flaskr-e2e-secret", GOOGLE_CLIENT_ID="flaskr-client",
                          GOOGLE_CLIENT_SECRET="flaskr-secret", GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url,
                          GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(directory / "sessions"),
                          GOOGLE_SIGNIN_COOKIE_SECURE="false", GOOGLE_SIGNIN_LOGIN_RATE_LIMIT="1000/second",
                          DATABASE=str(directory / "flaskr.sqlite")))
    server = ExampleServer("flaskr:create_app()", env, directory / "gunicorn.log")
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.browser
def test_flaskr_with_a_password_and_with_google_in_chromium(page, flaskr_server):
    """Register and log in with a password, post, log out; sign in with Google as the same address
    (the row is linked), land on the blog, post, sign out with the button."""
    url = flaskr_server.url
    page.goto(url + "/auth/register")
    page.get_by_label("Username").fill("alice.w")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_label("Email (optional)").fill("alice@example.com")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(url + "/auth/login")
    page.get_by_label("Username").fill("alice.w")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Log In").click()
    page.wait_for_url(url + "/")
    page.get_by_role("link", name="New").click()
    page.get_by_label("Title").fill("With a password")
    page.get_by_label("Body").fill("Logged in the tutorial's way.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(url + "/")
    page.get_by_role("link", name="Log Out").click()
    page.wait_for_url(url + "/")

    page.get_by_role("link", name="Sign in with Google").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.locator("button[name=sub][value=alice]").click()
    page.wait_for_url(url + "/")  # the blog
    nav = page.get_by_role("navigation")
    assert "alice.w" in nav.inner_text()  # the password user's row, now linked to the Google account
    assert not nav.get_by_role("link", name="Sign in with Google").count()
    page.get_by_role("link", name="New").click()
    page.wait_for_url(url + "/create")
    page.get_by_label("Title").fill("With Google")
    page.get_by_label("Body").fill("Signed in at /google/login.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(url + "/")
    posts = page.get_by_role("article")
    assert [posts.nth(i).get_by_role("heading").inner_text() for i in range(posts.count())] == [
        "With Google", "With a password"]
    assert all("by alice.w" in posts.nth(i).inner_text() for i in range(2))
    screenshot(page, "example-flaskr-blog")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(url + "/")
    assert page.get_by_role("status").inner_text() == "You have been signed out."
    assert page.get_by_role("link", name="Sign in with Google").is_visible()
    page.goto(url + "/create")
    page.wait_for_url(url + "/auth/login")  # signed out: the app's own login_required sends to its login page
