"""A SECRET_KEY rotation: with the old key in SECRET_KEY_FALLBACKS, nobody is signed out. Records
sealed under it open and are written again under the current key, sessions indexed under it are
found and ended, forms and visitors' cookies made under it are accepted.

Each rule runs on both stores: files, and a real redis-server. "Before" and "after" the rotation are
two host apps on one store, as an old and a new deployment are; a browser keeps its cookie.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask, jsonify, render_template_string, session

from flask_google_signin import ConfigError, GoogleSignIn, testing
from flask_google_signin.accounts import index as accounts
from flask_google_signin.store import ADDED, Vault, digest, namespace, new_secret

from ..helpers import CLIENT_ID, CLIENT_SECRET

HERE = str(Path(__file__).parent)
OLD, NEW = "old-secret-key", "new-secret-key"
ADA, GRACE = "100000000000000000001", "100000000000000000002"
PAGE = """{% if current_user %}{{ current_user.email }}
<input name="csrf_token" value="{{ google_signin_csrf_token() }}">{% else %}visitor{% endif %}"""
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(params=["files", pytest.param("redis", marks=[pytest.mark.slow, pytest.mark.redis])])
def store(request, tmp_path) -> dict:
    """The store's settings, for every app of a test: the deployments before and after a rotation share it."""
    if request.param == "files":
        return {"GOOGLE_SIGNIN_SESSION_CACHELIB_DIR": str(tmp_path / "sessions")}
    config = {"SESSION_TYPE": "redis", "GOOGLE_SIGNIN_REDIS_URL": request.getfixturevalue("redis_server").url}
    testing.store(host(config, OLD)).client.flushdb()
    return config


def host(store: dict, secret_key: str, *fallbacks: str) -> Flask:
    """A host app on `store`, under `secret_key`, with the older keys it still accepts."""
    app = Flask("host", root_path=HERE)  # no templates folder: the extension's own pages
    app.config.update(SECRET_KEY=secret_key, SECRET_KEY_FALLBACKS=list(fallbacks), GOOGLE_CLIENT_ID=CLIENT_ID,
                      GOOGLE_CLIENT_SECRET=CLIENT_SECRET, GOOGLE_SIGNIN_COOKIE_SECURE=False,
                      GOOGLE_SIGNIN_SESSIONS_PAGE=True, **store)

    @app.get("/")
    def home() -> str:
        return render_template_string(PAGE)

    @app.post("/cart")
    def add_to_cart():
        session["cart"] = ["book"]
        return jsonify(cart=session["cart"])

    @app.get("/cart")
    def cart():
        return jsonify(cart=session.get("cart", []))

    GoogleSignIn(app)
    app.testing = True
    return app


def signed_in(app: Flask, sub: str = ADA):
    client = app.test_client()
    testing.sign_in(client, sub=sub)
    return client


def carried(client, app: Flask):
    """The same browser, on `app`: its session cookie goes along."""
    browser = app.test_client()
    browser.set_cookie("session", client.get_cookie("session").value)
    return browser


def is_signed_in(client) -> bool:
    return client.get("/").get_data(as_text=True) != "visitor"


def token(client) -> str:
    match = TOKEN.search(client.get("/").get_data(as_text=True))
    assert match, "no form token: not signed in"
    return match[1]


def test_records_sealed_before_a_rotation_open_with_a_fallback_and_are_written_under_the_current_key(store):
    records = testing.store(host(store, OLD))
    space = namespace(CLIENT_ID)
    before, after = Vault(records, OLD, space), Vault(records, NEW, space, ["older-secret-key", OLD])
    key, secret = f"session:{space}:{new_secret()}", new_secret()
    assert before.save(key, secret, {"user": {"sub": ADA}}, 600, exists=False)

    assert Vault(records, NEW, space).load(key, secret) is None  # a rotation without the fallback: signed out
    opened = after.load(key, secret)
    assert opened is not None and opened.data == {"user": {"sub": ADA}} and opened.stale
    assert after.save(key, secret, opened.data, 600, exists=True)
    resealed = Vault(records, NEW, space).load(key, secret)  # the current key alone opens it now
    assert resealed is not None and resealed.data == {"user": {"sub": ADA}} and not resealed.stale
    assert before.load(key, secret) is None

    pending_secret = new_secret()  # a sign-in started before the rotation comes back after it
    pending_key = records.pending_key(digest(pending_secret))
    assert before.add_pending(pending_key, pending_secret, {"state": "s"}, 600, cap=10) == ADDED
    assert after.take_pending(pending_key, pending_secret) == {"state": "s"}


