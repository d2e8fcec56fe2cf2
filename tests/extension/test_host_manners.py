"""GoogleSignIn in host apps that already exist: their routes, names, settings, CSRF set-up and
users stay theirs; visitors cost the store nothing; the user is the host's, its way."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Blueprint, Flask, jsonify, render_template_string, session
from flask_wtf import CSRFProtect
from flask_wtf.csrf import generate_csrf

from flask_google_signin import (
    AnonymousIdentity,
    ConfigError,
    GoogleAPIError,
    GoogleSignIn,
    current_user,
    google_identity,
    google_session,
    login_required,
    signed_out,
    testing,
)

from ..helpers import CLIENT_ID, CLIENT_SECRET, AuthActions

PAGE = """{% if current_user %}{{ current_user.email }}
<form method="post" action="{{ url_for('google_signin.logout') }}">
<input type="hidden" name="csrf_token" value="{{ google_signin_csrf_token() }}"></form>{% else %}visitor{% endif %}"""
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_host(tmp_path, *, csrf: str | None = None, before: bool = True, url_prefix: str | None = None,
              blueprints: tuple[str, ...] = (), **config) -> Flask:
    """A small host app of its own: a home page, a JSON API, a cart; optionally Flask-WTF's CSRFProtect,
    created `before` or after GoogleSignIn, blanket or per view (csrf="per-view")."""
    app = Flask("host", root_path=str(tmp_path))
    config.setdefault("GOOGLE_SIGNIN_COOKIE_SECURE", False)  # the test client speaks plain http
    app.config.update(SECRET_KEY="host-secret", GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                      GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"), **config)
    if csrf == "per-view":
        app.config["WTF_CSRF_CHECK_DEFAULT"] = False

    @app.get("/")
    def home() -> str:
        return render_template_string(PAGE)

    @app.post("/api/items")
    def add_item():
        return jsonify(added=True)

    @app.post("/cart")
    def add_to_cart():
        session["cart"] = [*session.get("cart", []), "book"]
        return jsonify(cart=session["cart"])

    @app.get("/cart")
    def cart():
        return jsonify(cart=session.get("cart", []))

    @app.get("/shop")
    def shop() -> str:  # an anonymous page with a form: a CSRF token, and something kept in the session
        session["seen"] = session.get("seen", 0) + 1
        return f'<input name="csrf_token" value="{generate_csrf()}">'

    for name in blueprints:
        bp = Blueprint(name, __name__)
        bp.add_url_rule("/", f"{name}_index", lambda name=name: name)
        app.register_blueprint(bp, url_prefix=f"/{name}")
    if csrf and before:
        CSRFProtect(app)
    GoogleSignIn(app, url_prefix=url_prefix)
    if csrf and not before:
        CSRFProtect(app)
    app.testing = True
    return app


def signed_in_client(app, google, prefix: str = ""):
    auth = AuthActions(app.test_client(), google, prefix)
    assert auth.sign_in().status_code == 302
    return auth


def token(client) -> str:
    match = TOKEN.search(client.get("/").get_data(as_text=True))
    assert match, "no sign-out form"
    return match[1]


def is_signed_in(client) -> bool:
    return client.get("/").get_data(as_text=True) != "visitor"


# --------------------------------------------------------------------------- coexistence


def test_a_host_with_its_own_auth_sessions_and_risc_blueprints_starts_and_works(tmp_path, google):
    app = make_host(tmp_path, blueprints=("auth", "sessions", "risc"), GOOGLE_SIGNIN_SESSIONS_PAGE=True,
                    GOOGLE_SIGNIN_RISC=True)
    client = app.test_client()
    assert [client.get(f"/{name}/").get_data(as_text=True) for name in ("auth", "sessions", "risc")] == [
        "auth", "sessions", "risc"]
    auth = signed_in_client(app, google)
    assert is_signed_in(auth.client)
    assert {bp for bp in app.blueprints if bp not in ("auth", "sessions", "risc")} == {
        "google_signin", "google_signin_sessions", "google_signin_risc"}


def test_a_prefix_mounts_every_route_and_the_redirect_uri_follows(tmp_path, google):
    app = make_host(tmp_path, url_prefix="/google", GOOGLE_SIGNIN_SESSIONS_PAGE=True)
    paths = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("google_signin")}
    assert paths == {"/google/login", "/google/callback", "/google/logout", "/google/sessions",
                     "/google/sessions/end", "/google/sessions/others", "/google/sessions/all"}
    start = app.test_client().get("/google/login")
    query = parse_qs(urlsplit(start.location).query)
    assert query["redirect_uri"] == ["http://localhost/google/callback"]
    auth = signed_in_client(app, google, "/google")
    assert is_signed_in(auth.client)
    assert app.test_client().get("/login").status_code == 404  # nothing at the root


@pytest.mark.parametrize("path", ["/login", "/callback", "/logout"])
def test_a_hosts_own_route_is_never_shadowed(tmp_path, path):
    app = Flask("host", root_path=str(tmp_path))
    app.config.update(SECRET_KEY="s", GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="x")
    app.add_url_rule(path, "own", lambda: "the host's own")
    with pytest.raises(ConfigError, match=f"already has a route {path}"):
        GoogleSignIn(app)
    GoogleSignIn(app, url_prefix="/google")  # under a prefix, both live
    assert app.test_client().get(path).get_data(as_text=True) == "the host's own"


# --------------------------------------------------------------------------- the host's settings stay the host's


def test_init_app_changes_no_config_key_and_adds_none(tmp_path):
    app = Flask("host", root_path=str(tmp_path))
    app.config.from_mapping(SECRET_KEY="s", GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="x",
                            PERMANENT_SESSION_LIFETIME=31 * 86400, WTF_CSRF_TIME_LIMIT=3600,
                            SESSION_COOKIE_SAMESITE="Strict", SESSION_REFRESH_EACH_REQUEST=True,
                            GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"))
    before = dict(app.config)
    GoogleSignIn(app)
    after = dict(app.config)
    assert {key: after.get(key) for key in set(before) | set(after) if before.get(key) != after.get(key)} == {}
    assert after["SECRET_KEY"] == "s" and isinstance(after["SECRET_KEY"], str)


def test_defaults_are_applied_when_read(tmp_path):
    app = make_host(tmp_path)
    assert "GOOGLE_SIGNIN_IDLE_TIMEOUT" not in app.config
    assert testing.settings(app)["IDLE_TIMEOUT"] == 8 * 3600


def test_session_type_is_flask_sessions_and_anything_else_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="SESSION_TYPE is invalid: expected one of cachelib, redis"):
        make_host(tmp_path, SESSION_TYPE="filesystem")


def test_cookies_are_secure_outside_debug_and_testing_whatever_flask_says(tmp_path, google):
    app = Flask("host", root_path=str(tmp_path))
    app.config.update(SECRET_KEY="s", GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                      GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"))
    assert app.config["SESSION_COOKIE_SECURE"] is False  # Flask's own default
    GoogleSignIn(app)
    client = app.test_client()
    start = client.get("/login", base_url="https://localhost")
    pending = start.headers.getlist("Set-Cookie")
    assert pending and all("Secure" in cookie for cookie in pending)
    auth = AuthActions(client, google)
    params = {k: v[0] for k, v in parse_qs(urlsplit(start.location).query).items()}
    google.nonce, google.code_challenge = params["nonce"], params["code_challenge"]
    google.codes.add("4/good-code")
    done = client.get("/callback", query_string={"code": "4/good-code", "state": params["state"]},
                      base_url="https://localhost")
    assert done.status_code == 302, done.data
    session_cookie = [c for c in done.headers.getlist("Set-Cookie") if c.startswith("__Host-session=")]
    assert session_cookie and "Secure" in session_cookie[0] and "HttpOnly" in session_cookie[0]
    assert "SameSite=Lax" in session_cookie[0]
    del auth


# --------------------------------------------------------------------------- CSRF where it belongs


@pytest.mark.parametrize(("csrf", "before"), [(None, True), ("blanket", True), ("blanket", False),
                                              ("per-view", True)])
def test_a_hosts_json_post_is_untouched(tmp_path, csrf, before):
    app = make_host(tmp_path, csrf=csrf, before=before)
    response = app.test_client().post("/api/items", json={"name": "book"})
    if csrf == "blanket":
        assert response.status_code == 400  # the host's own CSRFProtect, as without the extension
        plain = Flask("plain")
        plain.config.update(SECRET_KEY="s")
        CSRFProtect(plain)
        plain.add_url_rule("/api/items", "add", lambda: "x", methods=["POST"])
        assert plain.test_client().post("/api/items", json={}).status_code == 400
    else:
        assert response.status_code == 200 and response.json == {"added": True}


@pytest.mark.parametrize(("csrf", "before"), [(None, True), ("blanket", True), ("blanket", False),
                                              ("per-view", True)])
def test_the_extensions_posts_need_their_own_token_under_every_flask_wtf_set_up(tmp_path, google, csrf, before):
    app = make_host(tmp_path, csrf=csrf, before=before, GOOGLE_SIGNIN_SESSIONS_PAGE=True)
    auth = signed_in_client(app, google)
    other = signed_in_client(app, google)
    client = auth.client
    assert client.post("/sessions/others").status_code == 400
    assert client.post("/sessions/others", data={"csrf_token": "forged"}).status_code == 400
    assert is_signed_in(other.client)  # nothing changed
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": token(other.client)}).status_code == 400  # another's
    assert is_signed_in(client)
    assert client.post("/sessions/others", data={"csrf_token": token(client)}).status_code == 303
    assert not is_signed_in(other.client)
    assert client.post("/logout", data={"csrf_token": token(client)}).status_code == 303
    assert not is_signed_in(client)


def test_machine_endpoints_are_exempt_from_a_blanket_csrfprotect_made_before_or_after(tmp_path):
    for before in (True, False):
        app = make_host(tmp_path, csrf="blanket", before=before, GOOGLE_SIGNIN_RISC=True)
        response = app.test_client().post("/risc", data=b"not a token",
                                          headers={"Content-Type": "application/secevent+jwt"})
        assert response.status_code == 400 and response.json["err"] == "invalid_request"  # the receiver's answer


def test_a_hosts_flask_wtf_token_signs_out_too(tmp_path, google):
    """A host template that renders the sign-out form with Flask-WTF's csrf_token() keeps working."""
    app = make_host(tmp_path, csrf="blanket")
    auth = signed_in_client(app, google)
    with app.test_request_context():
        pass
    shop = auth.client.get("/shop").get_data(as_text=True)
    wtf_token = TOKEN.search(shop)[1]
    assert auth.client.post("/logout", data={"csrf_token": wtf_token}).status_code == 303
    assert not is_signed_in(auth.client)


