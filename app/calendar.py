"""Google Calendar on the profile: connect (incremental authorization), your next events, disconnect.

The OAuth work is the extension's (`connect_scopes`, `granted_scopes`, `authorized_get`,
`disconnect_google`): this blueprint asks for the calendar scope only when the user clicks, reads
the events and shows them. Sign-in itself still asks for `openid email profile` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse

from flask_google_signin import (
    GoogleAPIError,
    authorized_get,
    connect_scopes,
    disconnect_google,
    google_access,
    granted_scopes,
    login_required,
    refresh_google_access,
)

from .config import GOOGLE_CALENDAR_API_URL

bp = Blueprint("calendar", __name__)

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
EVENT_COUNT = 5
TEXT_LENGTH = 200  # characters of an event's title or place
DISCONNECTED = ("Google Calendar is disconnected. Google ended this site's whole access to your account with it, "
                "sign-in access included, on every device; you are still signed in here.")


@dataclass(frozen=True)
class Event:
    """One event as the page shows it: plain text (the template escapes it), times in the event's zone."""

    summary: str
    when: str  # "Tue 2 Dec, 09:30 - 10:00" (an en dash)
    zone: str  # "Europe/London", or "" for an all-day event
    start: str  # ISO 8601, for <time datetime="...">
    location: str


def calendar_connected() -> bool:
    """Whether Google granted the calendar scope: read from the token response, never assumed."""
    return CALENDAR_SCOPE in granted_scopes()


@bp.get("/connect/calendar")
@login_required
def connect() -> BaseResponse:
    return connect_scopes("calendar", [CALENDAR_SCOPE], url_for("calendar.calendar_page"))


@bp.post("/disconnect/calendar")
@login_required
def disconnect() -> BaseResponse:
    """Google revokes the whole grant, not one scope: the page says so before the button."""
    disconnect_google()
    flash(DISCONNECTED)
    return redirect(url_for("calendar.calendar_page"), code=303)


@bp.get("/calendar")
@login_required
def calendar_page() -> str:
    refresh_google_access()
    events: list[Event] = []
    problem = ""
    if calendar_connected():
        state = "events"
        try:
            events = upcoming(authorized_get(f"{current_app.config['GOOGLE_CALENDAR_API_URL']}"
                                             "/calendars/primary/events", events_query()))
        except GoogleAPIError as exc:
            state, problem = "problem", exc.message
        if not google_access().active:  # the refresh was refused meanwhile
            state = "ended"
    elif not google_access().active and google_access().ended not in (None, "disconnected"):
        state = "ended"
    elif CALENDAR_SCOPE in google_access().declined_scopes:
        state = "declined"
    else:
        state = "connect"
    sample = current_app.config["GOOGLE_CALENDAR_API_URL"] != GOOGLE_CALENDAR_API_URL
    return render_template("calendar.html", state=state, events=events, problem=problem, sample=sample)


def events_query() -> dict[str, str]:
    """The next events from now, recurring ones expanded, soonest first (Calendar API `events.list`)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"timeMin": now, "singleEvents": "true", "orderBy": "startTime", "maxResults": str(EVENT_COUNT)}


def upcoming(data: Mapping[str, object]) -> list[Event]:
    """The events of an `events.list` answer; items that are not events are left out."""
    items = data.get("items", [])
    if not isinstance(items, list):
        raise GoogleAPIError("bad_response")
    calendar_zone = _text(data.get("timeZone"))
    events = (to_event(item, calendar_zone) for item in items if isinstance(item, Mapping))
    return [event for event in events if event is not None][:EVENT_COUNT]


def to_event(item: Mapping[str, object], calendar_zone: str) -> Event | None:
    """Timed events in their own time zone (else the calendar's); all-day events by date."""
    start, end = item.get("start"), item.get("end")
    if not isinstance(start, Mapping):
        return None
    end = end if isinstance(end, Mapping) else {}
    summary = _short(_text(item.get("summary")) or "(No title)")
    location = _short(_text(item.get("location")))
    if "date" in start:
        first, after = _date(start.get("date")), _date(end.get("date"))
        if first is None:
            return None
        last = after - timedelta(days=1) if after and after > first else first  # Google's end date is exclusive
        when = _day(first) + (f" – {_day(last)}" if last != first else "") + ", all day"
        return Event(summary, when, "", first.isoformat(), location)
    begin, finish = _datetime(start.get("dateTime")), _datetime(end.get("dateTime"))
    if begin is None:
        return None
    zone_name = _text(start.get("timeZone")) or calendar_zone
    zone = _zone(zone_name)
    try:
        if zone is not None:
            begin, finish = begin.astimezone(zone), finish.astimezone(zone) if finish else None
    except OverflowError:  # year 1 or 9999 moved across midnight
        return None
    if zone is None:
        zone_name = "UTC" + begin.strftime("%z")  # the offset Google gave, when the zone is unknown here
    when = f"{_day(begin)}, {begin:%H:%M}"
    if finish is not None:
        when += f" – {finish:%H:%M}" if finish.date() == begin.date() else f" – {_day(finish)}, {finish:%H:%M}"
    return Event(summary, when, zone_name, begin.isoformat(), location)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _short(text: str) -> str:
    return text if len(text) <= TEXT_LENGTH else text[: TEXT_LENGTH - 1] + "…"


def _day(moment: date) -> str:
    return f"{moment:%a} {moment.day} {moment:%b}"


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _datetime(value: object) -> datetime | None:
    """RFC 3339 with its offset (Google always sends one); a time without one is not trusted."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _zone(name: str) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown here, malformed, a folder's name
        return None
