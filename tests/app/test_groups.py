"""Google Workspace groups (GOOGLE_SIGNIN_ALLOWED_GROUPS, group_required, /admin) against a fake Cloud
Identity Groups API and a fake service-account token endpoint (tests/groups_fakes.py): requests-mock
refuses every other URL, so these tests also prove that nothing else is called. The clock the
answers are aged by is moved by the `clock` fixture; sessions and the store keep real time.
"""

from __future__ import annotations

import logging
import time

import pytest

from flask_google_signin import ConfigError, signed_out, testing
from flask_google_signin.accounts import groups as groups_module
from flask_google_signin.accounts.index import index

from ..groups_fakes import FakeCloudIdentity
from ..helpers import CLIENT_ID, AuthActions, stored_record

STORES = ["files", pytest.param("redis", marks=[pytest.mark.slow, pytest.mark.redis])]
NOT_A_MEMBER = "not a member of a group that may sign in here"
CANNOT_CHECK = "Group membership cannot be checked right now"


@pytest.fixture
def cloud(google, tmp_path):
    return FakeCloudIdentity(google.mocker, tmp_path, google.key)


@pytest.fixture
def clock(monkeypatch):
    """Moves the clock group answers are aged by: clock(301) is five minutes and a second later."""
    offset = [0.0]
    monkeypatch.setattr(groups_module, "now", lambda: time.time() + offset[0])

    def move(seconds: float) -> None:
        offset[0] += seconds

    return move


@pytest.fixture(params=STORES)
def store(request):
    if request.param == "files":
        return {}
    return {"SESSION_TYPE": "redis", "REDIS_URL": request.getfixturevalue("redis_server").url}


@pytest.fixture
def groups_app(make_app, cloud, store):
    """The reference app with ALLOWED_GROUPS eng@ and ADMIN_GROUP admins@; Ada is in eng@ only."""

    def make(**overrides):
        app = make_app(**{"GOOGLE_SIGNIN_ALLOWED_GROUPS": "eng@example.com", "ADMIN_GROUP": "admins@example.com",
                          "GOOGLE_SIGNIN_GROUPS_CREDENTIALS": str(cloud.key_file), **store, **overrides})
        if store:
            testing.store(app).client.flushdb()
        return app

    return make


def signed_in_client(app, google):
    auth = AuthActions(app.test_client(), google)
    response = auth.sign_in()
    assert response.status_code == 302, response.get_data(as_text=True)
    return auth.client


def test_a_member_signs_in_and_the_profile_names_the_group(groups_app, google, cloud):
    app = groups_app()
    assert cloud.calls == ["groups:lookup?groupKey.id=eng%40example.com"]  # once, at start-up
    client = signed_in_client(app, google)
    assert cloud.membership_calls() == ["groups/eng01/memberships:lookup?memberKey.id=ada%40example.com"]
    assert cloud.token_calls == 1  # the service account's token, kept by google-auth
    page = client.get("/profile").get_data(as_text=True)
    assert "Google groups" in page and "eng@example.com" in page
    assert stored_record(app, client.get_cookie("session").value)["groups"]["member_of"] == ["eng@example.com"]


def test_a_non_member_is_refused_with_403_and_no_session(groups_app, google, cloud):
    app = groups_app()
    google.id_claims = {"email": "bob@example.com"}
    client = app.test_client()
    response = AuthActions(client, google).sign_in()
    assert response.status_code == 403 and NOT_A_MEMBER in response.get_data(as_text=True)
    assert client.get_cookie("session") is None or stored_record(app, client.get_cookie("session").value) is None
    assert client.get("/profile").status_code == 302  # still a visitor


def test_an_unverified_email_is_a_member_of_nothing_and_nobody_is_asked(groups_app, google, cloud):
    app = groups_app()
    google.id_claims = {"email_verified": False}
    google.userinfo_extra = {"email_verified": False}
    response = AuthActions(app.test_client(), google).sign_in()
    assert response.status_code == 403 and cloud.membership_calls() == []