# --------------------------------------------------------------------------- visitors cost nothing


def stored_files(app) -> list[str]:
    folder = testing.store(app).path("x").parent
    return [name for name in folder.iterdir() if name.is_file()] if folder.is_dir() else []


def stored(app) -> int:
    """How many records the store holds, whichever store it is."""
    records = testing.store(app)
    if hasattr(records, "client"):
        return int(records.client.dbsize())
    return len(stored_files(app))


def test_500_anonymous_page_views_write_no_record(tmp_path, store_config):
    app = make_host(tmp_path, csrf="blanket", **store_config)
    visitor = app.test_client()
    for _ in range(500):
        assert visitor.get("/shop").status_code == 200
    assert stored(app) == 0
    assert "." in visitor.get_cookie("session").value  # Flask's signed cookie holds it
    assert visitor.get("/shop").status_code == 200


def test_a_cart_is_kept_through_sign_in(tmp_path, google, store_config):
    app = make_host(tmp_path, **store_config)
    auth = AuthActions(app.test_client(), google)
    auth.client.post("/cart")
    auth.client.post("/cart")
    assert auth.client.get("/cart").json == {"cart": ["book", "book"]}
    assert auth.sign_in().status_code == 302
    assert is_signed_in(auth.client)
    assert auth.client.get("/cart").json == {"cart": ["book", "book"]}
    assert stored(app) >= 1  # now the session is a sealed record


