"""Who may sign in: the allow-lists, checked at sign-in and again whenever they change.

A session remembers a fingerprint of the allow-lists it was admitted under. A request of a session
admitted under other lists (a redeploy that tightened them, or another deployment with the same
client id and secret key on the same store) checks the user again, and the session ends when the
user no longer passes.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..errors import SignInError
from ..settings import settings


def check_access(claims: Mapping[str, Any]) -> None:
    """ALLOWED_DOMAINS against the ID token's hd claim; ALLOWED_EMAILS only for verified emails."""
    domains = settings()["ALLOWED_DOMAINS"]
    emails = settings()["ALLOWED_EMAILS"]
    if not domains and not emails:
        return
    hd = str(claims.get("hd") or "").lower()
    email = str(claims.get("email") or "").lower()
    verified = claims.get("email_verified") is True
    if (hd and hd in domains) or (verified and email in emails):
        return
    if emails and email in emails and not verified:
        reason = "email not verified"
    elif domains and not hd:
        reason = "not a Workspace account (no hd claim)"
    else:
        reason = "account not on the allow-list"
    raise SignInError("not_allowed", reason)


def fingerprint() -> str:
    """The allow-lists now in force, in a few characters (they name no user)."""
    config = settings()  # asked on every signed-in page: the sorting and hashing are cached
    return _fingerprint(tuple(config["ALLOWED_DOMAINS"]), tuple(config["ALLOWED_EMAILS"]))


@functools.lru_cache(maxsize=8)
def _fingerprint(domains: tuple[str, ...], emails: tuple[str, ...]) -> str:
    lists = {"domains": sorted(domains), "emails": sorted(emails)}
    return hashlib.sha256(json.dumps(lists).encode()).hexdigest()[:16]