@pytest.mark.parametrize("nested", [False, True])
def test_nested_membership_counts_only_with_groups_nested(groups_app, google, cloud, nested):
    """Ada is in eng@, which is a member of ops@."""
    app = groups_app(GOOGLE_SIGNIN_ALLOWED_GROUPS="ops@example.com", GOOGLE_SIGNIN_GROUPS_NESTED=str(nested))
    response = AuthActions(app.test_client(), google).sign_in()
    assert response.status_code == (302 if nested else 403)
    (call,) = cloud.membership_calls()
    assert ("checkTransitiveMembership" in call) is nested


def test_a_transitive_check_refused_for_the_edition_is_not_a_member_and_is_logged(groups_app, google, cloud, caplog):
    app = groups_app(GOOGLE_SIGNIN_GROUPS_NESTED="true")
    cloud.transitive_allowed = False
    with caplog.at_level(logging.WARNING):
        response = AuthActions(app.test_client(), google).sign_in()
    assert response.status_code == 403
    assert any(getattr(record, "event", "") == "groups_transitive_refused" for record in caplog.records)


def test_page_views_within_the_ttl_make_no_call(groups_app, google, cloud, clock):
    app = groups_app()
    client = signed_in_client(app, google)
    asked = list(cloud.calls)
    for _ in range(3):
        assert client.get("/profile").status_code == 200
    clock(299)
    assert client.get("/profile").status_code == 200
    assert cloud.calls == asked and cloud.token_calls == 1


def test_a_removed_member_is_signed_out_on_the_first_request_after_the_ttl(groups_app, google, cloud, clock):
    app = groups_app()
    client = signed_in_client(app, google)
    cloud.remove("eng@example.com", "ada@example.com")
    clock(299)
    assert client.get("/profile").status_code == 200  # the answer is still young
    clock(2)
    ended = []
    with signed_out.connected_to(lambda sender, **kw: ended.append(kw["reason"]), app):
        assert client.get("/profile").status_code == 302
    assert ended == ["group"]
    assert "no longer a member of a group" in client.get("/").get_data(as_text=True)
    assert len(cloud.membership_calls()) == 2


def test_a_member_still_in_the_group_is_asked_once_per_ttl(groups_app, google, cloud, clock):
    app = groups_app()
    client = signed_in_client(app, google)
    clock(301)
    for _ in range(3):
        assert client.get("/profile").status_code == 200
    assert len(cloud.membership_calls()) == 2


def test_group_required_gives_403_to_a_member_of_another_group(groups_app, google, cloud, clock):
    app = groups_app()
    client = signed_in_client(app, google)
    page = client.get("/admin")
    assert page.status_code == 403 and "only for members of a particular group" in page.get_data(as_text=True)
    api = client.get("/admin", headers={"Accept": "application/json"})
    assert api.status_code == 403 and api.mimetype == "application/problem+json" and api.json["status"] == 403
    assert client.get("/profile").status_code == 200  # the rest of the site stays hers
    cloud.add("admins@example.com", "ada@example.com")
    assert client.get("/admin").status_code == 403  # the answer is kept for the TTL
    clock(301)
    admin = client.get("/admin").get_data(as_text=True)
    assert "let in as a member of" in admin and "admins@example.com" in admin and "Ada Lovelace" in admin


def test_admin_asks_a_visitor_to_sign_in_and_is_404_without_admin_group(groups_app, make_app, google, cloud):
    assert groups_app().test_client().get("/admin").status_code == 302
    assert make_app().test_client().get("/admin").status_code == 404


def test_an_outage_refuses_new_sign_ins_and_keeps_sessions_until_the_stale_window_ends(groups_app, google, cloud,
                                                                                      clock):
    app = groups_app()
    client = signed_in_client(app, google)
    cloud.down = True
    cloud.add("eng@example.com", "grace@example.com")  # a member whose answer no one has asked for yet
    google.id_claims = {"email": "grace@example.com", "sub": "2"}
    refused = AuthActions(app.test_client(), google).sign_in()
    google.id_claims = {}
    assert refused.status_code == 503 and CANNOT_CHECK in refused.get_data(as_text=True)
    clock(301)
    assert client.get("/profile").status_code == 200  # the last answer, within GROUPS_STALE
    clock(898)  # 1199 s: still within TTL + STALE
    assert client.get("/profile").status_code == 200
    ended = []
    clock(2)
    with signed_out.connected_to(lambda sender, **kw: ended.append(kw["reason"]), app):
        assert client.get("/profile").status_code == 302
    assert ended == ["group_unverified"]
    assert len([call for call in cloud.membership_calls()]) <= 2  # BACKOFF: not one call per page view