# --------------------------------------------------------------------------- the user, your way


def test_current_user_is_never_none(tmp_path, google):
    app = make_host(tmp_path)
    seen: dict = {}

    @app.get("/me")
    def me():
        seen.update(user=current_user._get_current_object(), authenticated=current_user.is_authenticated,
                    sub=current_user.sub, truthy=bool(current_user), email=current_user.email,
                    claims=current_user.claims)
        return "ok"

    app.test_client().get("/me")
    assert isinstance(seen["user"], AnonymousIdentity) and seen["user"] is not None
    assert seen["authenticated"] is False and seen["truthy"] is False and seen["sub"] is None
    auth = signed_in_client(app, google)
    auth.client.get("/me")
    assert seen["authenticated"] is True and seen["truthy"] is True and seen["sub"] == google.sub
    assert seen["email"] == "ada@example.com" and seen["claims"]["email"] == "ada@example.com"
    with pytest.warns(DeprecationWarning, match="is deprecated"):
        assert seen["user"]["email"] == "ada@example.com"  # one more release, then gone (CHANGELOG.md)


class HostUser:
    def __init__(self, uid: int, email: str) -> None:
        self.id, self.email = uid, email


def test_user_loader_maps_refuses_at_sign_in_and_ends_later(tmp_path, google):
    app = make_host(tmp_path)
    signin = app.extensions["google_signin"]
    users = {google.sub: HostUser(7, "ada@example.com")}
    ended: list[str] = []

    @signin.user_loader
    def load(identity):
        return users.get(identity.sub)

    @app.get("/whoami")
    @login_required
    def whoami():
        return f"{type(current_user._get_current_object()).__name__} {current_user.id}"

    auth = signed_in_client(app, google)
    assert auth.client.get("/whoami").get_data(as_text=True) == "HostUser 7"
    with signed_out.connected_to(lambda sender, **kw: ended.append(kw["reason"]), app):
        del users[google.sub]
        assert auth.client.get("/whoami").status_code == 302  # ended: a visitor now
    assert ended == ["user_loader"]
    stranger = AuthActions(app.test_client(), google)
    response = stranger.sign_in()
    assert response.status_code == 403 and "no access" in response.get_data(as_text=True)
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert not is_signed_in(stranger.client)


