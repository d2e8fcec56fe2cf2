"""The calendar in local mode: against the real local provider (oidc-provider-mock) and the stand-in
Calendar API of scripts/local_calendar.py, only the registered client is granted the calendar and the
stand-in takes only the provider's tokens; with the app in process (the test client) and `make run`
itself (scripts/serve.py) driven by Chromium."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from local_calendar import CALENDAR_SCOPE, SampleCalendar, register_client

from ..helpers import screenshot
from .test_pages_in_chromium import PageCheck

pytestmark = [pytest.mark.slow]

TIMEOUT = 15


def authorize(client, path: str, sub: str):
    """GET `path` (/login or /connect/calendar), pick `sub` at the provider, come back to /callback."""
    start = client.get(path)
    assert start.status_code == 302, start.data
    answer = requests.post(start.location, data={"sub": sub}, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 302, answer.text[:500]
    back = urlsplit(answer.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def granted(app, client) -> list[str]:
    interface = app.session_interface
    record = interface._retrieve_session_data(interface.key_prefix + client.get_cookie("session").value)
    return record["token"]["scope"].split() if "token" in record else []


def test_an_unregistered_client_is_not_granted_the_calendar(make_app, local_provider):
    """The provider drops scopes a client was not registered with: the page says it was not granted."""
    app = make_app(GOOGLE_CLIENT_ID="unregistered-calendar-client", GOOGLE_CLIENT_SECRET="any",
                   GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url)
    client = app.test_client()
    assert authorize(client, "/login", "calendar-dave").status_code == 302
    assert authorize(client, "/connect/calendar", "calendar-dave").location == "/calendar"
    assert CALENDAR_SCOPE not in granted(app, client)
    assert "Access to your calendar was not granted" in client.get("/calendar").get_data(as_text=True)


def test_the_registered_client_gets_the_calendar_and_the_stand_in_serves_samples(make_app, local_provider):
    client_id, secret = register_client(local_provider.url, ["http://localhost/callback"])
    sample = SampleCalendar(0, f"{local_provider.url}/userinfo")
    try:
        app = make_app(GOOGLE_CLIENT_ID=client_id, GOOGLE_CLIENT_SECRET=secret,
                       GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url, GOOGLE_CALENDAR_API_URL=sample.url)
        client = app.test_client()
        authorize(client, "/login", "calendar-carol")
        assert CALENDAR_SCOPE not in granted(app, client)  # sign-in asks for no more than it needs
        authorize(client, "/connect/calendar", "calendar-carol")
        assert CALENDAR_SCOPE in granted(app, client)
        page = client.get("/calendar").get_data(as_text=True)
        assert "Sample events — not your calendar" in page and page.count('class="event"') == 5

        # The stand-in asks the provider about each token: revoked at the provider, the page offers to reconnect.
        requests.post(f"{local_provider.url}/users/calendar-carol/revoke-tokens", timeout=TIMEOUT).raise_for_status()
        page = client.get("/calendar").get_data(as_text=True)
        assert "Reconnect Google Calendar" in page
        authorize(client, "/connect/calendar", "calendar-carol")
        assert "Sample events" in client.get("/calendar").get_data(as_text=True)
    finally:
        sample.shutdown()
        sample.server_close()


def test_the_stand_in_refuses_a_token_the_provider_does_not_know(local_provider):
    sample = SampleCalendar(0, f"{local_provider.url}/userinfo")
    try:
        response = requests.get(f"{sample.url}/calendars/primary/events", timeout=TIMEOUT,
                                headers={"Authorization": "Bearer made-up"})
        assert response.status_code == 401 and response.json()["error"]["status"] == "UNAUTHENTICATED"
    finally:
        sample.shutdown()
        sample.server_close()


# --------------------------------------------------------------------------- `make run`, in Chromium


# `make_run`: tests/system/conftest.py (the pages' tests use it too).


@pytest.mark.browser
def test_connect_google_calendar_in_the_browser(page, make_run):
    check = PageCheck(page, make_run.url, "calendar", {})
    page.goto(make_run.url + "/profile")
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    assert "calendar" not in parse_qs(urlsplit(page.url).query)["scope"][0]
    page.locator("button[name=sub][value=alice]").click()
    page.wait_for_url(make_run.url + "/profile")

    page.get_by_role("link", name="Connect Google Calendar").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["scope"] == [f"openid email profile {CALENDAR_SCOPE}"] and query["include_granted_scopes"] == ["true"]
    page.locator("button[name=sub][value=alice]").click()
    page.wait_for_url(make_run.url + "/calendar")
    assert page.get_by_text("Sample events — not your calendar").is_visible()
    assert page.locator("li.event").count() == 5
    assert page.get_by_role("note").inner_text().startswith("Local test provider — not Google")
    screenshot(page, "calendar-events")
    check.check("events")  # axe: no serious or critical violations; nothing loaded from elsewhere; CSP

    page.get_by_role("button", name="Disconnect Google Calendar").click()
    page.wait_for_url(make_run.url + "/calendar")
    assert "Google Calendar is disconnected" in page.get_by_role("status").inner_text()
    assert page.get_by_role("link", name="Connect Google Calendar").is_visible()
    assert page.get_by_role("button", name="Sign out").is_visible()  # still signed in
