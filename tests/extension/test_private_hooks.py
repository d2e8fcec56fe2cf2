"""Contract tests for every library internal the extension relies on (docs/private-hooks.md).

flask_google_signin/sessions/interface.py: SealedSessions implements Flask-Session's backend hooks
(`_retrieve_session_data`, `_upsert_session`, `_delete_session`, and `_generate_sid`) and relies on
its `save_session` calling them as below (it opens sessions itself: Flask-Session's open_session
reads the cookie under SESSION_COOKIE_NAME, not under get_cookie_name). These are private names: if a
Flask-Session release changes them, these tests fail with a message saying what changed, before a
session silently stops being sealed or an ended session is written back.
The same for Authlib's framework integration and client_cls, and urllib3's connection classes.
"""

from __future__ import annotations

import inspect

import pytest
from flask import Flask
from flask_session.base import ServerSideSession, ServerSideSessionInterface

from flask_google_signin.sessions.interface import SealedSession, SealedSessions

HOOKS = {
    "_retrieve_session_data": ["self", "store_id"],
    "_upsert_session": ["self", "session_lifetime", "session", "store_id"],
    "_delete_session": ["self", "store_id"],
    "_generate_sid": ["self", "session_id_length"],
}


@pytest.mark.parametrize("name", HOOKS)
def test_flask_session_still_has_the_hook_with_its_signature(name):
    hook = getattr(ServerSideSessionInterface, name, None)
    assert hook is not None, f"Flask-Session no longer has {name}: sessions/interface.py must be reworked"
    params = list(inspect.signature(hook).parameters)
    assert params == HOOKS[name], f"Flask-Session's {name} now takes {params}, SealedSessions expects {HOOKS[name]}"


def test_sealed_sessions_builds_on_the_base_interface_and_implements_every_hook():
    """No backend interface of Flask-Session's sits between: every hook is SealedSessions' own."""
    assert [base for base in SealedSessions.__mro__ if base.__module__.startswith("flask_session")] == [
        ServerSideSessionInterface]
    for name in HOOKS:
        assert name in vars(SealedSessions), name
    params = list(inspect.signature(ServerSideSession.__init__).parameters)
    assert params == ["self", "initial", "sid", "permanent"], f"ServerSideSession now takes {params}"
    assert issubclass(SealedSession, ServerSideSession)


class Recorder(ServerSideSessionInterface):
    """A backend that records how the base class calls its hooks."""

    def __init__(self, app: Flask, stored: dict | None) -> None:
        super().__init__(app, key_prefix="prefix:")
        self.stored = stored
        self.calls: list[tuple] = []

    def _retrieve_session_data(self, store_id):
        self.calls.append(("retrieve", store_id))
        return self.stored

    def _delete_session(self, store_id):
        self.calls.append(("delete", store_id))

    def _upsert_session(self, session_lifetime, session, store_id):
        self.calls.append(("upsert", store_id))

    def _generate_sid(self, session_id_length):
        self.calls.append(("generate", session_id_length))
        return "fresh-id"


@pytest.fixture
def flask_app():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", SESSION_COOKIE_NAME="session")
    return app


def test_save_session_names_the_cookie_by_get_cookie_name(flask_app):
    """The extension's cookie is `__Host-` + SESSION_COOKIE_NAME: Flask-Session's save_session must
    take the name from get_cookie_name, as Flask's own interfaces do, not from the config."""

    class Prefixed(Recorder):
        def get_cookie_name(self, app):
            return "__Host-session"

    interface = Prefixed(flask_app, None)
    sess = ServerSideSession({"user": "ada"}, sid="abc.def")
    sess.modified = True
    response = flask_app.response_class()
    with flask_app.test_request_context():
        interface.save_session(flask_app, sess, response)
    assert response.headers["Set-Cookie"].startswith("__Host-session=abc.def"), response.headers["Set-Cookie"]


class Refusing(Recorder):
    """A backend whose every write is refused, as SealedSessions refuses a write to an ended session."""

    def _upsert_session(self, session_lifetime, session, store_id):
        self.calls.append(("upsert", store_id))
        raise LookupError("refused")


def test_save_session_writes_before_it_sets_the_cookie(flask_app):
    """SealedSessions raises from _upsert_session when a conditional write is refused, and relies on
    Flask-Session's save_session then setting no cookie: the write must come before the cookie."""
    interface = Refusing(flask_app, None)
    sess = ServerSideSession({"user": "ada"}, sid="abc.def")
    sess.modified = True
    response = flask_app.response_class()
    with flask_app.test_request_context(), pytest.raises(LookupError):
        interface.save_session(flask_app, sess, response)
    assert interface.calls == [("upsert", "prefix:abc.def")]
    assert not response.headers.getlist("Set-Cookie"), "Flask-Session set the cookie before storing the session"