def test_a_host_that_uses_flask_login_signs_its_user_in_with_login_user(tmp_path, google):
    """The recipe in docs/extension.md: Flask-Login keeps the host's user; the loader logs them in."""
    import flask_login
    app = make_host(tmp_path)
    manager = flask_login.LoginManager(app)

    class User(flask_login.UserMixin):
        def __init__(self, uid: str) -> None:
            self.id = uid

    accounts = {google.sub: User("u-7")}
    manager.user_loader(lambda uid: next((u for u in accounts.values() if u.id == uid), None))
    signin = app.extensions["google_signin"]

    @signin.user_loader
    def load(identity):
        user = accounts.get(identity.sub)
        if user is not None and flask_login.current_user.get_id() != user.id:
            flask_login.login_user(user)
        return user

    @app.get("/account")
    @flask_login.login_required
    def account():
        return flask_login.current_user.id

    auth = signed_in_client(app, google)
    assert auth.client.get("/account").get_data(as_text=True) == "u-7"


@pytest.mark.parametrize("headers", [{"Accept": "application/json"}, {"X-Requested-With": "XMLHttpRequest"},
                                     {"Sec-Fetch-Mode": "cors"}])
def test_a_caller_that_is_not_a_page_gets_401_problem_details(tmp_path, headers):
    app = make_host(tmp_path)

    @app.route("/api/me", methods=["GET", "OPTIONS"])
    @login_required
    def api_me():
        return jsonify(sub=current_user.sub)

    response = app.test_client().get("/api/me", headers=headers)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.json["status"] == 401 and response.json["title"] and response.json["login_url"].startswith("/login")
    navigation = app.test_client().get("/api/me", headers={"Accept": "text/html,*/*", "Sec-Fetch-Mode": "navigate"})
    assert navigation.status_code == 302 and navigation.location == "/login?next=/api/me"
    assert app.test_client().get("/api/me").status_code == 302  # no such headers: a navigation
    assert app.test_client().options("/api/me").status_code == 200  # a preflight passes


