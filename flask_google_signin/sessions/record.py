"""What a session record and a pending sign-in hold, as types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict


class User(TypedDict):
    """Who is signed in (GoogleIdentity): userinfo's value of each claim, else the ID token's.

    `sub` is checked (a non-empty string, the same in both); the others are the provider's values
    as sent, so any JSON type, or None when neither had the claim. `hd` is the ID token's only.
    """

    sub: str
    name: object
    email: object
    email_verified: object
    picture: object
    hd: object


class Token(TypedDict):
    """The parts of a token response kept server-side (oidc/client.py keep_token); never the ID token."""

    access_token: str
    refresh_token: str | None
    expires_at: int | None  # Unix time
    scope: str  # space-separated, as granted
    token_type: str


class GroupsSeen(TypedDict):
    """The GOOGLE_SIGNIN_ALLOWED_GROUPS that admitted the session (accounts/groups.py)."""

    member_of: list[str]  # the allowed groups the user is a member of
    checked_at: float  # Unix time of the oldest of those answers: checked again once it passes GROUPS_TTL
    allowed: list[str]  # ALLOWED_GROUPS then, sorted: other groups now are checked at once


class SessionRecord(TypedDict, total=False):
    """Every key a session holds; `session_record()` is this request's session with these types.

    Signed in, it holds user, userinfo, token (until Google access ends), signed_in_at and
    last_seen; anonymous, at most the flashed messages and the CSRF token.
    """

    user: User
    userinfo: dict[str, Any]  # the provider's userinfo response, as sent
    token: Token
    signed_in_at: int  # Unix time; the absolute lifetime counts from here
    policy: str  # the allow-lists the session was admitted under (accounts/policy.py fingerprint)
    last_seen: int  # Unix time, written at most once a minute; the idle lifetime counts from here
    google_access_ended: str  # why the tokens were dropped (the refused refresh's error code, "disconnected")
    declined_scopes: list[str]  # asked for by the last connect_scopes and not granted (granular consent)
    browser: str  # "Firefox 133 on Ubuntu", from the User-Agent at sign-in (the sessions page)
    groups: GroupsSeen  # with ALLOWED_GROUPS set: which admitted the user, and when that was known
    method: str  # how the user signed in: "one_tap" (an ID token only, no Google access); absent: the redirect
    # Flask's and Flask-WTF's own keys
    _flashes: list[Sequence[str]]  # (category, message): tuples when flashed, lists once read from the store
    csrf_token: str  # Flask-WTF's raw token for the sign-out form
    _permanent: bool  # Flask-Session marks every session permanent (the cookie has an expiry)


class Connect(TypedDict):
    """An incremental authorization (connect_scopes): what for, the scopes added, who asked."""

    purpose: str  # the host's name for it, e.g. "drive"
    scopes: list[str]  # asked for on top of the sign-in scopes
    sub: str  # the signed-in user who started it: the ID token coming back must be theirs
    retry: NotRequired[str]  # the local URL that started it (a GET): where an error page's "Try again" goes


class PendingData(TypedDict):
    """What /callback needs from /login (Authlib's `save_authorize_data` keywords besides the state)."""

    redirect_uri: str
    next: str  # where to land after signing in, a local path (web/pages.py safe_next)
    nonce: str
    code_verifier: str  # PKCE (RFC 7636)
    connect: NotRequired[Connect]  # absent for a sign-in


class PendingSignIn(TypedDict):
    """A pending sign-in's sealed record: its state, and the data kept for /callback."""

    state: str
    data: PendingData
