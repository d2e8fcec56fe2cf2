"""Contract tests for every library internal the extension relies on (docs/private-hooks.md).

flask_google_signin/sessions.py: SealedSessions overrides Flask-Session's backend hooks (`_retrieve_session_data`,
`_upsert_session`, `_delete_session`, and `_generate_sid`) and relies on its `open_session`
calling them as below. These are private names: if a Flask-Session release changes them, these
tests fail with a message saying what changed, before a session silently stops being sealed.
The same for Authlib's framework integration and client_cls, urllib3's connection classes, and
Flask-WTF's CSRF token as extension.py's SignedCsrfTokens keeps it (in a bare host app).
"""

from __future__ import annotations

import inspect
import time

import pytest
from flask import Flask, g, render_template_string, session
from flask_session.base import ServerSideSessionInterface
from flask_session.cachelib import CacheLibSessionInterface
from flask_session.redis import RedisSessionInterface
from flask_wtf.csrf import generate_csrf, validate_csrf
from itsdangerous import TimestampSigner

from flask_google_signin import GoogleSignIn
from flask_google_signin.extension import SignedCsrfTokens
from flask_google_signin.sessions import ClusterStore, FileStore, RedisStore, SealedSessions

from ..helpers import CLIENT_ID, CLIENT_SECRET

HOOKS = {
    "_retrieve_session_data": ["self", "store_id"],
    "_upsert_session": ["self", "session_lifetime", "session", "store_id"],
    "_delete_session": ["self", "store_id"],
    "_generate_sid": ["self", "session_id_length"],
}


@pytest.mark.parametrize("name", HOOKS)
def test_flask_session_still_has_the_hook_with_its_signature(name):
    hook = getattr(ServerSideSessionInterface, name, None)
    assert hook is not None, f"Flask-Session no longer has {name}: flask_google_signin/sessions.py must be reworked"
    params = list(inspect.signature(hook).parameters)
    assert params == HOOKS[name], f"Flask-Session's {name} now takes {params}, SealedSessions expects {HOOKS[name]}"


@pytest.mark.parametrize("store", [FileStore, RedisStore, ClusterStore])
def test_sealed_hooks_come_first_in_the_method_order(store):
    """The mixin must win over the backend's own hooks, or records are stored unsealed."""
    for name in HOOKS:
        owner = next(klass for klass in store.__mro__ if name in vars(klass))
        assert owner is SealedSessions, f"{store.__name__}.{name} resolves to {owner.__name__}"


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


def test_open_session_retrieves_by_prefix_plus_the_raw_cookie_value(flask_app):
    interface = Recorder(flask_app, {"user": "ada"})
    with flask_app.test_request_context(headers={"Cookie": "session=abc.def"}) as ctx:
        sess = interface.open_session(flask_app, ctx.request)
    assert interface.calls == [("retrieve", "prefix:abc.def")], (
        "open_session must pass key_prefix + the cookie's value to _retrieve_session_data; "
        "SealedSessions splits the id and the secret out of it")
    assert sess.sid == "abc.def" and dict(sess) == {"user": "ada"}


def test_open_session_makes_a_new_id_when_nothing_is_stored(flask_app):
    interface = Recorder(flask_app, None)
    with flask_app.test_request_context(headers={"Cookie": "session=unknown"}) as ctx:
        sess = interface.open_session(flask_app, ctx.request)
    assert interface.calls[-1][0] == "generate" and sess.sid == "fresh-id", (
        "an unknown cookie must give a new id from _generate_sid; SealedSessions then marks it not stored")


def test_open_session_without_a_cookie_does_not_touch_the_store(flask_app):
    interface = Recorder(flask_app, {"user": "ada"})
    with flask_app.test_request_context() as ctx:
        sess = interface.open_session(flask_app, ctx.request)
    assert interface.calls == [("generate", interface.sid_length)] and sess.sid == "fresh-id"