def test_unauthorized_handler_replaces_both(tmp_path):
    app = make_host(tmp_path)

    @app.extensions["google_signin"].unauthorized_handler
    def mine():
        return "sign in first, please", 418

    app.add_url_rule("/private", "private", login_required(lambda: "secret"))
    assert app.test_client().get("/private").status_code == 418
    assert app.test_client().get("/private", headers={"Accept": "application/json"}).status_code == 418


def reasons(app) -> tuple[list[str], object]:
    found: list[str] = []
    return found, signed_out.connected_to(lambda sender, **kw: found.append((sender, kw["reason"])), app)


def test_signed_out_is_sent_once_for_every_way_a_session_ends(tmp_path, google, monkeypatch):
    app = make_host(tmp_path, GOOGLE_SIGNIN_SESSIONS_PAGE=True, GOOGLE_SIGNIN_IDLE_TIMEOUT=600,
                    GOOGLE_SIGNIN_ABSOLUTE_TIMEOUT=3600)
    found: list = []
    with signed_out.connected_to(lambda sender, **kw: found.append((sender, kw["reason"], kw["sub"])), app):
        one = signed_in_client(app, google)
        one.client.post("/logout", data={"csrf_token": token(one.client)})
        devices = [signed_in_client(app, google) for _ in range(3)]
        page = devices[0].client.get("/sessions").get_data(as_text=True)
        handle = re.findall(r'name="session" value="([^"]+)"', page)[0]
        devices[0].client.post("/sessions/end", data={"session": handle, "csrf_token": token(devices[0].client)})
        devices[0].client.post("/sessions/all", data={"csrf_token": token(devices[0].client)})
        idle, absolute = signed_in_client(app, google), signed_in_client(app, google)
        start = time.time()
        clock = {"now": start + 601}
        monkeypatch.setattr(time, "time", lambda: clock["now"])
        assert not is_signed_in(idle.client)
        for step in range(8):  # active every 500 s, until almost an hour after signing in
            clock["now"] = start + 500 * step
            absolute.client.get("/")
        clock["now"] = start + 3601
        assert not is_signed_in(absolute.client)
    assert all(sender is app for sender, _, _ in found)
    assert [reason for _, reason, _ in found] == ["sign_out", "ended_elsewhere", "everywhere", "everywhere",
                                                  "idle_timeout", "absolute_timeout"]


def test_a_session_not_seen_within_the_grace_ends_silently(tmp_path, google, monkeypatch):
    app = make_host(tmp_path, GOOGLE_SIGNIN_IDLE_TIMEOUT=600, GOOGLE_SIGNIN_EXPIRED_GRACE=60)
    auth = signed_in_client(app, google)
    found: list = []
    later = time.time() + 601 + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with signed_out.connected_to(lambda sender, **kw: found.append(kw["reason"]), app):
        assert not is_signed_in(auth.client)
    assert found == []


def test_security_events_end_sessions_with_their_reason(tmp_path, google):
    from flask_google_signin.accounts.index import end_user_sessions

    app = make_host(tmp_path)
    auth = signed_in_client(app, google)
    found: list = []
    with signed_out.connected_to(lambda sender, **kw: found.append(kw["reason"]), app), app.test_request_context():
        assert end_user_sessions(google.sub, "security_event", detail="sessions-revoked") == 1
    assert found == ["security_event"] and not is_signed_in(auth.client)


