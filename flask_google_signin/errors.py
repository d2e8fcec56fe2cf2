"""What can go wrong, and every sentence a user reads about it, in one place.

The bottom layer: exceptions and words, no Flask. The protocol code raises `SignInError` with a
code; the page wording and the status for each code live in MESSAGES below; the web layer
(web/pages.py) turns them into pages. A host app that wants other words or its own page registers
its own handler for `SignInError` after `GoogleSignIn.init_app`, or overrides the template
`google_signin/error.html`.
"""

from __future__ import annotations

# code -> (HTTP status, what the user reads). `{code}` is the provider's error code.
MESSAGES: dict[str, tuple[int, str]] = {
    "state_invalid": (400, "This sign-in attempt expired or was already used. Please start again."),
    "no_code": (400, "The sign-in provider sent no authorization code."),
    "code_refused": (400, "The sign-in code was not accepted (it may have been used already)."),
    "access_denied": (403, "You cancelled the sign-in, or the provider refused it."),
    # access_denied without a valid state: a sign-in's or a connect's, nobody can tell (words for both)
    "access_denied_unknown": (403, "You cancelled at the sign-in provider, or it refused the request: no new "
                                   "sign-in, and no new access to your account."),
    "provider_error": (400, "The sign-in provider answered with an error ({code})."),
    "provider_busy": (503, "The sign-in provider answered with an error ({code})."),
    "provider_failed": (502, "The sign-in provider answered with an error ({code})."),
    "provider_refused": (502, "The sign-in provider refused the request."),
    "provider_bad_response": (502, "The sign-in provider sent a response we could not use."),
    "provider_unreachable": (503, "The sign-in provider could not be reached. Please try again shortly."),
    "discovery_mismatch": (502, "The sign-in provider's configuration does not match."),
    "discovery_incomplete": (502, "The sign-in provider's configuration is incomplete."),
    "one_tap_csrf": (400, "The sign-in from Google's prompt could not be checked (its form token is missing). "
                          "Please try again."),
    "one_tap_nonce": (400, "The sign-in from Google's prompt did not come from this page. Please try again."),
    "one_tap_replayed": (400, "This sign-in from Google's prompt was used already. Please start again."),
    "identity_rejected": (401, "The identity sent by the sign-in provider failed verification."),
    "not_allowed": (403, "This account is not allowed to sign in here."),
    "user_refused": (403, "This account has no access to this site."),
    "not_in_group": (403, "This account is not a member of a group that may sign in here. Ask the site's owner to "
                          "add you, or sign in with another account."),
    "groups_unavailable": (503, "Group membership cannot be checked right now, so the sign-in cannot go on. Please "
                                "try again in a few minutes."),
    "too_many_pending": (503, "Too many sign-ins are in progress right now. Please try again in a few minutes."),
    # connecting more Google access to a signed-in session (connect_scopes)
    "wrong_account": (403, "You chose a different Google account from the one you are signed in with here, so "
                           "nothing was connected. Try again, and choose the account you signed in with."),
    "connect_signed_out": (401, "You are no longer signed in with the account that started connecting, so nothing "
                                "was connected. Sign in, then connect again."),
}
# Page titles for codes whose status alone would say too little.
CODE_TITLES = {"wrong_account": "That is a different Google account",
               "connect_signed_out": "Nothing was connected",
               "access_denied": "Sign-in cancelled",
               "access_denied_unknown": "Nothing changed"}
CONNECT_FAILED = "Nothing was connected"  # the title of any other error of a connect

# kind -> what the user reads when a Google API call on their behalf gives no answer (accounts/google_api.py).
# Shown inside the host's page, never as an error page: the user is still signed in.
API_MESSAGES: dict[str, str] = {
    "no_access": "This site has no access to that part of your Google account yet.",
    "access_ended": "Google no longer accepts this site's access: it was revoked, or it expired. You are still "
                    "signed in here; connect again to continue.",
    "unauthorized": "Google did not accept this site's access, even after renewing it. Connect again to continue.",
    "forbidden": "Google refused the request (403): the API is not enabled in this app's Google Cloud project, "
                 "or the access you granted does not cover it.",
    "unavailable": "Google could not answer just now. Please try again in a moment.",
    "timeout": "Google did not answer in time. Please try again in a moment.",
    "bad_response": "Google sent an answer this site could not read.",
}
STORE_UNAVAILABLE = "Our session store is not answering. Please try again in a moment."
SIGNED_OUT = "You have been signed out."
SIGNED_OUT_EVERYWHERE = ("You have been signed out on every device, and this site's access to your Google account "
                         "was revoked.")
SESSION_EXPIRED = "Your session expired. Please sign in again."
POLICY_CHANGED = ("This site no longer lets your account in, so you have been signed out. Ask its owner if you "
                  "think this is a mistake.")
GROUP_LEFT = ("Your account is no longer a member of a group that may use this site, so you have been signed out. "
              "Ask its owner if you think this is a mistake.")
GROUP_UNVERIFIED = ("Your group membership could not be checked for a while, so you have been signed out. Please "
                    "sign in again in a few minutes.")
NOT_IN_REQUIRED_GROUP = "This page is only for members of a particular group, and your account is not one of them."
GROUPS_UNAVAILABLE = "Group membership cannot be checked right now. Please try again in a few minutes."
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
    text, shown escaped (the callback only passes it with a valid state).
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


class GoogleAPIError(Exception):
    """A call to a Google API on the user's behalf that gave no usable answer; `message` is for the page.

    `kind` is one of API_MESSAGES; `status` is Google's HTTP status when there was one.
    """

    def __init__(self, kind: str, status: int | None = None) -> None:
        super().__init__(API_MESSAGES[kind])
        self.kind = kind
        self.status = status
        self.message = API_MESSAGES[kind]


class GroupsUnavailable(Exception):
    """Group membership could not be told: the Cloud Identity API or the token source did not answer
    (`kind` "timeout", "unavailable", "refused"), or a group is not found or not visible to the
    service account ("misconfigured", `group` names it)."""

    def __init__(self, kind: str, group: str = "") -> None:
        super().__init__(f"{kind}: {group}" if group else kind)
        self.kind = kind
        self.group = group


class StoreUnavailable(Exception):
    """The session store (Redis, the session folder) did not answer."""


class RateLimited(Exception):
    """A rate limit (sessions/limits.py) refused this request; `wait` is the seconds until its window ends."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"rate limited for {wait} s")
        self.wait = wait
