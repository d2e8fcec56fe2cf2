"""The calendar page in `make run`'s local mode: a provider client that may be granted the calendar
scope, and a stand-in for the Calendar API that serves sample events.

oidc-provider-mock grants only the scopes its client was registered with, and a client it was never
told about gets the OpenID ones only: the calendar scope would be dropped from every grant, and the
page would rightly say that access was not granted. So `make run` registers its client through the
provider's client API (`POST /oauth2/clients`) with the calendar scope, and aims the app's
GOOGLE_CALENDAR_API_URL at `SampleCalendar`: made-up events, relative to today, for any bearer token
the provider's userinfo endpoint accepts (401 otherwise, so refresh and revocation behave as with
Google). The page labels them "Sample events — not your calendar", because the URL is not Google's.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
EVENTS_PATH = "/calendar/v3/calendars/primary/events"

# (days from today, local start, minutes, the event's time zone, title, place); None minutes: all day
SAMPLES = [
    (1, "09:30", 15, "Europe/London", "Team stand-up (sample)", "Video call"),
    (1, "14:00", 60, "America/New_York", "Design review (sample)", "Room 4B"),
    (2, "00:00", None, "Europe/London", "Company offsite (sample)", "Lisbon"),
    (3, "10:00", 30, "Asia/Tokyo", "Call with the Tokyo office (sample)", ""),
    (4, "12:30", 60, "Europe/Paris", "Lunch with Bob (sample)", "Café de la Gare"),
    (6, "16:00", 45, "Europe/London", "Dentist (sample)", "12 High Street"),
]


def register_client(provider_url: str, redirect_uris: list[str]) -> tuple[str, str]:
    """A client of the local provider that may be granted the sign-in scopes and the calendar's: (id, secret)."""
    body = json.dumps({"redirect_uris": redirect_uris, "scope": f"openid email profile {CALENDAR_SCOPE}"})
    url = f"{provider_url}/oauth2/clients"  # the local provider, on loopback
    request = urllib.request.Request(url, data=body.encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        client = json.load(response)
    return client["client_id"], client["client_secret"]


def sample_events(now: datetime, count: int) -> list[dict[str, Any]]:
    """Calendar API `events` items, as Google shapes them: dateTime with its offset plus timeZone, or a date."""
    items = []
    for days, start, minutes, zone_name, summary, location in SAMPLES[:count]:
        zone = ZoneInfo(zone_name)
        day = (now.astimezone(zone) + timedelta(days=days)).date()
        item: dict[str, Any] = {"kind": "calendar#event", "summary": summary, "status": "confirmed"}
        if location:
            item["location"] = location
        if minutes is None:
            item["start"], item["end"] = {"date": day.isoformat()}, {"date": (day + timedelta(days=2)).isoformat()}
        else:
            begin = datetime.combine(day, datetime.strptime(start, "%H:%M").time(), zone)
            end = begin + timedelta(minutes=minutes)
            item["start"] = {"dateTime": begin.isoformat(), "timeZone": zone_name}
            item["end"] = {"dateTime": end.isoformat(), "timeZone": zone_name}
        items.append(item)
    return items


class SampleCalendar(ThreadingHTTPServer):
    """`GET /calendar/v3/calendars/primary/events` on 127.0.0.1, in a thread of the process that starts it."""

    daemon_threads = True

    def __init__(self, port: int, userinfo_url: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.userinfo_url = userinfo_url
        self.url = f"http://127.0.0.1:{self.server_address[1]}/calendar/v3"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def accepts(self, authorization: str) -> bool:
        """The provider's userinfo endpoint decides whether a bearer token is live."""
        request = urllib.request.Request(self.userinfo_url, headers={"Authorization": authorization})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - the local provider, on loopback
                return True
        except (urllib.error.URLError, OSError):
            return False


class JSONHandler(BaseHTTPRequestHandler):
    """A stand-in's answers: JSON, as Google's APIs give it, and no log of its own."""

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: gunicorn's access log already shows the page views."""


class _Handler(JSONHandler):
    server: SampleCalendar

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != EVENTS_PATH:
            return self._answer(404, {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}})
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer ") or not self.server.accepts(authorization):
            return self._answer(401, {"error": {"code": 401, "message": "Request had invalid authentication "
                                                "credentials.", "status": "UNAUTHENTICATED"}})
        try:
            count = int((parse_qs(url.query).get("maxResults") or ["5"])[0])
        except ValueError:
            count = 5
        return self._answer(200, {"kind": "calendar#events", "summary": "Sample calendar", "timeZone": "Europe/London",
                                  "items": sample_events(datetime.now(UTC), count)})
