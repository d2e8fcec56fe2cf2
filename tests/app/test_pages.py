"""The pages' markup through the test client: names, pictures and claims from the provider of any
type or size, escaped, cut or replaced; the error page's request id and "Try again" link; Google's
logo unaltered; no inline script or style and nothing from a CDN in the templates.
(The same pages in Chromium: tests/system/test_pages_in_chromium.py.)
"""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape as html_unescape
from urllib.parse import unquote

import pytest

from ..helpers import ROOT

G_LOGO_COLOURS = {"#EA4335", "#4285F4", "#FBBC05", "#34A853"}


# --------------------------------------------------------------------------- fast: markup


def test_avatar_shows_the_picture_over_initials(auth, client):
    """Initials first, the picture after (on top): if the picture fails, the initials show."""
    auth.sign_in()
    html = client.get("/profile").get_data(as_text=True)
    avatar = re.search(r'<span class="avatar avatar-large" aria-hidden="true">\s*'
                       r'<span class="avatar-text">(\w+)</span>\s*<img ([^>]*)>', html)
    assert avatar, html
    assert avatar.group(1) == "AL"
    assert 'src="https://lh3.googleusercontent.com/a/test-avatar"' in avatar.group(2)
    assert 'alt=""' in avatar.group(2) and 'referrerpolicy="no-referrer"' in avatar.group(2)
    assert 'data-initials="AL"' in avatar.group(2), "the broken-image fallback draws these"


def signed_in_pages(auth, client) -> dict[str, str]:
    response = auth.sign_in()
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    pages = {}
    for path in ("/", "/profile"):
        page = client.get(path)
        assert page.status_code == 200, (path, page.get_data(as_text=True)[:500])
        pages[path] = page.get_data(as_text=True)
    return pages


def nav_name(html: str) -> str:
    match = re.search(r'<a class="nav-user"[^>]*>.*?<span class="nav-name">([^<]*)</span>\s*</a>', html, re.DOTALL)
    assert match, html
    return html_unescape(match.group(1))


def claim_cell(html: str, name: str) -> str:
    match = re.search(rf'<th scope="row"><code>{name}</code></th><td>(.*?)</td>', html, re.DOTALL)
    assert match, f"no {name} row"
    return html_unescape(match.group(1))


LONG = "x" * 10_000


@pytest.mark.parametrize("name", [12345, ["Ada", "Lovelace"], {"given": "Ada"}, None, "   ", True])
def test_unusable_name_falls_back_to_the_email(auth, client, google, name):
    google.userinfo_extra = {"name": name}
    pages = signed_in_pages(auth, client)
    for html in pages.values():
        assert nav_name(html) == "ada@example.com"
    assert "<h1>Hello, ada@example.com!</h1>" in pages["/"]
    assert re.search(r'<span class="avatar-text">A</span>', pages["/profile"])
    assert "<h1>ada@example.com</h1>" in pages["/profile"]


def test_no_usable_name_or_email_reads_signed_in(auth, client, google):
    google.userinfo_extra = {"name": ["Ada"], "email": {"work": "ada@example.com"}}
    pages = signed_in_pages(auth, client)
    assert nav_name(pages["/profile"]) == "Signed in"
    assert '<span class="avatar-text">?</span>' in pages["/profile"]
    assert claim_cell(pages["/profile"], "email") == '{"work":"ada@example.com"}'


def test_huge_name_is_cut_everywhere(auth, client, google):
    google.userinfo_extra = {"name": LONG}
    pages = signed_in_pages(auth, client)
    assert "x" * 250 not in pages["/"] + pages["/profile"]
    assert nav_name(pages["/profile"]) == "x" * 79 + "…"
    assert claim_cell(pages["/profile"], "name") == "x" * 199 + "…"


@pytest.mark.parametrize("picture", [42, ["https://lh3.googleusercontent.com/a/x"], None, "",
                                     "http://lh3.googleusercontent.com/a/test-avatar", "javascript:alert(1)",
                                     "data:image/svg+xml,<svg/>", "https://", "https://[oops/a.png", "/a/local.png"])
def test_picture_that_is_not_an_https_url_draws_initials(auth, client, google, picture):
    google.userinfo_extra = {"picture": picture}
    pages = signed_in_pages(auth, client)
    for html in pages.values():
        assert not re.search(r'<span class="avatar[^"]*"[^>]*>\s*<span class="avatar-text">\w+</span>\s*<img', html)
    assert '<span class="avatar avatar-large avatar-initials" aria-hidden="true">' in pages["/profile"]
    assert '<span class="avatar-text">AL</span>' in pages["/profile"]


def test_claims_read_as_json_and_stay_escaped(auth, client, google):
    google.userinfo_extra = {"email_verified": True, "address": {"street": "<b>1 Main</b>", "zip": 1},
                             "groups": ["a", "<i>b</i>"], "nickname": None, "age": 37, "bio": LONG}
    html = signed_in_pages(auth, client)["/profile"]
    assert claim_cell(html, "email_verified") == "true"
    assert claim_cell(html, "address") == '{"street":"<b>1 Main</b>","zip":1}'
    assert claim_cell(html, "groups") == '["a","<i>b</i>"]'
    assert claim_cell(html, "nickname") == "null" and claim_cell(html, "age") == "37"
    assert claim_cell(html, "bio") == "x" * 199 + "…"
    assert "<b>1 Main" not in html and "<i>b</i>" not in html and "True" not in html
    assert '<span class="badge badge-ok">verified</span>' in html


