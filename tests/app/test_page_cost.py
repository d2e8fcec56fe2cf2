"""A signed-in page view kept cheap without dropping anything it does: the sign-out form's CSRF
token bound to its session, the templates' constant links built once (app/assets.py), the security
headers appended from lists built at start (app/security.py), no store write and no cookie for a
session that did not change (Flask-Session's save_session, with the idle clock written once a minute).
"""

from __future__ import annotations

import re

import pytest
from flask import Response, g, render_template_string, session
from flask_wtf.csrf import generate_csrf, validate_csrf
from prometheus_client import REGISTRY

from flask_google_signin import GOOGLE_METADATA_URL, testing

from ..helpers import AuthActions, set_cookie

FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
OWN_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Cross-Origin-Opener-Policy",
               "Referrer-Policy", "Cache-Control", "X-Request-ID")


def form_token(client, path: str = "/profile") -> str:
    match = FORM_TOKEN.search(client.get(path).get_data(as_text=True))
    assert match, f"no sign-out form on {path}"
    return match[1]


def signed_in(client) -> bool:
    return client.get("/profile").status_code == 200


# --------------------------------------------------------------------------- the CSRF token


def test_each_session_has_its_own_token_and_another_ones_is_refused(app, auth, client, google):
    auth.sign_in()
    other = AuthActions(app.test_client(), google)
    other.sign_in()
    mine, theirs = form_token(client), form_token(other.client)
    assert mine != theirs
    assert form_token(client) == mine and form_token(other.client) == theirs  # both remembered now
    assert client.post("/logout", data={"csrf_token": theirs}).status_code == 400
    assert signed_in(client)
    assert client.post("/logout", data={"csrf_token": mine}).status_code == 303
    assert not signed_in(client) and signed_in(other.client)


def test_a_signed_out_sessions_token_does_not_work_in_the_next_session(auth, client, google):
    auth.sign_in()
    old = form_token(client)
    assert client.post("/logout", data={"csrf_token": old}).status_code == 303
    auth.sign_in()
    new = form_token(client)
    assert new != old
    assert client.post("/logout", data={"csrf_token": old}).status_code == 400
    assert signed_in(client)
    assert client.post("/logout", data={"csrf_token": new}).status_code == 303


def test_a_page_without_a_token_yet_gets_one_stored_with_the_session(client):
    """An anonymous page that shows a form: Flask-WTF makes the raw token, the session is written."""
    with client.application.test_request_context():
        assert "csrf_token" not in session
        token = render_template_string("{{ csrf_token() }}")
        assert session["csrf_token"] and session.modified
        assert g.csrf_token == token == generate_csrf()  # the same for the rest of the request
        validate_csrf(token)


# --------------------------------------------------------------------------- CSRFProtect's check


def test_forms_need_a_token_and_sign_out_checks_its_own(auth, client):
    auth.sign_in()
    assert client.get("/profile").status_code == 200
    assert client.post("/sessions/others").status_code == 400  # no token: refused
    assert client.post("/sessions/others", data={"csrf_token": form_token(client)}).status_code == 303
    assert client.post("/logout", data={}).status_code == 400  # exempt from CSRFProtect, checked by the view


# --------------------------------------------------------------------------- links, headers, sessions


def test_template_links_are_flasks_under_each_script_root(app, auth, client):
    auth.sign_in()
    for root in ("", "/mounted", ""):
        page = client.get("/profile", base_url=f"http://localhost{root}").get_data(as_text=True)
        with app.test_request_context(base_url=f"http://localhost{root}"):
            for endpoint, values in [("static", {"filename": "style.css"}), ("static", {"filename": "google-g.svg"}),
                                     ("pages.home", {}), ("google_signin_sessions.sessions_page", {}),
                                     ("google_signin.logout", {})]:
                url = app.url_for(endpoint, **values)
                assert url.startswith(f"{root}/") and f'"{url}"' in page, (root, url)
                assert "?v=" in url or endpoint != "static"


def test_template_links_with_arguments_are_built_each_time(app):
    with app.test_request_context():
        links = [render_template_string("{{ url_for('google_signin.login', next=n) }}", n=n) for n in ("/a", "/b")]
    assert links == ["/login?next=/a", "/login?next=/b"]


def test_each_security_header_is_sent_once(make_app, auth, client):
    auth.sign_in()
    for path in ("/", "/profile", "/login", "/static/style.css", "/static/missing.css", "/no/such/page"):
        response = client.get(path)
        for name in OWN_HEADERS:
            assert len(response.headers.getlist(name)) == 1, (path, name, response.headers.getlist(name))
    assert client.get("/static/style.css").headers["Cache-Control"] == "no-cache"  # no `v`: revalidate


def test_a_views_own_content_security_policy_is_kept(make_app):
    app = make_app()

    @app.get("/own-policy")
    def own_policy() -> Response:
        return Response("x", headers={"Content-Security-Policy": "default-src 'none'"})

    response = app.test_client().get("/own-policy")
    assert response.headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"


def test_a_page_that_read_the_session_varies_by_cookie(make_app, google):
    app = make_app()

    @app.get("/varies")
    def varies() -> Response:
        session.get("user")
        return Response("x", headers={"Vary": "Accept-Language"})

    client = app.test_client()
    AuthActions(client, google).sign_in()
    assert client.get("/profile").headers.getlist("Vary") == ["Cookie"]
    assert client.get("/varies").headers.getlist("Vary") == ["Accept-Language, Cookie"]


def test_an_unchanged_session_is_neither_written_nor_sent_again(app, auth, client, monkeypatch):
    auth.sign_in()
    writes: list[str] = []
    records = testing.store(app)
    put = records.put
    monkeypatch.setattr(records, "put", lambda key, *args, **kwargs: writes.append(key) or put(key, *args, **kwargs))
    response = client.get("/profile")
    assert response.status_code == 200 and set_cookie(response, "session") is None and writes == []
    with client.session_transaction() as sess:  # the idle clock is due: written, and the cookie sent again
        sess["last_seen"] -= 120
    writes.clear()  # the transaction's own write
    response = client.get("/profile")
    assert len(writes) == 1 and set_cookie(response, "session")


def test_every_response_is_counted(client):
    def count(route: str, status: str) -> float:
        return REGISTRY.get_sample_value("google_signin_http_requests_total", {"route": route, "status": status}) or 0

    home, missing = count("pages.home", "200"), count("unknown", "404")
    for _ in range(3):
        client.get("/")
    client.get("/no/such/page")
    assert count("pages.home", "200") == home + 3 and count("unknown", "404") == missing + 1


@pytest.mark.parametrize(("metadata_url", "banner"), [(GOOGLE_METADATA_URL, False),
                                                       ("http://127.0.0.1:9/.well-known/openid-configuration", True)])
def test_the_test_provider_banner(make_app, metadata_url, banner):
    page = make_app(GOOGLE_SERVER_METADATA_URL=metadata_url).test_client().get("/").get_data(as_text=True)
    assert ("Local test provider" in page) is banner
