"""Helpers for tests of an app that uses the extension: a test client signed in without Google
(`sign_in`), and what the session store holds, read the way a test needs, without reaching into
the extension's private attributes.

Every helper refuses (RuntimeError) unless `app.testing` is true: none of this belongs in a
running site.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any, cast

from flask import Flask, session
from flask.testing import FlaskClient

from .sessions.identity import GoogleIdentity
from .sessions.interface import SealedSessions
from .sessions.pending import pending_cookie
from .store import Records, digest
from .web import signin

__all__ = ["DEFAULT_CLAIMS", "pending_record", "session_key", "session_record", "settings", "sign_in", "store"]

#: What a signed-in test user says about themselves unless a test says otherwise.
DEFAULT_CLAIMS: dict[str, Any] = {"sub": "100000000000000000001", "email": "ada@example.com",
                                  "email_verified": True, "name": "Ada Lovelace", "given_name": "Ada",
                                  "family_name": "Lovelace", "picture": None}


def _interface(app: Flask) -> SealedSessions:
    if not app.testing:
        raise RuntimeError("flask_google_signin.testing is for tests only: set app.testing = True")
    if not isinstance(app.session_interface, SealedSessions):
        raise RuntimeError("this app has no GoogleSignIn: init_app has not run")
    return app.session_interface


def settings(app: Flask) -> dict[str, Any]:
    """The settings the extension runs with, by name without the GOOGLE_SIGNIN_ prefix, defaults
    applied (the host's config holds only what the host set)."""
    _interface(app)
    found: dict[str, Any] = app.extensions["google_signin_settings"]
    return dict(found)


def store(app: Flask) -> Records:
    """The store's backend (files or Redis): records by key, as bytes; sealed records stay sealed.
    A Redis backend's client is its `client` attribute."""
    records: Any = _interface(app).vault.records
    return cast(Records, getattr(records, "records", records))  # unwrapped from the metrics' timing


def session_key(app: Flask, cookie_value: str) -> str:
    """The store key of the session a session cookie's value (`id.secret`) names."""
    return f"{_interface(app).key_prefix}{cookie_value.partition('.')[0]}"


def session_record(app: Flask, cookie_value: str) -> dict[str, Any] | None:
    """The session record a session cookie names, opened with its secret; None once it ended."""
    interface = _interface(app)
    data: dict[str, Any] | None = interface._retrieve_session_data(interface.key_prefix + cookie_value)
    return data


def pending_record(app: Flask, client: FlaskClient, state: str) -> dict[str, Any] | None:
    """The pending sign-in `client` started with `state`, as stored, opened, and left in place."""
    vault = _interface(app).vault
    with app.test_request_context():
        cookie = client.get_cookie(pending_cookie(state))
    if cookie is None:
        return None
    secret = cookie.value.partition(".")[2]
    key = vault.records.pending_key(digest(secret))
    opened = vault.load(key, secret)
    return None if opened is None else opened.data


def sign_in(client: FlaskClient, **claims: Any) -> GoogleIdentity:
    """Sign `client` in as a Google user with `claims` (DEFAULT_CLAIMS for the rest), through the
    real session layer: the session is stored and sealed as a sign-in stores it, the host's
    user_loader is asked (None raises SignInError, as the sign-in refuses), `signed_in` is not sent,
    and the user has no Google access (no token). What the client's visitor session held is kept.
    Returns the identity `current_user` is (without a user_loader)."""
    app = client.application
    interface = _interface(app)
    everything = {**DEFAULT_CLAIMS, **claims}
    cookie = client.get_cookie(app.extensions["google_signin_settings"]["cookie_name"])
    headers = {"Cookie": f"{cookie.key}={cookie.value}"} if cookie else {}
    with app.test_request_context(headers={**headers, "User-Agent": "flask_google_signin.testing"}):
        who = signin.sign_in(everything, dict(everything), None)
        response = app.response_class()
        interface.save_session(app, session, response)  # type: ignore[arg-type]
    for header in response.headers.getlist("Set-Cookie"):
        for name, morsel in SimpleCookie(header).items():
            client.set_cookie(name, morsel.value, path=morsel["path"] or "/", secure=bool(morsel["secure"]),
                              httponly=True)
    return who
