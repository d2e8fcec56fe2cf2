"""Sessions that stay ended, sealed records, isolation, bounded pending sign-ins, two tabs.

Each rule runs on both stores: files, and a real redis-server.
"""

from __future__ import annotations

import pickle
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import flask_google_signin.oidc.client as oidc
import flask_google_signin.sessions.interface as sessions
import flask_google_signin.web.guard as guard
from flask_google_signin import testing

from ..helpers import (
    CLIENT_ID,
    ROOT,
    AuthActions,
    pending_count,
    pending_record,
    private_redis,
    set_cookie,
    stored_record,
)

STORES = ["cachelib", pytest.param("redis", marks=[pytest.mark.slow, pytest.mark.redis])]


@pytest.fixture(params=STORES)
def store_app(request, make_app):
    """An app on each store; `make(**overrides)` builds more instances on the same store."""

    def make(**overrides):
        if request.param == "redis":
            server = request.getfixturevalue("redis_server")
            overrides = {"SESSION_TYPE": "redis", "REDIS_URL": server.url, **overrides}
        return make_app(**overrides)

    app = make(GOOGLE_OFFLINE_ACCESS=True)
    app.make = make
    if request.param == "redis":
        testing.store(app).client.flushdb()
    return app


def cookie(client) -> str:
    return client.get_cookie("session").value


def dump(app) -> bytes:
    """Every byte the store holds: all Redis values, or every file of the session folder and every
    row of its pending sign-ins' database."""
    if app.config["SESSION_TYPE"] == "redis":
        client = testing.store(app).client
        return b"\n".join(client.dump(key) or b"" for key in client.scan_iter("*"))
    folder = Path(app.config["GOOGLE_SIGNIN_SESSION_CACHELIB_DIR"])
    rows = []
    if (folder / "pending" / "pending.sqlite3").exists():  # made at the first pending sign-in
        with sqlite3.connect(folder / "pending" / "pending.sqlite3") as db:
            rows = [b"|".join(str(value).encode() if not isinstance(value, bytes) else value for value in row)
                    for row in db.execute("SELECT * FROM pending")]
    return b"\n".join([*(path.read_bytes() for path in folder.iterdir() if path.is_file()), *rows])


# --------------------------------------------------------------------------- 1. an ended session stays ended


class SlowRefresh:
    """Holds every token refresh until released, so a page view stays in flight. (It waits before the
    fake token endpoint answers, not inside it: requests-mock serialises calls under one lock.)"""

    def __init__(self, monkeypatch) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        original = oidc.GoogleClient.refresh

        def refresh(client, token):
            self.entered.set()
            assert self.release.wait(10)
            return original(client, token)

        monkeypatch.setattr(oidc.GoogleClient, "refresh", refresh)


def expire_access_token(client) -> None:
    with client.session_transaction() as sess:
        sess["token"] = {**sess["token"], "expires_at": int(time.time())}


def assert_ended(app, old_cookie: str) -> None:
    """No record for the old cookie, and replaying it opens no session."""
    assert stored_record(app, old_cookie) is None
    replay = app.test_client()
    replay.set_cookie("session", old_cookie)
    assert replay.get("/profile").status_code == 302


def in_flight(client, path: str) -> tuple[threading.Thread, dict]:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(response=client.get(path)))
    thread.start()
    return thread, result


def test_sign_out_during_a_slow_refresh_stays_signed_out(store_app, google, monkeypatch):
    """A page view that loaded the session before the sign-out finishes after it: it must not write
    the record back, and its response must not hand the browser a live cookie."""
    auth = AuthActions(store_app.test_client(), google)
    auth.sign_in()
    old = cookie(auth.client)
    csrf = auth.csrf_token()
    expire_access_token(auth.client)
    slow = SlowRefresh(monkeypatch)
    late_view = store_app.test_client()
    late_view.set_cookie("session", old)

    thread, result = in_flight(late_view, "/profile")
    assert slow.entered.wait(10)
    assert auth.client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    slow.release.set()
    thread.join(10)

    assert result["response"].status_code == 200  # it rendered what it had loaded ...
    assert set_cookie(result["response"], "session") is None  # ... and hands out no cookie
    assert_ended(store_app, old)  # the refreshed token was not written back either


