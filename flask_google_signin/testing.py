"""Helpers for tests of an app that uses the extension: what the session store holds, read the way
a test needs, without reaching into the extension's private attributes.

Every helper refuses (RuntimeError) unless `app.testing` is true: none of this belongs in a
running site.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Flask
from flask.testing import FlaskClient

from .sessions.interface import SealedSessions
from .sessions.pending import pending_cookie
from .store import Records, digest

__all__ = ["pending_record", "session_key", "session_record", "store"]


def _interface(app: Flask) -> SealedSessions:
    if not app.testing:
        raise RuntimeError("flask_google_signin.testing is for tests only: set app.testing = True")
    if not isinstance(app.session_interface, SealedSessions):
        raise RuntimeError("this app has no GoogleSignIn: init_app has not run")
    return app.session_interface


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
    return vault.load(key, vault.opener(secret))
