"""Every page a user meets, at a phone's width (390x844) and a laptop's (1280x800), in Chromium against
`make run` itself (its local provider, sample calendar): home, profile, sessions with one and three
sessions, calendar not connected, cancelled, failed and connected, an error page, sign-out. On each, no
button's text wraps, nothing scrolls sideways, the phone's header stays within 80 px, and axe-core finds
nothing serious or critical. Then times in the reader's time zone, and in UTC without JavaScript.

Screenshots: artifacts/screenshots/pages-fit-<viewport>-<page>.png.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from .test_e2e_sessions import DESKTOP, PHONE
from .test_pages_in_chromium import VIEWPORTS, PageCheck, assert_gsi_button

pytestmark = [pytest.mark.slow, pytest.mark.browser]
HEADER_MAX = 80  # px of the phone's 844 that the header (local-provider note included) may take
OTHERS = "Sign out all other sessions"

# Each visible button or button-like link: how many lines its text takes (the distinct tops of its text's
# line boxes; an icon beside the text is not a line).
BUTTON_LINES = """() => [...document.querySelectorAll('button, .button, .gsi-button')]
  .filter(b => b.offsetParent !== null)
  .map(b => { const tops = new Set(); const walker = document.createTreeWalker(b, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange(); range.selectNodeContents(node);
      for (const rect of range.getClientRects()) if (rect.width > 0) tops.add(Math.round(rect.top / 4));
    }
    return [b.textContent.trim(), tops.size]; })"""


class Fit(PageCheck):
    """PageCheck (screenshot, axe, nothing from elsewhere, CSP) plus the layout rules of the phone and laptop."""

    def __init__(self, page, origin: str, viewport: str) -> None:
        super().__init__(page, origin, f"fit-{viewport}", {})
        self.viewport = viewport

    def check(self, name: str, axe: bool = True) -> None:
        page = self.page
        wrapped = [text for text, lines in page.evaluate(BUTTON_LINES) if lines > 1]
        assert not wrapped, f"{name}: button text wraps: {wrapped}"
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"
        header = page.locator("header").bounding_box()["height"]
        if self.viewport == "phone":
            assert header <= HEADER_MAX, f"{name}: the header takes {header}px"
        elif page.locator("nav").count():  # nothing lost on a laptop: the name and the sessions link show
            assert page.locator(".nav-name").is_visible() and page.locator(".nav-sessions").is_visible()
        super().check(name, axe)


def sign_in(page, base: str, sub: str, path: str = "/") -> None:
    page.goto(f"{base}/login?next={path}")
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.fill("input[name=sub]", sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(base + path)


def at_google(page, base: str) -> str:
    """Start the Calendar connect; the state of the provider's page it reaches."""
    page.goto(base + "/connect/calendar")
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    return parse_qs(urlsplit(page.url).query)["state"][0]


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_every_page_fits_a_phone_and_a_laptop(browser, make_run, viewport):
    base, sub = make_run.url, f"fit-{viewport}"  # a user of its own: its sessions are only this test's
    requests.put(f"{make_run.provider}/users/{sub}", timeout=5, json={
        "name": "Ada Lovelace", "email": "ada@example.com", "email_verified": True}).raise_for_status()
    agents = [{}, {"user_agent": DESKTOP}, {"user_agent": PHONE}]  # two more devices, for the sessions page
    contexts = [browser.new_context(**VIEWPORTS[viewport], **agent) for agent in agents]
    try:
        page = contexts[0].new_page()
        page.set_default_timeout(15_000)
        fit = Fit(page, base, viewport)
        page.goto(base + "/")
        assert_gsi_button(page, "light")
        fit.check("home-anonymous")

        sign_in(page, base, sub)
        fit.check("home")
        page.goto(base + "/profile")
        assert page.locator("time[data-local-time]").count() == 3
        fit.check("profile")

        page.goto(base + "/sessions")
        assert page.locator("li.session").count() == 1
        assert page.get_by_role("button", name=OTHERS).count() == 0  # alone: nothing to sign out
        fit.check("sessions-one")
        for other in contexts[1:]:
            sign_in(other.new_page(), base, sub)
        page.reload()
        assert page.locator("li.session").count() == 3
        assert page.get_by_role("button", name=OTHERS).is_visible()
        fit.check("sessions-three")

        page.goto(base + "/calendar")
        assert page.get_by_role("link", name="Connect Google Calendar").is_visible()
        fit.check("calendar-not-connected")

        # Cancelled at Google, which sends the state back: the connect is known.
        state = at_google(page, base)
        page.goto(f"{base}/callback?error=access_denied&state={state}")
        page.wait_for_url(base + "/calendar")
        assert "Google Calendar was not connected." in page.locator(".problem").inner_text()
        assert page.get_by_role("link", name="Try again").get_attribute("href") == "/connect/calendar"
        assert page.locator(".nav-user").count() == 1  # the header agrees: signed in
        fit.check("calendar-cancelled")

        # The local provider's Deny sends no state: the page is worded for a sign-in and a connect alike.
        at_google(page, base)
        page.get_by_role("button", name="Deny").click()
        page.wait_for_url(re.compile(r"/callback\?"))
        assert page.get_by_role("heading", level=1).inner_text() == "Nothing changed"
        assert "You are still signed in." in page.locator("main").inner_text()
        assert page.get_by_role("link", name="Connect Google Calendar").get_attribute("href") == "/connect/calendar"
        fit.check("cancelled-without-state")

        # Google fails: the page says what was not connected, and "Try again" is the connect.
        state = at_google(page, base)
        page.goto(f"{base}/callback?error=server_error&state={state}")
        assert page.get_by_role("heading", level=1).inner_text() == "Google Calendar was not connected"
        fit.check("calendar-failed")
        page.get_by_role("link", name="Try again").click()
        page.wait_for_url(re.compile(r"/oauth2/authorize"))
        assert "calendar" in parse_qs(urlsplit(page.url).query)["scope"][0]  # the connect, started again

        page.fill("input[name=sub]", sub)
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(base + "/calendar")
        assert page.locator("li.event").count() == 5
        assert page.locator("li.event time[title]").count() == 0  # the local-time script leaves events alone
        fit.check("calendar-connected")

        response = page.goto(base + "/no-such-page")
        assert response.status == 404
        fit.check("error-404")

        page.get_by_role("button", name="Sign out", exact=True).click()
        page.wait_for_url(base + "/")
        assert page.get_by_role("status").inner_text() == "You have been signed out."
        fit.check("signed-out")
    finally:
        for context in contexts:
            context.close()