def test_a_slow_api_answers_within_the_deadline(groups_app, google, cloud):
    app = groups_app(PROVIDER_TIMEOUT="0.3")
    cloud.delay = 5
    started = time.monotonic()
    response = AuthActions(app.test_client(), google).sign_in()
    assert response.status_code == 503
    assert time.monotonic() - started < 1.5


def test_a_slow_token_source_is_bounded_by_the_deadline_too(groups_app, google, cloud, caplog):
    cloud.token_delay = 5
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        app = groups_app(PROVIDER_TIMEOUT="0.3")  # the start-up lookup needs the token first
    assert time.monotonic() - started < 1.5 and "start-up lookup of eng@example.com failed" in caplog.text
    assert app.test_client().get("/readyz").status_code == 200  # an outage is not a configuration error


def test_a_mistyped_group_is_reported_at_start_up_and_by_readyz(groups_app, google, cloud, caplog):
    with caplog.at_level(logging.ERROR):
        app = groups_app(GOOGLE_SIGNIN_ALLOWED_GROUPS="eng@exmaple.com")
    assert "eng@exmaple.com" in caplog.text
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.json == {"status": "unavailable", "failed": "groups"}
    response = AuthActions(app.test_client(), google).sign_in()
    assert response.status_code == 503 and CANNOT_CHECK in response.get_data(as_text=True)


def test_without_google_auth_groups_stop_the_start_naming_the_extra(groups_app, monkeypatch):
    monkeypatch.setattr(groups_module, "HAVE_GOOGLE_AUTH", False)
    with pytest.raises(ConfigError, match=r"pip install 'flask-google-signin\[groups\]'"):
        groups_app()


def test_the_store_holds_answers_sealed_under_a_keyed_hash(groups_app, google, cloud):
    app = groups_app()
    signed_in_client(app, google)
    with app.test_request_context():
        key = groups_module.cache_key("ada@example.com", "eng@example.com", index())
    assert "ada" not in key and "example" not in key
    blob = testing.store(app).get(key)
    assert blob is not None and b"member" not in blob and b"ada" not in blob


@pytest.mark.slow
@pytest.mark.redis
def test_two_instances_sharing_redis_use_one_cached_answer(make_app, google, cloud, redis_server):
    config = {"GOOGLE_SIGNIN_ALLOWED_GROUPS": "eng@example.com", "SESSION_TYPE": "redis",
              "GOOGLE_SIGNIN_GROUPS_CREDENTIALS": str(cloud.key_file), "REDIS_URL": redis_server.url}
    a, b = make_app(**config), make_app(**config)
    testing.store(a).client.flushdb()
    signed_in_client(a, google)
    signed_in_client(b, google)  # the same user signing in on the other instance
    assert len(cloud.membership_calls()) == 1


def test_a_bearer_token_gets_the_same_group_check(groups_app, google, cloud):
    """GET /api/me with a bearer ID token: a member of eng@ passes, anyone else gets 403, and while
    the API is down 503 (never let in unchecked)."""
    app = groups_app(GOOGLE_SIGNIN_BEARER_AUDIENCES=CLIENT_ID)
    client = app.test_client()

    def call(email: str):
        token = google.sign({**google.claims(), "email": email})
        return client.get("/api/me", headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})

    assert call("ada@example.com").status_code == 200
    refused = call("bob@example.com")
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    cloud.down = True
    unchecked = call("carol@example.com")
    assert unchecked.status_code == 503 and "Group membership" in unchecked.json["detail"]
