"""The CSRF token of the extension's own forms (sign-out, the sessions page), whatever the host's
Flask-WTF set-up is.

The token is an HMAC of the signed-in session's id under a key derived from SECRET_KEY: it lives as
long as the session, changes with it (sign-in gives a new id), and costs no store write. A form shown
before a SECRET_KEY rotation still posts: a token under a SECRET_KEY_FALLBACKS key is accepted. A form
posted with the host's Flask-WTF token (a host template's `csrf_token()` under CSRFProtect) is
accepted too, when Flask-WTF itself accepts it for this session.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from typing import Any

from flask import Blueprint, current_app, request
from flask_wtf.csrf import ValidationError, validate_csrf

from ..sessions.interface import current_id, sealed_session
from ..settings import settings

FIELD = "csrf_token"


@functools.lru_cache(maxsize=16)
def _key(purpose: str, secret_key: str) -> bytes:
    return hashlib.sha256(f"flask-google-signin {purpose}|{secret_key}".encode()).digest()


def keyed_mac(purpose: str, secret_key: str, value: str) -> str:
    """An HMAC of `value` under a key derived from SECRET_KEY (or a fallback) for one `purpose`: what
    a form token or a page's One Tap nonce is, never the same for two purposes."""
    mac = hmac.digest(_key(purpose, secret_key), value.encode(), "sha256")  # one C call: every page asks
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _token(secret_key: str, session_id: str) -> str:
    return keyed_mac("csrf", secret_key, session_id)


def csrf_token() -> str:
    """The token for this session's forms; "" for a visitor (nothing to protect)."""
    sess = sealed_session()
    if not sess.server_side or not sess.sid:
        return ""
    return _token(settings()["SECRET_KEY"], current_id())


def valid_csrf() -> bool:
    """Whether this POST carries this session's token (form field `csrf_token`)."""
    sent = request.form.get(FIELD, "")
    expected = csrf_token()
    if expected and hmac.compare_digest(sent.encode(), expected.encode()):
        return True
    if expected and any(hmac.compare_digest(sent.encode(), _token(key, current_id()).encode())
                        for key in settings()["SECRET_KEY_FALLBACKS"]):
        return True
    if sent and "csrf" in current_app.extensions:  # the host's Flask-WTF token, under its own rules
        try:
            validate_csrf(sent)
        except ValidationError:
            return False
        return True
    return False


def exempt_from_flask_wtf(blueprint: Blueprint) -> None:
    """The blueprint's POSTs check their own tokens (valid_csrf), or are authenticated otherwise
    (a signed security event token): a host's blanket CSRFProtect must not refuse them, whether it
    was created before or after GoogleSignIn. Flask runs URL value preprocessors before any
    before_request function, CSRFProtect's check included, so the exemption is always in place."""

    def exempt(endpoint: str | None, values: dict[str, Any] | None) -> None:
        protect = current_app.extensions.get("csrf")
        if protect is not None:
            protect.exempt(blueprint)

    blueprint.url_value_preprocessor(exempt)