def test_times_read_in_the_readers_time_zone_and_in_utc_without_javascript(browser, make_run):
    """Asia/Kolkata is UTC+5:30: every minute shown moves, so a time left in UTC cannot pass for local."""
    zone = "Asia/Kolkata"
    shown = {}
    for script in (True, False):
        context = browser.new_context(timezone_id=zone, locale="en-US", java_script_enabled=script)
        try:
            page = context.new_page()
            sign_in(page, make_run.url, "fit-time-zone", "/profile")
            times = page.locator("time[data-local-time]")
            assert times.count() == 3
            shown[script] = [(times.nth(i).get_attribute("datetime"), times.nth(i).inner_text(),
                              times.nth(i).get_attribute("title")) for i in range(3)]
        finally:
            context.close()
    def utc(stamp: str) -> datetime:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    for stamp, local, title in shown[True]:
        there = utc(stamp).astimezone(ZoneInfo(zone))
        assert local == f"{there:%b} {there.day}, {there:%Y, %I:%M %p} GMT+5:30", (local, stamp)
        assert title == utc(stamp).strftime("%Y-%m-%d %H:%M UTC")  # the UTC text, kept on hover
    for stamp, fallback, title in shown[False]:
        assert fallback == utc(stamp).strftime("%Y-%m-%d %H:%M UTC") and title is None
