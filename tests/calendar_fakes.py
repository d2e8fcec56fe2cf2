"""The Calendar API under requests-mock, beside the fake Google (tests/helpers.py), and a driver for
the connect flow (GET /connect/calendar, Google's consent, GET /callback) through the test client.

Nothing here reaches the network: the fake Google's requests-mock refuses every URL it was not given.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs, urlsplit

from app.config import GOOGLE_CALENDAR_API_URL

from .helpers import GOOGLE, GRANTED_SCOPES

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
WITH_CALENDAR = f"{GRANTED_SCOPES} {CALENDAR_SCOPE}"  # what Google's token response lists when all is granted
CONNECT_TOKEN = "ya29.calendar-access-token"
CONNECT_REFRESH_TOKEN = "1//calendar-refresh-token"

ITEMS = [
    {"summary": "Stand-up <script>alert(1)</script>", "location": "Room <b>1</b>",
     "start": {"dateTime": "2030-03-04T09:30:00+00:00", "timeZone": "Europe/London"},
     "end": {"dateTime": "2030-03-04T09:45:00+00:00", "timeZone": "Europe/London"}},
    {"summary": "Design review",  # given in UTC by the API, shown in the event's own zone
     "start": {"dateTime": "2030-03-05T19:00:00Z", "timeZone": "America/New_York"},
     "end": {"dateTime": "2030-03-05T20:00:00Z", "timeZone": "America/New_York"}},
    {"summary": "Offsite", "start": {"date": "2030-03-06"}, "end": {"date": "2030-03-08"}},
    {"start": {"dateTime": "2030-03-09T10:00:00+09:00"}, "end": {"dateTime": "2030-03-09T10:30:00+09:00"}},
    {"summary": "Lunch", "start": {"dateTime": "2030-03-10T12:30:00+01:00", "timeZone": "Europe/Paris"},
     "end": {"dateTime": "2030-03-10T13:30:00+01:00", "timeZone": "Europe/Paris"}},
]


class FakeCalendar:
    """`GET {GOOGLE_CALENDAR_API_URL}/calendars/primary/events` with Google's answers, and what the fake
    Google needs for it: a refresh that keeps the grant's scopes (as Google's does), an optional slow
    token endpoint (to make refreshes overlap), and counts of every call."""

    def __init__(self, google, base: str = GOOGLE_CALENDAR_API_URL) -> None:
        self.google = google
        self.accepted = {CONNECT_TOKEN, google.access_token + "-refreshed"}  # live access tokens
        self.calls: list[dict] = []  # each: {"authorization": ..., "query": {...}}
        self.status = 200
        self.items = list(ITEMS)
        self.token_delay = 0.0
        self.refresh_scope = WITH_CALENDAR
        self.lock = threading.Lock()
        google.mocker.get(f"{base}/calendars/primary/events", json=self._events)
        google.mocker.post(GOOGLE["token_endpoint"], json=self._token)  # replaces the fake's, then calls it

    def _token(self, request, context) -> dict:
        time.sleep(self.token_delay)
        body = self.google._token(request, context)
        if "grant_type=refresh_token" in request.text and "access_token" in body:
            body["scope"] = self.refresh_scope
        return body

    def _events(self, request, context) -> dict:
        with self.lock:
            self.calls.append({"authorization": request.headers.get("Authorization"),
                               "query": {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}})
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.accepted:
            context.status_code = 401
            return {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                              "status": "UNAUTHENTICATED"}}
        if self.status != 200:
            context.status_code = self.status
            return {"error": {"code": self.status, "message": "Calendar API has not been used in project 123",
                              "errors": [{"reason": "accessNotConfigured"}]}}
        return {"kind": "calendar#events", "timeZone": "Europe/London", "items": self.items}

    def refreshes(self) -> int:
        return sum(1 for form in self.google.token_requests if form.get("grant_type") == "refresh_token")


def start_connect(client, google) -> dict:
    """GET /connect/calendar; the authorization URL's parameters (the fake Google learns nonce and PKCE)."""
    response = client.get("/connect/calendar")
    assert response.status_code == 302, response.data
    params = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
    google.nonce, google.code_challenge = params["nonce"], params["code_challenge"]
    return params


def connect(auth, scope: str = WITH_CALENDAR, expires_in: int = 3599, **claims):
    """The whole connect flow for the signed-in test client: Google grants `scope` (granular consent)."""
    google = auth.google
    params = start_connect(auth.client, google)
    google.token_extra = {"access_token": CONNECT_TOKEN, "refresh_token": CONNECT_REFRESH_TOKEN, "scope": scope,
                          "expires_in": expires_in}
    google.id_claims = dict(claims)
    try:
        return auth.callback(params, code="4/connect-code")
    finally:
        google.token_extra, google.id_claims = {}, {}


def same_browser(app, client):
    """A second test client holding the first one's session cookie: another tab of the same browser."""
    other = app.test_client()
    cookie = client.get_cookie("session")
    other.set_cookie("session", cookie.value)
    return other
