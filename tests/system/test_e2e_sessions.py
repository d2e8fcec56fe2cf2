""""Your sessions" in Chromium: two devices signed in as one user; one signs the other out."""

from __future__ import annotations

import re

import pytest

from ..helpers import screenshot
from .test_pages_in_chromium import PageCheck

pytestmark = [pytest.mark.slow, pytest.mark.browser]
PHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1")
DESKTOP = ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")


def sign_in(page, base: str) -> None:
    page.goto(base + "/login?next=/sessions")
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.locator("button[name=sub][value=alice]").click()
    page.wait_for_url(base + "/sessions")


def test_sign_out_another_device_from_the_sessions_page(browser, app_server):
    laptop = browser.new_context(user_agent=DESKTOP, viewport={"width": 1280, "height": 800})
    phone = browser.new_context(user_agent=PHONE, viewport={"width": 390, "height": 844})
    try:
        phone_page = phone.new_page()
        sign_in(phone_page, app_server.url)
        page = laptop.new_page()
        check = PageCheck(page, app_server.url, "sessions", {})
        sign_in(page, app_server.url)

        table = page.locator("ul.sessions")
        assert "Firefox 133 on Ubuntu this device" in table.inner_text()
        assert "Mobile Safari 17 on iOS" in table.inner_text()
        screenshot(page, "sessions")
        check.check("list")  # axe: no serious or critical violations

        page.get_by_role("button", name=re.compile(r"^Sign out Mobile Safari 17 on iOS")).click()
        page.wait_for_url(app_server.url + "/sessions")
        assert "Mobile Safari" not in page.locator("ul.sessions").inner_text()
        phone_page.goto(app_server.url + "/profile")
        phone_page.wait_for_url(re.compile(r"/oauth2/authorize"))  # the phone is signed out
        page.goto(app_server.url + "/profile")
        assert page.url == app_server.url + "/profile"  # the laptop is not
    finally:
        laptop.close()
        phone.close()
