"""Who is signed in with Google, as `current_user` shows them when the host has no user_loader."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, cast

from flask import request

USER_KEYS = ("sub", "email", "email_verified", "name", "picture", "hd")


class GoogleIdentity:
    """A signed-in Google account: `sub`, `email`, `email_verified`, `name`, `picture`, `hd`, and
    `claims` (everything the provider said: its userinfo answer, and `hd` from the ID token).

    The values are the provider's, as sent: any JSON type, or None when it sent no such claim;
    `sub` is checked (a non-empty string). Truthy, and `is_authenticated`, as Flask-Login's users
    are; `current_user["name"]` still works, deprecated (CHANGELOG.md).

    `via` says how this request proved who it is: "session" (the session cookie), or "bearer" (a
    Google ID token in `Authorization: Bearer`, on a view that accepts one; `claims` are then that
    token's). A bearer request has no session: no Google access, no CSRF token, nothing to sign out.
    """

    is_authenticated = True
    is_active = True
    is_anonymous = False
    #: True only while the user_loader is asked at the sign-in itself (then None refuses the sign-in).
    signing_in = False

    def __init__(self, user: Mapping[str, Any], claims: Mapping[str, Any] | None = None, *,
                 via: str = "session") -> None:
        self.via: str = via
        self.sub: str = user["sub"]
        self.email: Any = user.get("email")
        self.email_verified: Any = user.get("email_verified")
        self.name: Any = user.get("name")
        self.picture: Any = user.get("picture")
        self.hd: Any = user.get("hd")
        self.claims: dict[str, Any] = {**(claims or {}), **({"hd": self.hd} if self.hd is not None else {})}

    def get_id(self) -> str:
        """Flask-Login's name for the user's id."""
        return self.sub

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoogleIdentity) and other.sub == self.sub

    def __hash__(self) -> int:
        return hash(self.sub)

    def __repr__(self) -> str:
        return f"<GoogleIdentity sub={self.sub!r}>"

    def __getitem__(self, key: str) -> Any:
        warnings.warn("current_user[...] is deprecated: use current_user.<name>", DeprecationWarning, stacklevel=2)
        if key not in USER_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        warnings.warn("current_user.get(...) is deprecated: use current_user.<name>", DeprecationWarning,
                      stacklevel=2)
        return getattr(self, key) if key in USER_KEYS else default


class AnonymousIdentity:
    """A visitor: not signed in. Falsy, so `{% if current_user %}` reads as it did."""

    is_authenticated = False
    is_active = False
    is_anonymous = True
    sub = email = email_verified = name = picture = hd = via = None

    @property
    def claims(self) -> dict[str, Any]:
        return {}

    def get_id(self) -> None:
        return None

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<AnonymousIdentity>"


ANONYMOUS = AnonymousIdentity()


class Loaded:
    """Who this request is for, once looked up; kept on the request itself (an app context, and `g`
    with it, may outlive one request)."""

    def __init__(self, who: GoogleIdentity | None, user: Any) -> None:
        self.who = who
        self.user = user


KEY = "flask_google_signin.identity"  # in the request's WSGI environ


def identity() -> GoogleIdentity | None:
    """The signed-in Google identity of this request; None for a visitor. The first asker of a
    request loads it (the web layer's load_identity, registered here as LOADER), so a host's own
    before_request that runs before the extension's already sees the user."""
    return _loaded().who


def host_user() -> Any:
    """What `current_user` is: the host's object (user_loader), the identity itself, or None."""
    return _loaded().user


def _loaded() -> Loaded:
    loaded = request.environ.get(KEY)
    if loaded is None and LOADER:
        LOADER[0]()
        loaded = request.environ.get(KEY)
    return cast(Loaded, loaded) if loaded is not None else Loaded(None, None)


def is_loaded() -> bool:
    return KEY in request.environ


def set_identity(who: GoogleIdentity | None, user: Any = None) -> None:
    """This request's identity and, for `current_user`, the host's user object (itself, without a loader)."""
    request.environ[KEY] = Loaded(who, user if user is not None else who)


# The function that loads the identity of a request, registered by the layer that knows how (web/guard.py).
LOADER: list[Callable[[], None]] = []