@pytest.mark.parametrize("verified", ["true", "false", "yes", 1, None])
def test_email_verified_that_is_not_true_reads_not_verified(auth, client, google, verified):
    google.userinfo_extra = {"email_verified": verified}
    html = signed_in_pages(auth, client)["/profile"]
    assert '<span class="badge badge-warn">not verified</span>' in html and "badge-ok" not in html


@pytest.mark.parametrize(("path", "count"), [("/profile", 3), ("/sessions", 2)])
def test_every_time_is_utc_in_its_datetime_and_its_text_for_the_local_time_script(auth, client, path, count):
    """profile: signed in, session expires, access token expires; sessions: signed in, last active. The
    text is the fallback without script; static/local-time.js rewrites the elements marked data-local-time."""
    auth.sign_in()
    html = client.get(path).get_data(as_text=True)
    times = re.findall(r"<time([^>]*)>([^<]*)</time>", html)
    assert len(times) == count, times
    for attributes, text in times:
        match = re.fullmatch(r' datetime="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)" data-local-time', attributes)
        assert match, attributes
        moment = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%SZ")
        assert text == moment.strftime("%Y-%m-%d %H:%M UTC")
    assert re.search(r'<script src="/static/local-time\.js\?v=[0-9a-f]{16}" defer></script>', html)


def try_again(html: str) -> str | None:
    """The "Try again" link's target, unescaped; None when the page has none."""
    match = re.search(r'<a class="button" href="([^"]*)">Try again</a>', html)
    return html_unescape(match.group(1)) if match else None


def test_error_page_shows_the_request_id(client):
    response = client.get("/no-such-page", headers={"X-Request-ID": "support-ref-42"})
    assert response.status_code == 404
    assert '<p class="muted small">Request id: <code>support-ref-42</code></p>' in response.get_data(as_text=True)
    generated = client.get("/no-such-page")
    assert f"Request id: <code>{generated.headers['X-Request-ID']}</code>" in generated.get_data(as_text=True)


@pytest.mark.parametrize(("next_path", "expected"), [
    ("/profile?tab=2", "/login?next=/profile?tab%3D2"),
    ("/", "/login"),
    (None, "/login"),
    ("//evil.example/x", "/login"),
    ("https://evil.example/", "/login"),
    ("/\\evil.example", "/login"),
])
def test_try_again_keeps_a_local_next(client, google, next_path, expected):
    """/login fails (the provider's discovery answers 500): "Try again" goes back to /login with the same next."""
    from flask_google_signin import GOOGLE_METADATA_URL

    google.mocker.get(GOOGLE_METADATA_URL, status_code=500, json={})
    response = client.get("/login", query_string={"next": next_path} if next_path else None)
    assert response.status_code >= 500, response.status_code
    assert unquote(try_again(response.get_data(as_text=True))) == unquote(expected)


@pytest.mark.parametrize(("signin_next", "expected"), [
    ("/profile", "/login?next=/profile"),
    ("https://evil.example/", "/login"),
    (None, "/login?next=/from-the-query"),
])
def test_try_again_prefers_the_pending_sign_ins_next(app, signin_next, expected):
    """At /callback the query has no next: the sign-in code puts the pending sign-in's in g.signin_next."""
    from flask import g

    from flask_google_signin import error_page as render_error

    with app.test_request_context("/callback?state=abc&next=/from-the-query"):
        if signin_next:
            g.signin_next = signin_next
        html, status = render_error(400, "This sign-in attempt expired.", retry=True)
    assert status == 400 and try_again(html) == expected


def test_google_g_logo_is_the_unaltered_four_colour_mark():
    svg = (ROOT / "static" / "google-g.svg").read_text()
    assert set(re.findall(r'fill="(#[0-9A-Fa-f]{6})"', svg)) == G_LOGO_COLOURS
    assert "currentColor" not in svg and "filter" not in (ROOT / "static" / "style.css").read_text()


def test_templates_have_no_inline_script_or_style_and_no_cdn():
    """Scripts only from static/ (the CSP's 'self'); links people follow may go anywhere, nothing loads from there."""
    for path in [*(ROOT / "templates").rglob("*.html"), ROOT / "static" / "style.css"]:
        text = path.read_text()
        scripts = re.findall(r"<script[^>]*>", text)
        assert all(re.fullmatch(r"""<script src="\{\{ url_for\('static', filename='[\w.-]+'\) \}\}" defer>""", tag)
                   for tag in scripts), (path.name, scripts)
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", text), path.name
        assert not re.search(r"""src=["']https?://|<link[^>]*href=["']https?://""", text), path.name
        assert "@import" not in text and "url(http" not in text, path.name