def test_expiry_during_a_slow_request_stays_expired(store_app, google, monkeypatch):
    auth = AuthActions(store_app.test_client(), google)
    auth.sign_in()
    old = cookie(auth.client)
    expire_access_token(auth.client)
    slow = SlowRefresh(monkeypatch)
    thread, result = in_flight(auth.client, "/profile")
    assert slow.entered.wait(10)

    later = time.time() + 9 * 3600  # past the 8-hour idle lifetime
    with monkeypatch.context() as clock:
        clock.setattr(guard, "time", type("Later", (), {"time": staticmethod(lambda: later)}))
        other_tab = store_app.test_client()
        other_tab.set_cookie("session", old)
        assert other_tab.get("/profile").status_code == 302  # expired: the record is deleted
    slow.release.set()
    thread.join(10)

    assert set_cookie(result["response"], "session") is None
    assert_ended(store_app, old)


def test_a_refused_refresh_keeps_the_user_signed_in_without_tokens(store_app, google, caplog):
    auth = AuthActions(store_app.test_client(), google)
    auth.sign_in()
    expire_access_token(auth.client)
    google.refresh_error = "invalid_grant"
    page = auth.client.get("/profile")
    assert page.status_code == 200 and "Google access has ended" in page.get_data(as_text=True)
    record = stored_record(store_app, cookie(auth.client))
    assert record["user"]["sub"] == google.sub and "token" not in record
    assert any(getattr(r, "event", None) == "refresh_refused" for r in caplog.records)
    assert auth.client.get("/login").status_code == 302  # renewing access starts a sign-in
    assert auth.client.get("/login").location.startswith("https://accounts.google.com/")


# --------------------------------------------------------------------------- 2. sealed records


def test_the_store_holds_no_token_or_claim_in_clear(store_app, google):
    google.userinfo_extra = {"locale": "en-GB-x-findme"}
    auth = AuthActions(store_app.test_client(), google)
    auth.sign_in()
    anonymous = AuthActions(store_app.test_client(), google)
    params = anonymous.start("/profile")  # a pending sign-in, too
    auth.client.get("/profile")
    everything = dump(store_app)
    assert everything  # the records are there ...
    secrets_and_claims = [google.access_token, google.refresh_token, "ya29", "1//", google.sub, "ada@example.com",
                          "Ada Lovelace", "Lovelace", "googleusercontent", "findme", params["nonce"],
                          params["state"], "code_verifier", "/profile", "email_verified"]
    for value in secrets_and_claims:
        assert value.encode() not in everything, value  # ... and none of this is readable in them
    assert pending_record(store_app, anonymous.client, params["state"])["data"]["next"] == "/profile"


def test_a_record_altered_in_the_store_is_no_session(store_app, google):
    auth = AuthActions(store_app.test_client(), google)
    auth.sign_in()
    key = testing.session_key(store_app, cookie(auth.client))
    blob = testing.store(store_app).get(key)
    testing.store(store_app).put(key, blob[:-1] + bytes([blob[-1] ^ 1]), 600, exists=True)
    response = auth.client.get("/profile")
    assert response.status_code == 302 and "/login" in response.location


def test_a_cookie_with_a_wrong_secret_is_no_session(store_app, google):
    auth = AuthActions(store_app.test_client(), google)
    auth.sign_in()
    session_id, _, secret = cookie(auth.client).partition(".")
    forger = store_app.test_client()
    for value in [f"{session_id}.{secret[:-1]}A" if secret[-1] != "A" else f"{session_id}.{secret[:-1]}B",
                  session_id, f"{session_id}.", f"{session_id}.{'x' * 43}.extra", "../../etc/passwd", "\x00"]:
        forger.set_cookie("session", value)
        assert forger.get("/profile").status_code == 302, value
    assert auth.client.get("/profile").status_code == 200  # the real one still works


def test_the_file_store_never_unpickles(app, client, auth, tmp_path):
    """A pickle planted at a session's path (say, by a process that can write the folder) is not run."""
    auth.sign_in()
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (marker.write_text, ("unpickled",))

    key = testing.session_key(app, cookie(client))
    path = testing.store(app).path(key)
    path.write_bytes(int(time.time() + 600).to_bytes(8, "big") + pickle.dumps(Exploit()))
    assert client.get("/profile").status_code == 302
    assert not marker.exists()


