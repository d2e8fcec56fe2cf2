"""The per-user index, "Your sessions", sign-out elsewhere and everywhere, revocation.

Three browsers (distinct User-Agents) signed in as one user, on two app instances sharing one
store, on both stores (files: two apps on one folder; Redis: two apps on one redis-server).
"""

from __future__ import annotations

import re

import pytest

from flask_google_signin import testing

from ..helpers import AuthActions, set_cookie, stored_record

STORES = ["cachelib", pytest.param("redis", marks=[pytest.mark.slow, pytest.mark.redis])]
AGENTS = {
    "firefox": "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "chrome": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36",
    "safari": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.5 Mobile/15E148 Safari/604.1",
}
SHOWN = {"firefox": "Firefox 133 on Ubuntu", "chrome": "Chrome 131 on Windows", "safari": "Mobile Safari 17 on iOS"}


@pytest.fixture(params=STORES)
def instances(request, make_app, tmp_path):
    """Instances A and B of one deployment on one store."""
    overrides = {"GOOGLE_OFFLINE_ACCESS": True, "SESSION_CACHELIB_DIR": str(tmp_path / "shared")}
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        overrides.update(SESSION_TYPE="redis", REDIS_URL=server.url)
    a, b = make_app(**overrides), make_app(**overrides)
    if request.param == "redis":
        testing.store(a).client.flushdb()
    return a, b


class Device(AuthActions):
    """One browser: its own cookies and User-Agent, signing in on instance A, browsing anywhere."""

    def __init__(self, app, google, name: str) -> None:
        client = app.test_client()
        client.environ_base["HTTP_USER_AGENT"] = AGENTS[name]
        super().__init__(client, google)
        self.name = name

    def on(self, app):
        """The same browser talking to another instance (cookies carried over)."""
        other = app.test_client()
        other.environ_base["HTTP_USER_AGENT"] = AGENTS[self.name]
        other.set_cookie("session", self.cookie())
        return other

    def cookie(self) -> str:
        return self.client.get_cookie("session").value

    def form_token(self, client=None) -> str:
        page = (client or self.client).get("/sessions").get_data(as_text=True)
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def devices(instances, google):
    a, _ = instances
    signed_in = {}
    for name in AGENTS:
        device = Device(a, google, name)
        assert device.sign_in().status_code == 302
        signed_in[name] = device
    return signed_in


def rows(client) -> list[tuple[str, bool]]:
    page = client.get("/sessions")
    assert page.status_code == 200, page.status_code
    html = page.get_data(as_text=True)
    found = re.findall(r'<p class="session-device">([^<]+?)( <span class="badge badge-ok">this device</span>)?</p>',
                       html)
    return [(browser, bool(current)) for browser, current in found]


def handles(client) -> dict[str, str]:
    html = client.get("/sessions").get_data(as_text=True)
    pairs = re.findall(r'name="session" value="([^"]+)">\s*<button[^>]*aria-label="Sign out ([^,]+),', html)
    return {browser: handle for handle, browser in pairs}


def test_the_page_lists_every_session_of_the_user_on_every_instance(instances, devices, google):
    a, b = instances
    for app in (a, b):
        listed = rows(devices["chrome"].on(app))
        assert sorted(listed) == sorted([(SHOWN["chrome"], True), (SHOWN["firefox"], False),
                                          (SHOWN["safari"], False)]), app
    other_user = Device(a, google, "firefox")
    google.sub = "another-user-sub"
    other_user.sign_in()
    assert rows(other_user.client) == [(SHOWN["firefox"], True)]  # only their own


def test_signing_out_one_session_ends_it_and_nothing_else(instances, devices, google):
    a, b = instances
    chrome = devices["chrome"]
    on_b = chrome.on(b)
    target = handles(on_b)[SHOWN["firefox"]]
    response = on_b.post("/sessions/end", data={"csrf_token": chrome.form_token(on_b), "session": target})
    assert response.status_code == 303
    for app in (a, b):  # the ended one is anonymous on its next request, on any instance
        assert devices["firefox"].on(app).get("/profile").status_code == 302
        assert devices["safari"].on(app).get("/profile").status_code == 200
        assert chrome.on(app).get("/profile").status_code == 200
    assert sorted(rows(chrome.client)) == sorted([(SHOWN["chrome"], True), (SHOWN["safari"], False)])
    assert stored_record(a, devices["firefox"].cookie()) is None
    assert google.revoked == []  # the grant serves the other devices still