def test_backends_keep_the_client_where_we_pass_it():
    """FileStore and RedisStore are built with `client=`: the backends' __init__ must accept it."""
    for backend in (CacheLibSessionInterface, RedisSessionInterface):
        assert "client" in inspect.signature(backend.__init__).parameters, backend.__name__


def test_a_cluster_client_needs_the_base_interface_which_only_keeps_it(flask_app):
    """ClusterStore (REDIS_CLUSTER_URL) builds on ServerSideSessionInterface, not RedisSessionInterface,
    which warns about any client that is not a `redis.Redis` (a RedisCluster is not) and swaps in
    `Redis()` on localhost. The base must take the options ClusterStore passes, and, with the Redis
    backend's `ttl = True`, register no cleanup command; the client is only kept (SealedSessions does
    every store call)."""
    import warnings

    from flask_session.redis import RedisSession

    with pytest.warns(RuntimeWarning, match="No valid Redis instance"):
        RedisSessionInterface(flask_app, client=object())  # if this stops warning, ClusterStore may go
    params = list(inspect.signature(ServerSideSessionInterface.__init__).parameters)
    assert params[:5] == ["self", "app", "key_prefix", "use_signer", "permanent"], params
    cluster_client = object()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store = ClusterStore(flask_app, client=cluster_client, key_prefix="session:x:", use_signer=False,
                             permanent=True)
    assert store.client is cluster_client and store.key_prefix == "session:x:" and store.permanent is True
    assert store.session_class is RedisSession and store.ttl is True
    assert "session_cleanup" not in flask_app.cli.commands, "the base registered a cleanup command"


def test_authlib_reads_and_writes_pending_sign_ins_through_the_framework_integration():
    """flask_google_signin/oidc.py's PendingSignIns moves Authlib's state out of the session by overriding the
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
    """provider_http.py sets PoolManager.pool_classes_by_scheme to pools whose ConnectionCls
    registers `sock` at connect(): a real request to a local server must register its socket."""
    import http.server
    import threading

    from urllib3 import PoolManager
    from urllib3.connectionpool import HTTPConnectionPool

    from flask_google_signin import provider_http

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


# --------------------------------------------------------------------------- Flask-WTF's CSRF token
# What extension.py's SignedCsrfTokens relies on in Flask-WTF 1.3 and Flask 3.1.


@pytest.fixture
def app(tmp_path) -> Flask:
    """A bare host app with the extension (not the reference app): CSRFProtect as GoogleSignIn sets it up."""
    host = Flask("host")
    host.config.update(SECRET_KEY="host-secret", GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                       SESSION_CACHELIB_DIR=str(tmp_path / "sessions"), TESTING=True)
    GoogleSignIn(host)
    return host


def test_flask_wtf_answers_with_the_token_kept_in_g(app):
    with app.test_request_context():
        session["csrf_token"] = "raw-token"
        g.csrf_token = "signed-earlier"
        assert generate_csrf() == "signed-earlier", (
            "generate_csrf no longer returns g.csrf_token first: SignedCsrfTokens must put its token elsewhere")


def test_flask_wtf_accepts_an_old_signature_when_tokens_live_as_long_as_the_session(app, monkeypatch):
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None
    with app.test_request_context():
        token = generate_csrf()
        later = int(time.time()) + 10 * 365 * 86400
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
        validate_csrf(token)  # raises when a signature's age counts: then a kept token would expire


def test_templates_call_the_extensions_csrf_token_not_flask_wtfs(app):
    """The extension's context processor comes after CSRFProtect's, so its `csrf_token` wins."""
    tokens = app.jinja_env.globals["csrf_token"]
    assert isinstance(tokens, SignedCsrfTokens)
    tokens.signed["raw-token"] = "kept-token"
    with app.test_request_context():
        session["csrf_token"] = "raw-token"
        assert render_template_string("{{ csrf_token() }}") == "kept-token"
