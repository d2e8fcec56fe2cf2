"""Static files under versioned URLs (a content hash), cached for a year only there.

Every static URL a page links carries `?v=<hash>`, and so does every url() inside the stylesheet;
that URL is answered `public, max-age=31536000, immutable`, any other static URL `no-cache`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from flask import Flask, url_for

from app.assets import VERSION_LENGTH, StaticFiles, init_assets
from app.security import IMMUTABLE, init_security

from ..helpers import ROOT

STATIC = ROOT / "static"
STATIC_URL = re.compile(r"""/static/[^"'\s)<>]*""")
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""")


def file_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:VERSION_LENGTH]


def split(url: str) -> tuple[str, str | None]:
    """/static/a.css?v=123 -> ("a.css", "123")"""
    path, _, query = url.partition("?")
    version = re.fullmatch(r"v=([0-9a-f]+)", query)
    return path.removeprefix("/static/"), version[1] if version else None


def served_stylesheet(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "text/css"
    return response.get_data(as_text=True)


def assert_versioned(client, url: str) -> None:
    """`url` names a static file by the hash of what the server sends for it."""
    name, version = split(url)
    assert version, f"{url} has no ?v="
    body = client.get(url).get_data()
    assert version == file_hash(body), url
    if not name.endswith(".css"):
        assert body == (STATIC / name).read_bytes()


def test_every_static_url_in_the_pages_carries_its_hash(auth, client):
    seen = set()
    pages = ["/", "/missing"]
    html = "".join(client.get(path).get_data(as_text=True) for path in pages)  # anonymous: the sign-in button
    auth.sign_in()
    html += "".join(client.get(path).get_data(as_text=True) for path in [*pages, "/profile", "/sessions", "/calendar"])
    for url in STATIC_URL.findall(html):
        assert_versioned(client, url)
        seen.add(split(url)[0])
    assert {"style.css", "google-g.svg"} <= seen, seen


def test_the_stylesheet_names_its_fonts_by_their_hash(client):
    (stylesheet,) = {url for url in STATIC_URL.findall(client.get("/").get_data(as_text=True)) if ".css" in url}
    references = CSS_URL.findall(served_stylesheet(client, stylesheet))
    assert len(references) == 3, references  # Roboto 400, 500, 700
    for reference in references:
        assert_versioned(client, f"/static/{reference}")
    # the file on disk is unchanged: only what is served carries the versions
    assert "?v=" not in (STATIC / "style.css").read_text()


def test_versioned_urls_are_immutable_and_others_revalidate(client):
    page = client.get("/")
    assert page.headers["Cache-Control"] == "no-store"
    urls = set(STATIC_URL.findall(page.get_data(as_text=True)))
    stylesheet = next(url for url in urls if ".css" in url)
    urls |= {f"/static/{reference}" for reference in CSS_URL.findall(served_stylesheet(client, stylesheet))}
    for url in urls:
        name = split(url)[0]
        response = client.get(url)
        assert response.headers["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable", url
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        again = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304 and again.headers["Cache-Control"] == IMMUTABLE, url
        for other in (f"/static/{name}", f"/static/{name}?v=0123456789abcdef", f"/static/{name}?v="):
            response = client.get(other)
            assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache", other
    assert client.get("/static/nothing.css").headers["Cache-Control"] == "no-store"  # a 404 page


def test_static_files_do_not_vary_by_cookie_so_shared_caches_keep_them(auth, client):
    """A signed-in browser gets the same file as anyone: no `Vary: Cookie` (a CDN would then keep a copy
    per cookie, that is none), no cookie set, and the session store is not read for it."""
    auth.sign_in()
    page = client.get("/profile")
    assert "Cookie" in page.headers.get("Vary", "")  # pages do vary
    for url in set(STATIC_URL.findall(page.get_data(as_text=True))):
        response = client.get(url)
        assert response.headers["Cache-Control"] == IMMUTABLE, url
        assert "Vary" not in response.headers and "Set-Cookie" not in response.headers, url


def tiny_app(folder: Path) -> Flask:
    """What create_app does for static files, on a folder of the test's own."""
    app = Flask(__name__, static_folder=str(folder))
    app.config["TRUSTED_PROXIES"] = 0
    init_security(app)
    init_assets(app)
    return app


def static_url(app: Flask, filename: str) -> str:
    with app.test_request_context():
        return url_for("static", filename=filename)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "a.woff2").write_bytes(b"font one")
    (tmp_path / "logo.svg").write_text("<svg/>")
    (tmp_path / "site.css").write_text('@font-face { src: url("fonts/a.woff2") } .x { background: url(logo.svg) } '
                                       ".y { background: url(data:image/png;base64,AAAA) } .z { src: url(none.png) }")
    return tmp_path


def test_a_changed_file_gets_a_new_url(folder):
    before = tiny_app(folder)
    font, css, logo = (static_url(before, name) for name in ("fonts/a.woff2", "site.css", "logo.svg"))
    (folder / "fonts" / "a.woff2").write_bytes(b"font number two")
    after = tiny_app(folder)  # a new worker (`kill -HUP` after a deploy)
    assert static_url(after, "fonts/a.woff2") != font
    assert static_url(after, "site.css") != css  # the stylesheet names the font by its version
    assert static_url(after, "logo.svg") == logo
    served = after.test_client().get(static_url(after, "site.css")).get_data(as_text=True)
    font_version = split(static_url(after, "fonts/a.woff2"))[1]
    assert f'url("fonts/a.woff2?v={font_version}")' in served
    assert f"url(logo.svg?v={split(logo)[1]})" in served
    assert "url(data:image/png;base64,AAAA)" in served and "url(none.png)" in served  # not ours: untouched

    # The old worker, until it is replaced: the font changed under its URL, so it is not immutable any more.
    response = before.test_client().get(font)
    assert response.get_data() == b"font number two" and response.headers["Cache-Control"] == "no-cache"
    assert before.test_client().get(logo).headers["Cache-Control"] == IMMUTABLE


def test_static_files_of_an_app_without_a_static_folder():
    assert StaticFiles(None).versions == {} and not StaticFiles(None).is_current("x", "y")