def test_a_session_sealed_before_a_key_rotation_stays_signed_in_and_is_resealed(store_app, google):
    """A new SECRET_KEY, the old one in SECRET_KEY_FALLBACKS: the record opens under the fallback, and
    that request writes it again under the new key, which alone opens it from then on."""
    auth = AuthActions(store_app.test_client(), google)
    auth.sign_in()
    value = cookie(auth.client)
    rotated = store_app.make(SECRET_KEY="new-secret-key", SECRET_KEY_FALLBACKS=["test-secret-key"])
    new_key_only = store_app.make(SECRET_KEY="new-secret-key")
    assert stored_record(new_key_only, value) is None  # sealed under the old key: dropping it signs out

    browser = rotated.test_client()
    browser.set_cookie("session", value)
    assert browser.get("/profile").status_code == 200

    assert stored_record(new_key_only, value)["user"]["sub"] == google.sub
    assert stored_record(store_app, value) is None  # the old key opens it no more


# --------------------------------------------------------------------------- 3. isolation


def test_a_deployment_does_not_accept_another_ones_sessions(store_app, google):
    """Same store, same SECRET_KEY, a different GOOGLE_CLIENT_ID: a different deployment."""
    auth = AuthActions(store_app.test_client(), google)
    auth.sign_in()
    other = store_app.make(GOOGLE_CLIENT_ID="another-client.apps.googleusercontent.com", ALLOWED_DOMAINS="corp.example")
    intruder = other.test_client()
    intruder.set_cookie("session", cookie(auth.client))
    assert intruder.get("/profile").status_code == 302
    same = store_app.make().test_client()  # another instance of the same deployment does accept it
    same.set_cookie("session", cookie(auth.client))
    assert same.get("/profile").status_code == 200


# --------------------------------------------------------------------------- 4. bounded strangers


def test_a_flood_at_the_cap_sheds_its_own_sign_ins_and_a_visitor_still_signs_in(store_app, google):
    """PENDING_SIGNINS_MAX holds, and nobody is refused: a stranger who keeps the store full sheds
    their own oldest sign-ins, so a visitor from another network starts and finishes theirs."""
    app = store_app.make(PENDING_SIGNINS_MAX=5, LOGIN_RATE_LIMIT="1000/minute")
    stranger = app.test_client(use_cookies=False)
    stranger.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    first = AuthActions(app.test_client(), google)
    first.client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    early = first.start()  # the stranger's own first sign-in: the oldest of the network with the most
    for _ in range(4):
        assert stranger.get("/login").status_code == 302
    visitor = AuthActions(app.test_client(), google)
    visitor.client.environ_base["REMOTE_ADDR"] = "203.0.113.20"
    params = visitor.start()  # at the cap: the stranger's oldest is shed
    for _ in range(20):
        response = stranger.get("/login")
        assert response.status_code == 302, response.status_code
        assert set_cookie(response, "session") is None
    assert pending_count(app) == 5  # the cap holds
    assert visitor.callback(params).status_code == 302
    assert visitor.client.get("/profile").status_code == 200
    assert first.callback(early).status_code == 400  # shed: "start again"
    assert first.client.get("/profile").status_code == 302


def test_an_anonymous_visit_writes_nothing(store_app, google):
    visitor = store_app.test_client()
    for path in ("/", "/logout", "/healthz", "/readyz", "/profile", "/nope"):
        response = visitor.get(path)
        assert set_cookie(response, "session") is None, path
    assert visitor.post("/logout").status_code == 303
    assert dump(store_app) == b""


# --------------------------------------------------------------------------- 5. two tabs, two sign-ins


def test_two_tabs_starting_sign_in_at_the_same_moment_both_complete(store_app, google):
    """One browser, an existing session cookie, two /login requests held at a barrier inside the view
    (so each has loaded whatever it loads before either answers); both callbacks then succeed."""
    browser = AuthActions(store_app.test_client(), google)
    with browser.client.session_transaction() as sess:
        sess["note"] = "an anonymous session this browser already has"
    barrier = threading.Barrier(2)
    view = store_app.view_functions["google_signin.login"]

    def held(*args, **kwargs):
        barrier.wait(5)
        return view(*args, **kwargs)

    store_app.view_functions["google_signin.login"] = held
    tabs = [store_app.test_client() for _ in range(2)]
    for tab in tabs:
        tab.set_cookie("session", cookie(browser.client))
    responses: list = [None, None]

    def start(index: int) -> None:
        responses[index] = tabs[index].get("/login", query_string={"next": f"/tab{index}"})

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    store_app.view_functions["google_signin.login"] = view
    for response in responses:  # the browser keeps every cookie both answers set
        for header in response.headers.getlist("Set-Cookie"):
            name, _, rest = header.partition("=")
            browser.client.set_cookie(name, rest.split(";")[0])

    nonces = {}
    for response in responses:
        params = dict(p.split("=", 1) for p in response.location.split("?", 1)[1].split("&"))
        nonces[params["state"]] = params
    for index, params in enumerate(nonces.values()):
        browser.google.nonce = params["nonce"]
        browser.google.code_challenge = params["code_challenge"]
        done = browser.callback(params, code=f"4/code-{index}")
        assert done.status_code == 302, done.get_data(as_text=True)[:300]
    assert browser.client.get("/profile").status_code == 200


