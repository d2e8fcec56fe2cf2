"""Google Calendar through incremental authorization: sign-in asks for no more than openid, email and
profile; connecting asks for the calendar alone (state, nonce, PKCE) and checks the ID token it brings
back; consent granted, partly granted or refused; a 401 gets one refresh; API errors and timeouts are a
message in the page; disconnecting revokes the grant and keeps the user signed in; no token reaches a
page or a log. Against the fake Google (requests-mock, real RS256 ID tokens) and a fake Calendar API
(tests/calendar_fakes.py)."""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import time
from datetime import datetime

import pytest
import requests

from flask_google_signin import ConfigError
from flask_google_signin.accounts.index import drop_refresh_token

from ..calendar_fakes import (
    CALENDAR_SCOPE,
    CONNECT_REFRESH_TOKEN,
    CONNECT_TOKEN,
    WITH_CALENDAR,
    FakeCalendar,
    connect,
    start_connect,
)
from ..helpers import GRANTED_SCOPES, AuthActions, pending_record, stored_record

REFRESHED = "ya29.test-access-token-refreshed"


@pytest.fixture
def calendar(google):
    return FakeCalendar(google)


def record(app, client) -> dict:
    return stored_record(app, client.get_cookie("session").value)


def html(client, path: str = "/calendar") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


# --------------------------------------------------------------------------- asking: sign-in minimal, connect more


def test_sign_in_asks_only_for_openid_email_profile(auth):
    params = auth.start()
    assert params["scope"] == "openid email profile"
    for name in ("access_type", "prompt", "include_granted_scopes", "login_hint"):
        assert name not in params


def test_offline_access_at_sign_in_only_when_configured_and_still_without_calendar(make_app, google):
    app = make_app(GOOGLE_OFFLINE_ACCESS=True)
    params = AuthActions(app.test_client(), google).start()
    assert params["scope"] == "openid email profile"
    assert params["access_type"] == "offline" and params["prompt"] == "consent"
    assert "include_granted_scopes" not in params


def test_connect_url_asks_incrementally_with_state_nonce_and_pkce(app, client, auth, google):
    auth.sign_in()
    params = start_connect(client, google)
    assert params["scope"] == f"openid email profile {CALENDAR_SCOPE}"
    assert params["include_granted_scopes"] == "true"
    assert params["access_type"] == "offline" and params["prompt"] == "consent"
    assert params["login_hint"] == google.sub
    assert params["response_type"] == "code" and params["client_id"] == app.config["GOOGLE_CLIENT_ID"]
    data = pending_record(app, client, params["state"])["data"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(data["code_verifier"].encode()).digest()).rstrip(b"=")
    assert params["code_challenge"] == challenge.decode() and params["code_challenge_method"] == "S256"
    assert params["nonce"] == data["nonce"] and len(params["nonce"]) >= 32 and len(params["state"]) >= 32
    assert params["redirect_uri"] == data["redirect_uri"] == "http://localhost/callback"  # the same /callback
    assert data["connect"] == {"purpose": "calendar", "scopes": [CALENDAR_SCOPE], "sub": google.sub,
                               "retry": "/connect/calendar"}  # an error page's "Try again"
    assert data["next"] == "/calendar"


def test_connect_needs_a_signed_in_user(client, google):
    response = client.get("/connect/calendar")
    assert response.status_code == 302 and response.location == "/login?next=/connect/calendar"


def test_the_profile_offers_to_connect(client, auth, google):
    auth.sign_in()
    page = html(client, "/profile")
    assert 'href="/connect/calendar"' in page and "Connect Google Calendar" in page


# --------------------------------------------------------------------------- granular consent


def test_granted_consent_replaces_the_token_and_shows_the_next_five_events(app, client, auth, google, calendar):
    auth.sign_in()
    before = time.time()
    response = connect(auth)
    assert response.status_code == 302 and response.location == "/calendar"
    token = record(app, client)["token"]
    assert token["access_token"] == CONNECT_TOKEN and token["refresh_token"] == CONNECT_REFRESH_TOKEN
    assert token["scope"] == WITH_CALENDAR  # as the token response listed it

    page = html(client)
    (call,) = calendar.calls
    assert call["authorization"] == f"Bearer {CONNECT_TOKEN}"
    query = call["query"]
    assert query["singleEvents"] == "true" and query["orderBy"] == "startTime" and query["maxResults"] == "5"
    assert abs(datetime.fromisoformat(query["timeMin"]).timestamp() - before) < 5
    # times in each event's own time zone (else the calendar's), all-day events by date
    assert "Mon 4 Mar, 09:30 – 09:45" in page and "(Europe/London)" in page
    assert "Tue 5 Mar, 14:00 – 15:00" in page and "(America/New_York)" in page  # 19:00Z in New York
    assert "Wed 6 Mar – Thu 7 Mar, all day" in page
    assert "Sat 9 Mar, 01:00 – 01:30" in page and "(No title)" in page  # +09:00 in the calendar's zone
    assert "Sun 10 Mar, 12:30 – 13:30" in page and "(Europe/Paris)" in page
    assert page.count('class="event"') == 5
    # all text escaped
    assert "<script>alert(1)" not in page and "Stand-up &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Room &lt;b&gt;1&lt;/b&gt;" in page
    events = page.split('<ol class="events">')[1].split("</ol>")[0]
    assert events.count("<time datetime=") == 5 and "data-local-time" not in events  # left in their own zone
    assert "Sample events" not in page  # Google's own API URL
    assert 'href="/calendar"' in html(client, "/profile")