# --------------------------------------------------------------------------- optional parts are optional


def test_a_default_host_gains_exactly_the_sign_in_routes(tmp_path):
    app = Flask("host", root_path=str(tmp_path))
    app.config.update(SECRET_KEY="s", GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="x")
    before = {(rule.rule, tuple(sorted(rule.methods))) for rule in app.url_map.iter_rules()}
    commands = set(app.cli.list_commands(None)) if hasattr(app.cli, "list_commands") else set(app.cli.commands)
    GoogleSignIn(app)
    added = {(rule.rule, tuple(sorted(rule.methods - {"HEAD", "OPTIONS"}))) for rule in app.url_map.iter_rules()
             } - {(r, tuple(sorted(set(m) - {"HEAD", "OPTIONS"}))) for r, m in before}
    assert added == {("/login", ("GET",)), ("/callback", ("GET",)), ("/logout", ("GET",)), ("/logout", ("POST",))}
    assert set(app.cli.commands) == commands
    assert not app.after_request_funcs.get(None)  # nothing counts the host's responses


def test_optional_parts_come_with_their_settings(tmp_path):
    app = make_host(tmp_path, GOOGLE_SIGNIN_SESSIONS_PAGE=True, GOOGLE_SIGNIN_RISC=True)
    paths = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/sessions", "/risc"} <= paths and "risc" in app.cli.commands


def test_the_extensions_pages_extend_the_hosts_layout_and_lead_home(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "layout.html").write_text(
        "<header>Acme</header>{% block title %}{% endblock %}<main>{% block content %}{% endblock %}</main>")
    app = make_host(tmp_path, GOOGLE_SIGNIN_BASE_TEMPLATE="layout.html")
    page = app.test_client().get("/logout").get_data(as_text=True)
    assert page.startswith("<header>Acme</header>") and 'href="/"' in page
    error = app.test_client().get("/callback?state=forged&code=x").get_data(as_text=True)
    assert "<header>Acme</header>" in error and 'href="/"' in error
    plain = make_host(tmp_path / "plain")
    assert 'href="/"' in plain.test_client().get("/logout").get_data(as_text=True)


# --------------------------------------------------------------------------- tests for hosts


def test_testing_sign_in_signs_a_test_client_in(tmp_path):
    app = make_host(tmp_path)
    client = app.test_client()
    client.post("/cart")
    who = testing.sign_in(client, email="grace@example.com", name="Grace Hopper")
    assert who.email == "grace@example.com" and who.sub == testing.DEFAULT_CLAIMS["sub"]
    assert client.get("/").get_data(as_text=True).startswith("grace@example.com")
    assert client.get("/cart").json == {"cart": ["book"]}


def test_testing_sign_in_is_refused_outside_testing(tmp_path):
    app = make_host(tmp_path)
    app.testing = False
    with pytest.raises(RuntimeError, match="for tests only"):
        testing.sign_in(app.test_client())


# --------------------------------------------------------------------------- Google APIs without the token


def test_google_session_calls_any_method_as_the_user_with_one_refresh_on_401(tmp_path, google):
    app = make_host(tmp_path, GOOGLE_SIGNIN_GOOGLE_OFFLINE_ACCESS=True)
    files = "https://www.googleapis.com/drive/v3/files"

    @app.post("/save")
    def save():
        response = google_session().post(files, json={"name": "notes.txt"})
        return jsonify(status=response.status_code, body=response.json())

    @app.get("/visitor-call")
    def visitor_call():
        try:
            google_session().get(files)
        except GoogleAPIError as exc:
            return exc.kind
        return "called"

    auth = signed_in_client(app, google)
    calls = google.mocker.post(files, [{"status_code": 401, "json": {}}, {"status_code": 200, "json": {"id": "f1"}}])
    assert auth.client.post("/save").json == {"status": 200, "body": {"id": "f1"}}
    bearers = [request.headers["Authorization"] for request in calls.request_history]
    assert bearers == [f"Bearer {google.access_token}", f"Bearer {google.access_token}-refreshed"]
    assert [request.json() for request in calls.request_history] == [{"name": "notes.txt"}] * 2
    assert [form["grant_type"] for form in google.token_requests].count("refresh_token") == 1
    assert app.test_client().get("/visitor-call").get_data(as_text=True) == "no_access"


