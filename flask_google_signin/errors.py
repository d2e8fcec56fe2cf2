"""What can go wrong, and every sentence a user reads about it, in one place.

The protocol code (oidc.py, sessions.py, views.py) raises `SignInError` with a code; the page
wording and the status for each code live in MESSAGES below. A host app that wants other words
or its own page registers its own handler for `SignInError` after `GoogleSignIn.init_app`, or
overrides the template `google_signin/error.html`.
"""

from __future__ import annotations

from flask import Flask, g, render_template, request

# code -> (HTTP status, what the user reads). `{code}` is the provider's error code.
MESSAGES: dict[str, tuple[int, str]] = {
    "state_invalid": (400, "This sign-in attempt expired or was already used. Please start again."),
    "no_code": (400, "The sign-in provider sent no authorization code."),
    "code_refused": (400, "The sign-in code was not accepted (it may have been used already)."),
    "access_denied": (403, "You cancelled the sign-in, or the provider refused it."),
    "provider_error": (400, "The sign-in provider answered with an error ({code})."),
    "provider_busy": (503, "The sign-in provider answered with an error ({code})."),
    "provider_failed": (502, "The sign-in provider answered with an error ({code})."),
    "provider_refused": (502, "The sign-in provider refused the request."),
    "provider_bad_response": (502, "The sign-in provider sent a response we could not use."),
    "provider_unreachable": (503, "The sign-in provider could not be reached. Please try again shortly."),
    "discovery_mismatch": (502, "The sign-in provider's configuration does not match."),
    "discovery_incomplete": (502, "The sign-in provider's configuration is incomplete."),
    "identity_rejected": (401, "The identity sent by the sign-in provider failed verification."),
    "not_allowed": (403, "This account is not allowed to sign in here."),
    "too_many_pending": (503, "Too many sign-ins are in progress right now. Please try again in a few minutes."),
}
STORE_UNAVAILABLE = "Our session store is not answering. Please try again in a moment."
SIGNED_OUT = "You have been signed out."
SIGNED_OUT_EVERYWHERE = ("You have been signed out on every device, and this site's access to your Google account "
                         "was revoked.")
SESSION_EXPIRED = "Your session expired. Please sign in again."
SIGN_OUT_CROSS_SITE = "Sign-out must come from this site."
SIGN_OUT_FORM_EXPIRED = "The sign-out form expired. Please sign out again."
RATE_LIMITED = "Too many sign-in attempts came from your network address. Please wait {wait} seconds, then try again."
UNEXPECTED = "An unexpected error happened. It has been logged."

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
    """A sign-in that cannot go on: the user sees a page with a fitting status and "Try again".

    `reason` is for the log line and never holds a token or a code; `said` is the provider's own
    text, shown escaped (views.py only passes it with a valid state).
    """

    def __init__(self, code: str, reason: str | None = None, provider_code: str = "", said: str = "") -> None:
        status, text = MESSAGES[code]
        message = text.format(code=provider_code)
        if said:
            message = f"{message} It said: {said[:300]}"
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.reason = reason or code


class StoreUnavailable(Exception):
    """The session store (Redis, the session folder) did not answer."""


def retry_next() -> str:
    """Where "Try again" should land after signing in: the pending sign-in's `next` (set by the
    sign-in code), else this request's `next`, checked like /login checks it (a local path only)."""
    from .views import safe_next  # here, not at the top: views imports this module

    return safe_next(g.get("signin_next") or request.args.get("next"))


def render_error(status: int, message: str, retry: bool = False, title: str | None = None) -> tuple[str, int]:
    """The error page (`google_signin/error.html`), with the request id in small print."""
    html = render_template("google_signin/error.html", status=status, title=title or TITLES.get(status, "Error"),
                           message=message, retry=retry, retry_next=retry_next() if retry else "/",
                           request_id=g.get("request_id"))
    return html, status


def register_error_handlers(app: Flask) -> None:
    """The extension's own failures as pages; a host may register its own handlers afterwards."""

    @app.errorhandler(SignInError)
    def sign_in_error(exc: SignInError) -> tuple[str, int]:
        return render_error(exc.status, exc.message, retry=True)

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable) -> tuple[str, int]:
        return render_error(503, STORE_UNAVAILABLE, retry=True)