def test_a_session_signed_in_before_a_rotation_stays_signed_in_and_its_record_is_resealed(store):
    client = signed_in(host(store, OLD))
    value = client.get_cookie("session").value
    assert testing.session_record(host(store, NEW), value) is None  # sealed under the old key

    browser = carried(client, host(store, NEW, OLD))
    assert is_signed_in(browser)

    assert testing.session_record(host(store, NEW), value)["user"]["sub"] == ADA  # resealed by that request
    assert testing.session_record(host(store, OLD), value) is None
    with host(store, NEW).app_context():  # indexed anew: found without the fallback
        assert list(accounts.user_sessions(ADA)) == [value.partition(".")[0]]


def test_sessions_indexed_before_a_rotation_are_found_and_ended_after_it(store):
    """Ada's first session makes a request after the rotation (it moves to the new key's index), her
    second makes none (it stays in the old key's); ending her sessions ends both, and not Grace's."""
    before = host(store, OLD)
    browsers = [signed_in(before), signed_in(before), signed_in(before, GRACE)]
    after = host(store, NEW, OLD)
    moved, idle, grace = (carried(browser, after) for browser in browsers)
    assert is_signed_in(moved)
    assert len(re.findall(r'name="session"', moved.get("/sessions").get_data(as_text=True))) == 1  # the other

    with after.app_context():
        assert len(accounts.user_sessions(ADA)) == 2
        assert accounts.end_user_sessions(ADA, "security_event") == 2

    assert not is_signed_in(moved) and not is_signed_in(idle) and is_signed_in(grace)


def test_a_session_named_on_a_page_shown_before_a_rotation_is_signed_out_after_it(store):
    before = host(store, OLD)
    this, other = signed_in(before), signed_in(before)
    page = this.get("/sessions").get_data(as_text=True)
    (handle,) = re.findall(r'name="session" value="([^"]+)"', page)
    form = {"session": handle, "csrf_token": TOKEN.search(page)[1]}
    after = host(store, NEW, OLD)
    this, other = carried(this, after), carried(other, after)

    assert this.post("/sessions/end", data=form).status_code == 303
    assert not is_signed_in(other) and is_signed_in(this)


def test_a_form_shown_before_a_rotation_posts_while_its_key_is_a_fallback(store):
    client = signed_in(host(store, OLD))
    shown_before = token(client)
    browser = carried(client, host(store, NEW, OLD))
    assert token(browser) != shown_before  # the page now carries the current key's token

    without = carried(browser, host(store, NEW))  # the old key dropped from the fallbacks
    assert without.post("/logout", data={"csrf_token": shown_before}).status_code == 400
    assert is_signed_in(without)
    assert browser.post("/logout", data={"csrf_token": shown_before}).status_code == 303
    assert not is_signed_in(browser)


def test_a_visitors_cookie_signed_before_a_rotation_is_still_read(store):
    """Flask's own signed cookie: Flask 3.1 verifies it with SECRET_KEY_FALLBACKS too."""
    client = host(store, OLD).test_client()
    assert client.post("/cart").get_json() == {"cart": ["book"]}
    assert carried(client, host(store, NEW, OLD)).get("/cart").get_json() == {"cart": ["book"]}
    assert carried(client, host(store, NEW)).get("/cart").get_json() == {"cart": []}


@pytest.mark.parametrize("fallbacks", ["old-secret-key", ["old,secret,key"]], ids=["text", "a-comma"])
def test_fallbacks_flask_would_read_otherwise_stop_the_start(tmp_path, fallbacks):
    """Flask takes each character of a text for a key; the extension splits text at commas."""
    app = Flask("host")
    app.config.update(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=fallbacks, GOOGLE_CLIENT_ID=CLIENT_ID,
                      GOOGLE_CLIENT_SECRET=CLIENT_SECRET, GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path))
    with pytest.raises(ConfigError, match=r"^SECRET_KEY_FALLBACKS is invalid"):
        GoogleSignIn(app)
