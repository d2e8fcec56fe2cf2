"""One error page for every failure, so no request ever ends in a traceback."""

from __future__ import annotations

from flask import Flask, g, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

TITLES = {
    400: "Sign-in could not be completed",
    401: "We could not verify who you are",
    403: "Access denied",
    404: "Page not found",
    405: "Method not allowed",
    429: "Too many sign-in attempts",
    500: "Something went wrong",
    502: "The sign-in provider misbehaved",
    503: "Service temporarily unavailable",
}


class SignInError(Exception):
    """A failure the user should see as a page with a fitting status and a "Try again" link."""

    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or message  # for the log line; never holds a token or code


class StoreUnavailable(Exception):
    """The session store (Redis, the session folder) did not answer."""


def retry_next() -> str:
    """Where "Try again" should land after signing in: the pending sign-in's `next` (set by the
    sign-in code), else this request's `next`, checked like /login checks it (a local path only)."""
    from .auth import safe_next  # here, not at the top: app.auth imports this module

    return safe_next(g.get("signin_next") or request.args.get("next"))


def render_error(status: int, message: str, retry: bool = False, title: str | None = None) -> tuple[str, int]:
    """The error page, with the request id in small print so a user can quote it to support."""
    title = title or TITLES.get(status, "Error")
    html = render_template("error.html", status=status, title=title, message=message, retry=retry,
                           retry_next=retry_next() if retry else "/", request_id=g.get("request_id"))
    return html, status


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(SignInError)
    def sign_in_error(exc: SignInError) -> tuple[str, int]:
        return render_error(exc.status, exc.message, retry=True)

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable) -> tuple[str, int]:
        return render_error(503, "Our session store is not answering. Please try again in a moment.", retry=True)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        status = exc.code or 500
        message = exc.description if status != 500 else "An unexpected error happened. It has been logged."
        return render_error(status, message, title=getattr(exc, "title", None))

    @app.errorhandler(InternalServerError)
    def internal_error(exc: InternalServerError) -> tuple[str, int]:
        original = exc.original_exception
        if isinstance(original, StoreUnavailable):
            return store_unavailable(original)
        return render_error(500, "An unexpected error happened. It has been logged.")