def test_odd_events_are_left_out_and_unknown_zones_keep_googles_offset(client, auth, google, calendar):
    calendar.items = [
        "not an event", {"summary": "no start"}, {"summary": "naive", "start": {"dateTime": "2030-03-04T09:30:00"}},
        {"summary": "garbled", "start": {"dateTime": "soon"}}, {"summary": "bad date", "start": {"date": "3/4"}},
        {"summary": "far", "start": {"dateTime": "9999-12-31T23:00:00+00:00", "timeZone": "Asia/Tokyo"}},
        {"summary": ["not", "text"], "location": {"x": 1},
         "start": {"dateTime": "2030-03-04T09:30:00+05:30", "timeZone": "Mars/Olympus_Mons"}},
    ]
    auth.sign_in()
    connect(auth)
    page = html(client)
    assert page.count('class="event"') == 1
    assert "(No title)" in page and "Mon 4 Mar, 09:30" in page and "(UTC+0530)" in page
    calendar.items = {"not": "a list"}
    assert "Google sent an answer this site could not read" in html(client)


def test_partially_granted_consent_says_so_and_calls_no_api(app, client, auth, google, calendar):
    """The user unticked the calendar: the token response lists the sign-in scopes only."""
    auth.sign_in()
    connect(auth, scope=GRANTED_SCOPES)
    stored = record(app, client)
    assert stored["token"]["access_token"] == CONNECT_TOKEN and stored["declined_scopes"] == [CALENDAR_SCOPE]
    page = html(client)
    assert "Access to your calendar was not granted" in page
    assert '<a class="button" href="/connect/calendar">Try again</a>' in page
    assert calendar.calls == []
    connect(auth)  # trying again, granting it this time
    assert "declined_scopes" not in record(app, client)
    assert "Stand-up" in html(client) and len(calendar.calls) == 1


def test_refused_consent_keeps_the_user_signed_in_with_the_old_token(app, client, auth, google, calendar):
    auth.sign_in()
    params = start_connect(client, google)
    response = client.get("/callback", query_string={"state": params["state"], "error": "access_denied"})
    assert response.status_code == 302 and response.location == "/calendar"
    stored = record(app, client)
    assert stored["user"]["sub"] == google.sub and stored["token"]["access_token"] == google.access_token
    page = html(client)
    assert "Access to your calendar was not granted" in page and 'href="/connect/calendar"' in page
    assert calendar.calls == [] and len(google.token_requests) == 1  # the sign-in's code exchange only


def test_a_cancelled_connect_says_calendar_was_not_connected_and_offers_it_again(app, client, auth, google):
    """Google's error redirect carries the state: the pending record says it was a connect."""
    auth.sign_in()
    params = start_connect(client, google)
    response = client.get("/callback", query_string={"state": params["state"], "error": "access_denied"})
    assert response.status_code == 302 and response.location == "/calendar"
    page = html(client)
    assert "Google Calendar was not connected." in page and "You are still signed in." in page
    assert '<a class="button" href="/connect/calendar">Try again</a>' in page
    assert 'class="nav-user"' in page  # the header agrees


@pytest.mark.parametrize(("error", "status"), [("server_error", 502), ("temporarily_unavailable", 503),
                                               ("invalid_scope", 400)])
def test_a_connect_that_fails_at_google_says_calendar_was_not_connected(client, auth, google, error, status):
    auth.sign_in()
    params = start_connect(client, google)
    response = client.get("/callback", query_string={"state": params["state"], "error": error})
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert "<h1>Google Calendar was not connected</h1>" in page and f"({error})" in page
    assert "You are still signed in, with the access you had before." in page and 'class="nav-user"' in page
    assert '<a class="button" href="/connect/calendar">Try again</a>' in page and 'href="/login' not in page
    assert "Ada Lovelace" in html(client, "/profile")