# --------------------------------------------------------------------------- 7. provider values of any size


def test_integers_of_any_size_store_fine(store_app, google):
    google.userinfo_extra = {"big": 2**80, "negative": -(2**70), "nested": {"n": 2**65}}
    auth = AuthActions(store_app.test_client(), google)
    assert auth.sign_in().status_code == 302
    page = auth.client.get("/profile")
    assert page.status_code == 200 and str(2**80) in page.get_data(as_text=True)
    assert stored_record(store_app, cookie(auth.client))["userinfo"]["big"] == 2**80


def test_the_record_is_stored_before_signed_in_is_logged(store_app, google, caplog, monkeypatch):
    auth = AuthActions(store_app.test_client(), google)
    params = auth.start()
    records = testing.store(store_app)

    def broken(*args, **kwargs):
        raise records.store_errors[0]("the store is full")

    monkeypatch.setattr(records, "put", broken)
    assert auth.callback(params).status_code == 503
    assert not any(getattr(r, "event", None) == "sign_in" for r in caplog.records)
    monkeypatch.undo()
    assert auth.client.get("/profile").status_code == 302


def test_session_cookie_is_an_id_and_a_secret(client, auth):
    auth.sign_in()
    value = cookie(client)
    assert sessions.COOKIE_VALUE.fullmatch(value)
    assert CLIENT_ID not in value


# --------------------------------------------------------------------------- 4. a full Redis, as compose runs it


def compose_redis_flags() -> list[str]:
    """The redis service's command in docker-compose.yml (the flags after `redis-server`)."""
    import json
    import re

    text = (ROOT / "docker-compose.yml").read_text()
    service = text[text.index("\n  redis:"):]
    match = re.search(r"command: (\[.*?\])", service, re.DOTALL)
    return json.loads(match.group(1))[1:]


def test_compose_runs_redis_bounded_and_without_eviction():
    flags = compose_redis_flags()
    assert flags[flags.index("--maxmemory-policy") + 1] == "noeviction"
    assert flags[flags.index("--maxmemory") + 1].endswith("mb")


@pytest.mark.slow
@pytest.mark.redis
def test_a_full_redis_refuses_sign_ins_with_503_and_keeps_signed_in_users(make_app, google, tmp_path_factory):
    """compose's policy on a tiny Redis: past maxmemory, /login is a 503 page (never a 500), nothing
    is evicted, and a signed-in user's pages still open."""
    flags = compose_redis_flags()
    flags[flags.index("--maxmemory") + 1] = "3mb"
    save = flags.index("--save")
    del flags[save:save + 3]  # `--save 60 1`: the test server keeps nothing on disk
    server = private_redis(tmp_path_factory, "full-redis", *flags)
    try:
        app = make_app(SESSION_TYPE="redis", REDIS_URL=server.url, LOGIN_RATE_LIMIT="100000/second")
        auth = AuthActions(app.test_client(), google)
        auth.sign_in()
        stranger = app.test_client(use_cookies=False)
        statuses = []
        while len(statuses) < 8000 and 503 not in statuses[-1:]:
            statuses.append(stranger.get("/login").status_code)
        assert statuses[-1] == 503 and set(statuses) == {302, 503}, statuses[-3:]
        refused = stranger.get("/login")
        assert refused.status_code == 503 and "session store" in refused.get_data(as_text=True)
        assert auth.client.get("/profile").status_code == 200  # not evicted, still readable
        assert testing.store(app).client.info("stats")["evicted_keys"] == 0
    finally:
        server.stop()