def test_save_session_stores_only_a_modified_session_and_deletes_an_emptied_one(flask_app):
    """With SESSION_REFRESH_EACH_REQUEST off (GoogleSignIn sets it), an unchanged session costs no
    write and sends no cookie; an emptied one is deleted and its cookie removed."""
    flask_app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    interface = Recorder(flask_app, None)
    unchanged = ServerSideSession({"user": "ada"}, sid="abc.def")
    response = flask_app.response_class()
    with flask_app.test_request_context():
        interface.save_session(flask_app, unchanged, response)
    assert interface.calls == [] and not response.headers.getlist("Set-Cookie")
    emptied = ServerSideSession({"user": "ada"}, sid="abc.def")
    emptied.clear()
    with flask_app.test_request_context():
        interface.save_session(flask_app, emptied, response)
    assert interface.calls == [("delete", "prefix:abc.def")]
    assert "session=;" in response.headers["Set-Cookie"]


def test_the_base_interface_takes_our_options_and_adds_no_cleanup_command(flask_app):
    """SealedSessions passes app, key_prefix, use_signer and permanent; with `ttl = True` (records
    expire in the store) the base registers no `session_cleanup` command and no before_request."""
    params = list(inspect.signature(ServerSideSessionInterface.__init__).parameters)
    assert params[:5] == ["self", "app", "key_prefix", "use_signer", "permanent"], params
    assert SealedSessions.ttl is True
    Recorder(flask_app, None)
    assert "session_cleanup" not in flask_app.cli.commands, "the base registered a cleanup command"
    assert not flask_app.before_request_funcs, "the base registered a cleanup before each request"


def test_authlib_reads_and_writes_pending_sign_ins_through_the_framework_integration():
    """flask_google_signin/oidc/client.py's PendingSignIns moves Authlib's state out of the session by overriding the
    framework integration's set/get/clear_state_data: Authlib must still go through them."""
    from authlib.integrations.base_client.framework_integration import FrameworkIntegration
    from authlib.integrations.flask_client.apps import FlaskOAuth2App

    for name in ("set_state_data", "get_state_data", "clear_state_data"):
        assert list(inspect.signature(getattr(FrameworkIntegration, name)).parameters) == [
            "self", "session", "state", *(["data"] if name == "set_state_data" else [])], name
    source = inspect.getsource(FlaskOAuth2App.authorize_access_token)
    assert "self.framework.get_state_data(session" in source, "Authlib no longer reads state via the framework"
    assert "self.framework.set_state_data(" in inspect.getsource(FlaskOAuth2App.save_authorize_data)


def test_authlib_builds_every_session_of_its_own_through_client_cls():
    """GoogleClient.client_cls = ProviderSession puts Authlib's own calls (token exchange, JWKS,
    userinfo) under the request's deadline: Authlib must keep building sessions from client_cls."""
    from authlib.integrations.base_client.sync_app import OAuth2Mixin
    from authlib.integrations.flask_client import OAuth

    for name in ("_get_session", "_get_oauth_client"):
        source = inspect.getsource(getattr(OAuth2Mixin, name))
        assert "self.client_cls(" in source, f"Authlib's {name} no longer builds its session from client_cls"
    assert OAuth.framework_integration_cls is not None, "Authlib's OAuth lost framework_integration_cls"


@pytest.mark.slow  # starts a server
def test_urllib3_lets_the_watchdog_see_each_connections_socket():
    """oidc/http.py sets PoolManager.pool_classes_by_scheme to pools whose ConnectionCls
    registers `sock` at connect(): a real request to a local server must register its socket."""
    import http.server
    import threading

    from urllib3 import PoolManager
    from urllib3.connectionpool import HTTPConnectionPool

    from flask_google_signin.oidc import http as provider_http

    assert isinstance(PoolManager().pool_classes_by_scheme, dict), "urllib3 PoolManager.pool_classes_by_scheme"
    assert "ConnectionCls" in vars(HTTPConnectionPool), "urllib3 HTTPConnectionPool.ConnectionCls"

    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        seen: list = []
        reset = provider_http._connections.set(seen)
        try:
            with provider_http.ProviderSession() as session:
                url = f"http://127.0.0.1:{server.server_port}/"
                assert session.get(url, timeout=5, withhold_token=True).text == "ok"
        finally:
            provider_http._connections.reset(reset)
        assert len(seen) == 1 and hasattr(seen[0], "shutdown"), "no socket reached the watchdog"
    finally:
        server.shutdown()