def test_a_hosts_own_authlib_registry_stays_where_authlib_put_it(tmp_path):
    from authlib.integrations.flask_client import OAuth

    app = Flask("host", root_path=str(tmp_path))
    app.config.update(SECRET_KEY="s", GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="x")
    hosts = OAuth(app)
    hosts.register("github", client_id="gh", client_secret="x", api_base_url="https://api.github.com/")
    GoogleSignIn(app)
    assert app.extensions["authlib.integrations.flask_client"] is hosts
    bare = Flask("bare", root_path=str(tmp_path))
    bare.config.update(SECRET_KEY="s", GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="x")
    GoogleSignIn(bare)
    assert "authlib.integrations.flask_client" not in bare.extensions


def test_a_hosts_before_request_that_runs_first_already_sees_the_user(tmp_path, google):
    """Flask-Login loads its user when first asked; so does current_user, whatever the order of set-up."""
    app = Flask("host", root_path=str(tmp_path))
    app.config.update(SECRET_KEY="s", GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                      GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"), GOOGLE_SIGNIN_COOKIE_SECURE=False)
    seen: list = []
    app.before_request(lambda: seen.append((current_user.is_authenticated, google_identity())) and None)
    app.add_url_rule("/", "home", lambda: "home")
    GoogleSignIn(app)
    app.testing = True
    auth = signed_in_client(app, google)
    seen.clear()
    with app.app_context():  # one app context (and `g`) for two requests: each is looked up anew
        auth.client.get("/")
        app.test_client().get("/")
    assert [(authenticated, who.sub if who else None) for authenticated, who in seen] == [
        (True, google.sub), (False, None)]


def test_the_user_loader_knows_a_sign_in_from_a_later_request(tmp_path, google):
    app = make_host(tmp_path)
    calls: list[bool] = []

    @app.extensions["google_signin"].user_loader
    def load(identity):
        calls.append(identity.signing_in)
        return identity

    auth = signed_in_client(app, google)
    auth.client.get("/")
    assert calls[0] is True and set(calls[1:]) == {False}


def test_an_allow_list_under_its_old_name_stops_the_start_rather_than_letting_everyone_in(tmp_path):
    with pytest.raises(ConfigError, match="ALLOWED_DOMAINS is set, but the extension reads GOOGLE_SIGNIN_ALLOWED_"):
        make_host(tmp_path, ALLOWED_DOMAINS=["example.com"])
    app = make_host(tmp_path, ALLOWED_EMAILS="mine", GOOGLE_SIGNIN_ALLOWED_EMAILS=["ada@example.com"])
    assert testing.settings(app)["ALLOWED_EMAILS"] == ["ada@example.com"]


def test_the_extensions_pages_render_without_the_context_processor(tmp_path, google):
    app = Flask("host", root_path=str(tmp_path))
    app.config.update(SECRET_KEY="s", GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                      GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"))
    GoogleSignIn().init_app(app, add_context_processor=False)
    app.testing = True
    assert app.test_client().get("/logout").status_code == 200
    assert app.test_client().get("/callback?state=x&code=y").status_code == 400


def test_a_visitors_flask_wtf_token_does_not_protect_the_signed_in_session(tmp_path, google):
    """A planted visitor cookie carries a Flask-WTF raw token the attacker knows: sign-in drops it."""
    app = make_host(tmp_path, csrf="blanket")
    auth = AuthActions(app.test_client(), google)
    before = TOKEN.search(auth.client.get("/shop").get_data(as_text=True))[1]
    assert auth.sign_in().status_code == 302
    assert auth.client.post("/logout", data={"csrf_token": before}).status_code == 400
    assert is_signed_in(auth.client)


# --------------------------------------------------------------------------- cookie prefixes


def secure_host(tmp_path, **config) -> Flask:
    """A host outside testing, so its cookies are Secure (and prefixed); app.testing only after init_app."""
    app = Flask("host", root_path=str(tmp_path))
    app.config.update(SECRET_KEY="s", GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                      GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"), **config)
    app.add_url_rule("/", "home", lambda: render_template_string(PAGE))
    GoogleSignIn(app)
    app.testing = True
    return app


def https_sign_in(app, google):
    client = app.test_client()
    start = client.get("/login", base_url="https://localhost")
    params = {k: v[0] for k, v in parse_qs(urlsplit(start.location).query).items()}
    google.nonce, google.code_challenge = params["nonce"], params["code_challenge"]
    google.codes.add("4/good-code")
    done = client.get("/callback", query_string={"code": "4/good-code", "state": params["state"]},
                      base_url="https://localhost")
    return client, start, done


def cookie_names(response) -> list[str]:
    return [header.partition("=")[0] for header in response.headers.getlist("Set-Cookie")]


def test_secure_cookies_are_host_prefixed_and_an_unprefixed_planted_one_is_ignored(tmp_path, google):
    app = secure_host(tmp_path)
    client, start, done = https_sign_in(app, google)
    assert [name for name in cookie_names(start)] and all(n.startswith("__Host-session_signin_")
                                                          for n in cookie_names(start))
    assert "__Host-session" in cookie_names(done) and done.status_code == 302
    value = client.get_cookie("__Host-session").value
    assert client.get("/", base_url="https://localhost").get_data(as_text=True).startswith("ada@example.com")
    sibling = app.test_client()  # a sibling subdomain planted the very session under the old name
    sibling.set_cookie("session", value)
    assert sibling.get("/", base_url="https://localhost").get_data(as_text=True) == "visitor"


def test_a_cookie_domain_makes_them_secure_prefixed_with_one_warning(tmp_path, google, caplog):
    with caplog.at_level("WARNING", logger="flask_google_signin.extension"):
        app = secure_host(tmp_path, SESSION_COOKIE_DOMAIN="example.com")
    assert testing.settings(app)["cookie_name"] == "__Secure-session"
    assert caplog.text.count("are __Secure-, not __Host-") == 1
    assert testing.settings(secure_host(tmp_path, GOOGLE_SIGNIN_COOKIE_SECURE=False))["cookie_name"] == "session"


# --------------------------------------------------------------------------- the Host header


def test_a_forged_host_is_refused_on_the_extensions_routes_when_the_public_url_is_pinned(tmp_path, google):
    app = make_host(tmp_path, GOOGLE_SIGNIN_PUBLIC_BASE_URL="https://signin.example.com",
                    GOOGLE_SIGNIN_SESSIONS_PAGE=True)
    client = app.test_client()
    for path in ("/login", "/callback?state=x&code=y", "/logout", "/sessions"):
        assert client.get(path, headers={"Host": "evil.example"}).status_code == 400, path
    forged = client.get("/login", headers={"Host": "evil.example"})
    assert "evil.example" not in forged.get_data(as_text=True) and not forged.location
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 200  # the host's own route
    right = client.get("/login", headers={"Host": "signin.example.com"})
    assert right.status_code == 302
    assert parse_qs(urlsplit(right.location).query)["redirect_uri"] == ["https://signin.example.com/callback"]


def test_without_a_pinned_url_or_trusted_hosts_one_warning_says_so(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="flask_google_signin.extension"):
        secure_host(tmp_path)
    assert caplog.text.count("Neither GOOGLE_SIGNIN_PUBLIC_BASE_URL nor TRUSTED_HOSTS is set") == 1
    caplog.clear()
    with caplog.at_level("WARNING", logger="flask_google_signin.extension"):
        secure_host(tmp_path, TRUSTED_HOSTS=["signin.example.com"])
        secure_host(tmp_path, GOOGLE_SIGNIN_PUBLIC_BASE_URL="https://signin.example.com")
    assert "Neither" not in caplog.text
