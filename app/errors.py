"""Every other failure gets the same page as the sign-in's, so no request ends in a traceback."""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from flask_google_signin import StoreUnavailable, error_page

STORE_UNAVAILABLE = "Our session store is not answering. Please try again in a moment."
UNEXPECTED = "An unexpected error happened. It has been logged."


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(SecurityError)
    def untrusted_host(exc: SecurityError) -> tuple[str, int, dict[str, str]]:
        """A Host that TRUSTED_HOSTS refuses: no URL can be built for it, so a plain answer, not the page."""
        return "Bad Request: this host is not served here.\n", 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        status = exc.code or 500
        message = (exc.description or "") if status != 500 else UNEXPECTED
        return error_page(status, message, title=getattr(exc, "title", None))

    @app.errorhandler(InternalServerError)
    def internal_error(exc: InternalServerError) -> tuple[str, int]:
        if isinstance(exc.original_exception, StoreUnavailable):  # raised while saving the session
            return error_page(503, STORE_UNAVAILABLE, retry=True)
        return error_page(500, UNEXPECTED)
