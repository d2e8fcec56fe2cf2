"""The extension's error page, the problem details API callers get instead, and the handlers that
answer its exceptions with them."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, jsonify, render_template, request, url_for

from ..errors import (
    CODE_TITLES,
    CONNECT_FAILED,
    RATE_LIMITED,
    STORE_UNAVAILABLE,
    TITLES,
    RateLimited,
    SignInError,
    StoreUnavailable,
)
from ..sessions.identity import identity
from ..sessions.interface import session_record
from ..settings import settings

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def safe_next(value: str | None) -> str:
    """RFC 9700 4.11: only a local path; no scheme, no host, no backslash, no control character."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if any(not 33 <= ord(c) < 127 or c == "\\" for c in value):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def readable_query() -> bool:
    """Whether Werkzeug can read this request's query. `request.args` and `request.full_path` decode
    it as UTF-8, strictly: bytes beyond ASCII that are not UTF-8 raise UnicodeDecodeError (a 500).
    Browsers percent-encode such bytes; another client may send them raw, and a server may pass them
    on as they came (the standard library's wsgiref does; gunicorn refuses the request)."""
    try:
        request.query_string.decode()
    except UnicodeDecodeError:
        return False
    return True


def refuse_unreadable_query() -> None:
    """Before the sign-in's views, which read the query: one Werkzeug cannot read is a 400."""
    if not readable_query():
        abort(400, "This address is malformed.")


def this_path() -> str:
    """This request's path and query, for a `next`; the path alone when the query is unreadable."""
    return request.full_path.rstrip("?") if readable_query() else request.path


def retry_next() -> str:
    """Where "Try again" should land after signing in: the pending sign-in's `next` (set by the
    callback), else this request's `next`, checked like /login checks it (a local path only). An
    error page may come from any view (a store outage), whose query may be unreadable."""
    asked = request.args.get("next") if readable_query() else None
    return safe_next(g.get("signin_next") or asked)


def refuse_other_hosts() -> None:
    """With PUBLIC_BASE_URL set, the extension's routes answer only for its host: a forged Host
    header gets 400 before any redirect (with its redirect URI) is built. The host's own routes
    are the host's to guard (Flask's TRUSTED_HOSTS)."""
    expected = settings()["public_host"]
    if expected and request.host.lower() != expected:
        abort(400, "This address does not serve sign-in.")


def retry_url() -> str | None:
    """Where "Try again" goes: the connect that failed (the URL that started it), else /login with
    `retry_next()`; None when that sign-in would change nothing (signed in already, with Google access)."""
    connect = g.get("signin_connect")
    if connect:
        return connect.get("retry") or url_for("google_signin.login", next=retry_next())
    if identity() is not None and session_record().get("token"):
        return None  # /login would send the user straight back
    next_url = retry_next()
    return url_for("google_signin.login", next=next_url) if next_url != "/" else url_for("google_signin.login")


def error_page(status: int, message: str, *, retry: bool = False, title: str | None = None,
               code: str | None = None) -> tuple[str, int]:
    """The error page (`google_signin/error.html`), with the request id in small print. `code`: the
    SignInError's, when it is one; a failed connect (`connect_scopes`) is passed as `connect`."""
    connect = g.get("signin_connect")
    again = retry_url() if retry else None
    html = render_template("google_signin/error.html", status=status, title=title or TITLES.get(status, "Error"),
                           message=message, retry=again is not None, retry_next=retry_next() if retry else "/",
                           retry_url=again, code=code, connect=connect, request_id=g.get("request_id"))
    return html, status


def problem(status: int, title: str, detail: str, **members: str) -> Response:
    """Problem details (RFC 9457) for an API caller: `type` about:blank, `status`, `title`, `detail`,
    and any extension `members`."""
    response = jsonify(type="about:blank", status=status, title=title, detail=detail, **members)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def register_error_handlers(app: Flask, store_errors: tuple[type[Exception], ...]) -> None:
    """The extension's own failures as pages; a host may register its own handlers afterwards."""

    @app.errorhandler(SignInError)
    def sign_in_error(exc: SignInError) -> tuple[str, int]:
        connect_title = CONNECT_FAILED if g.get("signin_connect") else None
        return error_page(exc.status, exc.message, retry=True, title=CODE_TITLES.get(exc.code) or connect_title,
                          code=exc.code)

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable) -> tuple[str, int]:
        return error_page(503, STORE_UNAVAILABLE, retry=True)

    @app.errorhandler(RateLimited)
    def too_many_sign_ins(exc: RateLimited) -> tuple[str, int, dict[str, str]]:
        body, status = error_page(429, RATE_LIMITED.format(wait=exc.wait))
        return body, status, {"Retry-After": str(exc.wait)}

    def store_error(exc: Exception) -> tuple[str, int]:
        """A store failure that no store call turned into StoreUnavailable, such as a write to the
        per-user index right after the session's own: on a Redis Cluster the two keys live on
        different nodes, and one may be down. The same 503, never a 500."""
        log.warning("session store unavailable: %s", type(exc).__name__)
        return error_page(503, STORE_UNAVAILABLE, retry=True)

    for error in store_errors:
        if error is not OSError:  # the file store's: an OSError elsewhere is not the store's
            app.register_error_handler(error, store_error)
