"""What the pages say in their corners: "Sign out all other sessions" only when there are others, the
footer's links (the technical summary on the home page instead), and the profile's refresh token only
when this site asked for one. The extension's own pages, as a host without templates gets them."""

from __future__ import annotations

import re
import tomllib

from flask import Flask

from flask_google_signin import GoogleSignIn

from ..conftest import COMPILED_TEMPLATES
from ..helpers import CLIENT_ID, CLIENT_SECRET, ROOT, AuthActions

OTHERS = "Sign out all other sessions"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile/15E148 Safari/604.1"


def another_device(app, google):
    """A second browser signed in as the same user."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = PHONE
    AuthActions(client, google).sign_in()
    return client


def test_sign_out_all_others_is_offered_only_when_there_are_others(app, client, auth, google):
    auth.sign_in()
    alone = client.get("/sessions").get_data(as_text=True)
    assert OTHERS not in alone and "Sign out everywhere" in alone and alone.count('<li class="session') == 1
    second = another_device(app, google)
    for page in (client.get("/sessions").get_data(as_text=True), second.get("/sessions").get_data(as_text=True)):
        assert OTHERS in page and page.count('<li class="session') == 2


def test_the_footer_links_the_source_and_googles_privacy_policy(client):
    source = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Source"]
    page = client.get("/").get_data(as_text=True)
    footer = page.split('<footer class="site-footer">')[1].split("</footer>")[0]
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', footer) == [
        (source, "Source code"), ("https://policies.google.com/privacy", "Google Privacy Policy")]
    assert "PKCE" not in footer
    how = page.split('<section class="card how">')[1]  # the technical summary, on the home page only
    assert "<h2>How this works</h2>" in how and "PKCE" in how and "Google's OpenID Connect guide" in how
    assert "How this works" not in client.get("/no-such-page").get_data(as_text=True)


def test_the_refresh_token_line_shows_only_when_this_site_asked_for_one(make_app, google):
    """FakeGoogle, like the local provider, sends a refresh token whether or not it was asked for."""
    client = make_app().test_client()
    AuthActions(client, google).sign_in()
    assert "Refresh token" not in client.get("/profile").get_data(as_text=True)

    client = make_app(GOOGLE_OFFLINE_ACCESS=True).test_client()
    AuthActions(client, google).sign_in()
    page = client.get("/profile").get_data(as_text=True)
    assert re.search(r"<dt>Refresh token</dt><dd>held server-side\s*<span class=\"muted\">\(asked for at sign-in: "
                     r"offline access is on\)</span>", page)


def bare_host(tmp_path) -> Flask:
    """A host with no templates of its own: the extension's pages as they ship."""
    app = Flask("host", root_path=str(tmp_path))
    app.config.update({"SECRET_KEY": "host-secret", "GOOGLE_CLIENT_ID": CLIENT_ID,
                       "GOOGLE_CLIENT_SECRET": CLIENT_SECRET, "GOOGLE_SIGNIN_SESSIONS_PAGE": True,
                       "GOOGLE_SIGNIN_COOKIE_SECURE": False,
                       "GOOGLE_SIGNIN_SESSION_CACHELIB_DIR": str(tmp_path / "sessions")})
    GoogleSignIn(app)
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES  # compiled once for the run, as the other tests' apps
    return app


def test_the_extensions_own_pages_mark_times_and_offer_others_only_with_others(tmp_path, google):
    app = bare_host(tmp_path)
    first = app.test_client()
    AuthActions(first, google).sign_in()
    page = first.get("/sessions").get_data(as_text=True)
    assert OTHERS not in page
    times = re.findall(r'<time datetime="(\d{4}-\d\d-\d\dT\d\d:\d\d):\d\dZ">([^<]+) UTC</time>', page)
    assert len(times) == 2 and all(stamp.replace("T", " ") == text for stamp, text in times)
    another_device(app, google)
    assert OTHERS in first.get("/sessions").get_data(as_text=True)

    cancelled = first.get("/callback", query_string={"error": "access_denied"})
    page = cancelled.get_data(as_text=True)
    assert cancelled.status_code == 403 and "<h1>Nothing changed</h1>" in page
    assert "You are still signed in." in page and "Try again" not in page