def test_a_cancel_without_state_is_worded_for_a_sign_in_and_a_connect_alike(app, client, auth):
    """The local provider's Deny (and any stripped redirect) has no state: nobody can tell which it was."""
    response = client.get("/callback", query_string={"error": "access_denied"})
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "<h1>Nothing changed</h1>" in page and "no new sign-in, and no new access" in page
    assert '<a class="button" href="/login">Try again</a>' in page and "still signed in" not in page

    auth.sign_in()
    page = client.get("/callback", query_string={"error": "access_denied"}).get_data(as_text=True)
    assert "<h1>Nothing changed</h1>" in page and "You are still signed in." in page
    assert '<a class="button" href="/connect/calendar">Connect Google Calendar</a>' in page
    assert "Try again" not in page  # /login would change nothing: the user is signed in already


def test_a_different_google_account_is_refused_with_a_clear_page(app, client, auth, google, calendar, caplog):
    auth.sign_in()
    response = connect(auth, sub="109999999999999999999")  # a valid ID token, for someone else
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "<h1>Google Calendar was not connected</h1>" in page and "a different Google account" in page
    assert '<a class="button" href="/connect/calendar">Try again</a>' in page
    stored = record(app, client)
    assert stored["user"]["sub"] == google.sub and stored["token"]["access_token"] == google.access_token
    assert "Ada Lovelace" in html(client, "/profile")  # still signed in, as before
    assert any(getattr(r, "event", "") == "connect_refused" for r in caplog.records)


def test_the_id_token_of_a_connect_passes_every_check(app, client, auth, google, calendar):
    auth.sign_in()
    response = connect(auth, nonce="not-the-nonce-we-sent")
    assert response.status_code == 401
    assert record(app, client)["token"]["access_token"] == google.access_token


def test_a_session_that_ended_meanwhile_gets_nothing(app, client, auth, google, calendar):
    auth.sign_in()
    params = start_connect(client, google)
    auth.logout()
    google.token_extra = {"access_token": CONNECT_TOKEN, "scope": WITH_CALENDAR}
    response = auth.callback(params, code="4/connect-code")
    assert response.status_code == 401 and "Google Calendar was not connected" in response.get_data(as_text=True)


def test_cross_account_protection_finds_the_session_by_its_new_refresh_token(app, client, auth, google, calendar):
    auth.sign_in()
    connect(auth)
    with app.test_request_context():
        assert drop_refresh_token(CONNECT_REFRESH_TOKEN[:16], "prefix") == 1


# --------------------------------------------------------------------------- tokens that stay usable


def test_a_401_gets_one_refresh_and_one_retry(app, client, auth, google, calendar):
    auth.sign_in()
    connect(auth)
    calendar.accepted.discard(CONNECT_TOKEN)  # Google stopped accepting it before its expiry
    page = html(client)
    assert "Stand-up" in page
    assert calendar.refreshes() == 1
    assert [call["authorization"] for call in calendar.calls] == [f"Bearer {CONNECT_TOKEN}", f"Bearer {REFRESHED}"]
    refresh = [form for form in google.token_requests if form.get("grant_type") == "refresh_token"]
    assert refresh[0]["refresh_token"] == CONNECT_REFRESH_TOKEN
    token = record(app, client)["token"]
    assert token["access_token"] == REFRESHED and token["refresh_token"] == CONNECT_REFRESH_TOKEN
    assert CALENDAR_SCOPE in token["scope"].split()
    html(client)
    assert calendar.refreshes() == 1 and len(calendar.calls) == 3  # the saved token serves the next view


def test_a_second_401_is_a_message_not_a_loop(client, auth, google, calendar):
    auth.sign_in()
    connect(auth)
    calendar.accepted.clear()
    page = html(client)
    assert "even after renewing it" in page
    assert calendar.refreshes() == 1 and len(calendar.calls) == 2


def test_a_refused_refresh_drops_the_tokens_keeps_the_user_and_offers_to_reconnect(app, client, auth, google,
                                                                                   calendar):
    auth.sign_in()
    connect(auth)
    calendar.accepted.discard(CONNECT_TOKEN)
    google.refresh_error = "invalid_grant"
    page = html(client)
    assert "Reconnect Google Calendar" in page and 'href="/connect/calendar"' in page
    assert "You are still signed in here" in page
    stored = record(app, client)
    assert stored["user"]["sub"] == google.sub and "token" not in stored
    assert stored["google_access_ended"] == "invalid_grant"
    assert calendar.refreshes() == 1 and len(calendar.calls) == 1
    assert "Google access has ended" in html(client, "/profile")