def test_a_forged_handle_or_a_missing_token_ends_nothing(devices):
    chrome = devices["chrome"]
    assert chrome.client.post("/sessions/end", data={"csrf_token": chrome.form_token(), "session": "forged"}
                              ).status_code == 303
    target = handles(chrome.client)[SHOWN["firefox"]]
    assert chrome.client.post("/sessions/end", data={"session": target}).status_code == 400  # no CSRF token
    assert chrome.client.post("/sessions/others").status_code == 400
    assert chrome.client.post("/sessions/all").status_code == 400
    for device in devices.values():
        assert device.client.get("/profile").status_code == 200


def test_signing_out_all_other_sessions_keeps_this_one(instances, devices, google, caplog):
    a, b = instances
    chrome = devices["chrome"]
    response = chrome.client.post("/sessions/others", data={"csrf_token": chrome.form_token()})
    assert response.status_code == 303
    for app in (a, b):
        assert devices["firefox"].on(app).get("/profile").status_code == 302
        assert devices["safari"].on(app).get("/profile").status_code == 302
        assert chrome.on(app).get("/profile").status_code == 200
    assert rows(chrome.client) == [(SHOWN["chrome"], True)]
    ended = [r for r in caplog.records if getattr(r, "event", None) == "session_ended"]
    assert len(ended) == 2 and {r.reason for r in ended} == {"ended_elsewhere"}
    assert {r.sub for r in ended} == {google.sub}
    assert google.revoked == []


def test_signing_out_everywhere_ends_every_session_and_revokes(instances, devices, google, caplog):
    a, b = instances
    chrome = devices["chrome"]
    response = chrome.client.post("/sessions/all", data={"csrf_token": chrome.form_token()})
    assert response.status_code == 303 and response.location == "/"
    for app in (a, b):
        for device in devices.values():
            assert device.on(app).get("/profile").status_code == 302
    assert google.revoked == [google.refresh_token]
    ended = [r for r in caplog.records if getattr(r, "event", None) == "session_ended"]
    assert len(ended) == 3 and {r.reason for r in ended} == {"everywhere"}
    assert "access to your Google account was revoked" in chrome.client.get("/").get_data(as_text=True)


def test_sign_out_revokes_only_with_the_users_last_session(instances, devices, google):
    assert devices["chrome"].logout().status_code == 303
    assert devices["firefox"].logout().status_code == 303
    assert google.revoked == []  # safari still uses the grant
    assert devices["safari"].client.get("/profile").status_code == 200
    assert devices["safari"].logout().status_code == 303
    assert google.revoked == [google.refresh_token]


def test_the_index_holds_no_claim_or_user_agent_in_clear(instances, devices, google):
    from .test_sessions import dump

    a, _ = instances
    everything = dump(a)
    for value in (google.sub, "ada@example.com", "Firefox", "Ubuntu", "Windows", google.refresh_token[:16]):
        assert value.encode() not in everything, value


def test_ended_sessions_drop_out_of_the_index_by_themselves(instances, devices, monkeypatch):
    """An entry whose session expired (or whose record vanished) is pruned when the index is read."""
    import time

    a, _ = instances
    firefox_id = devices["firefox"].cookie().split(".")[0]
    testing.store(a).delete(testing.session_key(a, f"{firefox_id}.x"))  # as TTL expiry does
    assert sorted(rows(devices["chrome"].client)) == sorted([(SHOWN["chrome"], True), (SHOWN["safari"], False)])
    index = a.extensions["google_signin_index"]
    with a.test_request_context():
        key = index.user_key(devices["chrome"].google.sub)
        assert firefox_id not in index.records.index_get(key)  # pruned, not just hidden
        later = time.time() + 9 * 3600
        monkeypatch.setattr("flask_google_signin.accounts.index.time.time", lambda: later)
        assert index.entries(key) == {}
        assert index.records.index_get(key) == {}


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/sessions")
    assert response.status_code == 302 and "/login?next=/sessions" in response.location
    assert client.post("/sessions/all").status_code == 403  # nobody signed in: refused before anything
    assert set_cookie(client.get("/sessions"), "session") is None
