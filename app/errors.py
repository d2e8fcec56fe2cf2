"""Every other failure gets the same page as the sign-in's, so no request ends in a traceback."""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException, InternalServerError

from flask_google_signin.errors import STORE_UNAVAILABLE, UNEXPECTED, StoreUnavailable, render_error


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        status = exc.code or 500
        message = (exc.description or "") if status != 500 else UNEXPECTED
        return render_error(status, message, title=getattr(exc, "title", None))

    @app.errorhandler(InternalServerError)
    def internal_error(exc: InternalServerError) -> tuple[str, int]:
        if isinstance(exc.original_exception, StoreUnavailable):  # raised while saving the session
            return render_error(503, STORE_UNAVAILABLE, retry=True)
        return render_error(500, UNEXPECTED)
