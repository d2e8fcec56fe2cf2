"""Every page in Chromium (the app under gunicorn, signed in at the local provider) at desktop and
phone widths in dark mode (light, with more pages: test_pages_fit_in_chromium.py): screenshotted and
checked with axe-core, Google's button to its branding guidelines, reachable by keyboard, and nothing
loaded from another origin.

Screenshots land in artifacts/screenshots/pages-<viewport>-<scheme>-<page>.png and the
accessibility summary in artifacts/accessibility.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from ..helpers import ARTIFACTS, screenshot

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}
BLOCKING = {"serious", "critical"}
# Google's standard button: https://developers.google.com/identity/branding-guidelines
GSI = {
    "light": {"background-color": "rgb(255, 255, 255)", "border-top-color": "rgb(116, 119, 117)",
              "color": "rgb(31, 31, 31)"},
    "dark": {"background-color": "rgb(19, 19, 20)", "border-top-color": "rgb(142, 145, 143)",
             "color": "rgb(227, 227, 227)"},
}
GSI_SHAPE = {"height": "40px", "padding-left": "12px", "padding-right": "12px", "border-top-width": "1px",
             "font-size": "14px", "font-weight": "500", "line-height": "20px", "column-gap": "10px"}


# --------------------------------------------------------------------------- browser


class PageCheck:
    """Screenshots, axe-core, and the requests and console of one browser context."""

    def __init__(self, page, origin: str, label: str, summary: dict) -> None:
        self.page = page
        self.origin = origin
        self.label = label
        self.summary = summary
        self.foreign: list[str] = []
        self.csp_errors: list[str] = []
        page.on("request", self._request)
        page.on("console", lambda message: "Content Security Policy" in message.text
                and self.csp_errors.append(message.text))

    def _request(self, request) -> None:
        if request.is_navigation_request():  # following a link to the provider is fine; loading from it is not
            return
        if self.page.url.startswith(self.origin) and not request.url.startswith((self.origin, "data:")):
            self.foreign.append(request.url)

    def check(self, name: str, axe: bool = True) -> None:
        screenshot(self.page, f"pages-{self.label}-{name}")
        if not axe:
            return
        from axe_playwright_python.sync_playwright import Axe

        violations = Axe().run(self.page).response["violations"]
        self.summary[f"{self.label}/{name}"] = {v["id"]: v["impact"] for v in violations}
        blocking = [f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']]}"
                    for v in violations if v["impact"] in BLOCKING]
        assert not blocking, f"{self.label}/{name}: " + "; ".join(blocking)
        assert not self.foreign, f"{name} fetched from elsewhere: {self.foreign}"
        assert not self.csp_errors, f"{name}: {self.csp_errors}"


@pytest.fixture(scope="module")
def a11y_summary() -> Iterator[dict]:
    summary: dict[str, dict[str, str]] = {}
    yield summary
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "accessibility.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    print("\naxe-core violations by page (impact):")
    for page, violations in sorted(summary.items()):
        print(f"  {page}: {', '.join(f'{k} ({v})' for k, v in violations.items()) or 'none'}")


def new_page(browser, viewport: str, scheme: str):
    context = browser.new_context(color_scheme=scheme, **VIEWPORTS[viewport])
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def assert_gsi_button(page, scheme: str) -> None:
    button = page.locator("a.gsi-button")
    style = button.evaluate("""b => { const s = getComputedStyle(b); return Object.fromEntries(
        ['height','padding-left','padding-right','border-top-width','font-size','font-weight','line-height',
         'column-gap','background-color','border-top-color','color'].map(k => [k, s.getPropertyValue(k)])) }""")
    expected = {**GSI_SHAPE, **GSI[scheme]}
    assert {k: style[k] for k in expected} == expected
    assert button.inner_text().strip() == "Sign in with Google"
    logo = page.locator("a.gsi-button img.gsi-logo").bounding_box()
    assert (logo["width"], logo["height"]) == (20, 20)
    # Roboto Medium, self-hosted under static/fonts/, actually loaded (not a fallback font)
    assert page.evaluate("document.fonts.ready.then(() => document.fonts.check('500 14px Roboto'))")
    assert page.evaluate("[...document.fonts].some(f => f.family === 'Roboto' && f.weight === '500' "
                         "&& f.status === 'loaded')")


@pytest.mark.slow
@pytest.mark.browser
# Light at both widths, with more pages: test_pages_fit_in_chromium.py.
@pytest.mark.parametrize(("viewport", "scheme"), [("desktop", "dark"), ("phone", "dark")])
def test_every_page(browser, app_server, a11y_summary, viewport, scheme):
    context, page = new_page(browser, viewport, scheme)
    check = PageCheck(page, app_server.url, f"{viewport}-{scheme}", a11y_summary)
    try:
        page.goto(app_server.url + "/")
        assert_gsi_button(page, scheme)
        check.check("1-home-anonymous")
        if scheme == "dark" and viewport == "phone":
            return  # dark on a phone: the home page is enough

        page.get_by_role("link", name="Sign in with Google").click()
        page.wait_for_url(re.compile(r"/oauth2/authorize"))
        check.check("2-provider-login", axe=False)  # the test provider's page, not ours
        page.locator("button[name=sub][value=alice]").click()
        page.wait_for_url(app_server.url + "/")
        check.check("3-home-signed-in")

        page.get_by_role("link", name="View your profile").click()
        page.wait_for_url(app_server.url + "/profile")
        assert page.locator("table.claims").is_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the profile scrolls sideways by {overflow}px"
        check.check("4-profile")

        page.get_by_role("link", name="Your sessions").first.click()
        page.wait_for_url(app_server.url + "/sessions")
        assert "this device" in page.locator("ul.sessions").inner_text()
        check.check("4b-sessions")

        page.get_by_role("button", name="Sign out", exact=True).first.click()
        page.wait_for_url(app_server.url + "/")
        assert page.get_by_role("status").inner_text() == "You have been signed out."
        check.check("5-signed-out")

        page.goto(app_server.url + "/login?next=/profile")
        page.get_by_role("button", name="Deny").click()
        page.wait_for_url(re.compile(r"/callback\?"))
        assert page.get_by_role("heading", level=1).inner_text() == "Nothing changed"  # no state
        check.check("6-error-403")

        response = page.goto(app_server.url + "/no-such-page")
        assert response.status == 404
        assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
        check.check("7-not-found-404")
    finally:
        context.close()


@pytest.mark.slow
@pytest.mark.browser
def test_keyboard_reaches_sign_in_and_enter_starts_it(browser, app_server):
    context, page = new_page(browser, "desktop", "light")
    try:
        page.goto(app_server.url + "/")
        focused = []
        for _ in range(10):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("document.activeElement.textContent.trim()"))
            if page.evaluate("document.activeElement.classList.contains('gsi-button')"):
                break
        else:
            pytest.fail(f"Tab never reached the sign-in button; focus went {focused}")
        assert focused[0] == "Skip to content", "the skip link comes first"
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", "keyboard focus must be visible"
        screenshot(page, "pages-desktop-light-keyboard-focus")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/oauth2/authorize"))
    finally:
        context.close()