@pytest.mark.parametrize(("status", "says"), [
    (403, "the API is not enabled in this app&#39;s Google Cloud project"),
    (500, "Google could not answer just now"),
    (503, "Google could not answer just now"),
])
def test_api_errors_are_a_message_in_the_page(app, client, auth, google, calendar, status, says):
    auth.sign_in()
    connect(auth)
    calendar.status = status
    page = html(client)
    assert says in page and "Error " not in page  # our page, not an error page
    assert 'action="/disconnect/calendar"' in page
    assert record(app, client)["token"]["access_token"] == CONNECT_TOKEN  # nothing dropped


def test_a_timeout_is_a_message_in_the_page(client, auth, google, calendar):
    auth.sign_in()
    connect(auth)
    google.mocker.get("https://www.googleapis.com/calendar/v3/calendars/primary/events",
                      exc=requests.exceptions.ReadTimeout)
    assert "Google did not answer in time" in html(client)


@pytest.mark.slow
def test_a_hanging_calendar_api_is_cut_at_the_provider_deadline(make_app, google):
    """A real socket that accepts and never answers: the page comes back at PROVIDER_TIMEOUT."""
    with socket.socket() as hanging:
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(8)  # connections complete in the backlog; nothing ever reads or answers
        base = f"http://127.0.0.1:{hanging.getsockname()[1]}/calendar/v3"
        google.mocker.get(f"{base}/calendars/primary/events", real_http=True)
        app = make_app(GOOGLE_CALENDAR_API_URL=base, PROVIDER_TIMEOUT=1)
        auth = AuthActions(app.test_client(), google)
        FakeCalendar(google, base="https://unused.test")  # keeps refreshes' scopes
        auth.sign_in()
        connect(auth)
        started = time.monotonic()
        page = html(auth.client)
        elapsed = time.monotonic() - started
    assert "Google did not answer in time" in page
    assert 0.8 < elapsed < 3, elapsed


# --------------------------------------------------------------------------- disconnect


def test_disconnect_revokes_at_google_and_keeps_the_user_signed_in(app, client, auth, google, calendar):
    auth.sign_in()
    connect(auth)
    assert client.post("/disconnect/calendar").status_code == 400  # no CSRF token
    assert google.revoked == [] and "token" in record(app, client)
    response = client.post("/disconnect/calendar", data={"csrf_token": auth.app_csrf_token()})
    assert response.status_code == 303 and response.location == "/calendar"
    assert google.revoked == [CONNECT_REFRESH_TOKEN]
    stored = record(app, client)
    assert stored["user"]["sub"] == google.sub and "token" not in stored
    page = html(client)
    assert "Google Calendar is disconnected" in page and "sign-in access included" in page
    assert "Connect Google Calendar" in page and "Reconnect" not in page
    assert "Ada Lovelace" in html(client, "/profile")


def test_the_page_warns_that_disconnecting_ends_the_whole_grant(client, auth, google, calendar):
    auth.sign_in()
    connect(auth)
    page = html(client)
    assert "Google ends the whole grant with it" in page and "You stay signed in here" in page


# --------------------------------------------------------------------------- the API URL, and no token anywhere


def test_another_calendar_api_url_is_used_and_its_events_are_labelled_samples(make_app, google):
    app = make_app(GOOGLE_CALENDAR_API_URL="https://calendar.test/v3/")
    assert app.config["GOOGLE_CALENDAR_API_URL"] == "https://calendar.test/v3"
    calendar = FakeCalendar(google, base="https://calendar.test/v3")
    auth = AuthActions(app.test_client(), google)
    auth.sign_in()
    connect(auth)
    page = html(auth.client)
    assert "Sample events — not your calendar" in page and len(calendar.calls) == 1


@pytest.mark.parametrize("value", ["ftp://calendar.test/v3", "calendar.test/v3", "https://x.test/v3?key=1"])
def test_a_malformed_calendar_api_url_stops_the_app(make_app, value):
    with pytest.raises(ConfigError, match="GOOGLE_CALENDAR_API_URL"):
        make_app(GOOGLE_CALENDAR_API_URL=value)


def test_no_token_reaches_a_page_or_a_log(app, client, auth, google, calendar, caplog):
    caplog.set_level(logging.DEBUG)
    auth.sign_in()
    connect(auth)
    calendar.accepted.discard(CONNECT_TOKEN)
    pages = [html(client), html(client, "/profile"), html(client, "/sessions")]
    client.post("/disconnect/calendar", data={"csrf_token": auth.app_csrf_token()})
    pages.append(html(client))
    assert calendar.refreshes() == 1
    for secret in (google.access_token, google.refresh_token, CONNECT_TOKEN, CONNECT_REFRESH_TOKEN, REFRESHED):
        assert secret not in caplog.text
        assert all(secret not in page for page in pages)
