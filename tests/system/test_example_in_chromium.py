"""examples/existing_app.py served the way its docstring says (`gunicorn existing_app:app` from examples/)
signs in for real in Chromium against the local provider: members page, provider, back signed in, sign out.
(Its size, imports and the test-client sign-in: tests/extension/test_example.py.)
"""

from __future__ import annotations

import re

import pytest

from ..extension.test_example import EXAMPLE_ENV_PREFIX, example_env
from ..helpers import screenshot, server_env
from ..servers import ExampleServer

# --------------------------------------------------------------------------- gunicorn + Chromium


@pytest.fixture(scope="module")
def example_server(local_provider, tmp_path_factory):
    directory = tmp_path_factory.mktemp("example")
    env = {k: v for k, v in server_env().items() if not k.startswith(EXAMPLE_ENV_PREFIX)}
    env.update(example_env(SECRET_KEY="example-e2e-secret", GOOGLE_CLIENT_ID="example-client",
                           GOOGLE_CLIENT_SECRET="example-secret",
                           GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url,
                           GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(directory / "sessions"),
                           GOOGLE_SIGNIN_COOKIE_SECURE="false", GOOGLE_SIGNIN_LOGIN_RATE_LIMIT="1000/second"))
    server = ExampleServer("existing_app:app", env, directory / "gunicorn.log")
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.browser
def test_example_in_chromium(page, example_server):
    """Members page -> the provider's login -> back on the members page, signed in -> sign out."""
    url = example_server.url
    page.goto(url + "/members")
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.locator("button[name=sub][value=alice]").click()

    page.wait_for_url(url + "/members")
    assert page.get_by_role("heading", level=1).inner_text() == "Members"
    assert "alice@example.com" in page.get_by_role("navigation").inner_text()
    assert "Welcome, Alice Example." in page.get_by_role("main").inner_text()
    screenshot(page, "example-members")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(url + "/")
    assert page.get_by_role("status").inner_text() == "You have been signed out."
    assert page.get_by_role("link", name="Sign in with Google").is_visible()
    page.goto(url + "/members")
    page.wait_for_url(re.compile(r"/oauth2/authorize"))  # signed out: the members page asks for a sign-in again
