"""Each user's sessions: the per-user index, and ending sessions elsewhere.

The index is keyed by an HMAC of the ID token's `sub` (its key derived from SECRET_KEY), so the
store holds no claim in clear. One entry per live session: the session id (which names a record
but cannot open it), and, sealed with a server-side key, what the page shows (browser, signed in
at, last active). A session's refresh token is findable for Cross-Account Protection's
`token-revoked` event only through HMACs of its identifiers; the token itself is never here.

After a SECRET_KEY rotation, the entries and lookups made before it stay under the names their key
gave them: lookups try the current key's names, then each SECRET_KEY_FALLBACKS key's. A session
moves its own entry and lookups to the current key's names on its first request after the rotation
(on_new_secret_key), as its record is resealed; a session that makes no request stays where it was,
and a security event still finds it there.

Ending a session elsewhere deletes its record: its next request, on any instance, is anonymous,
and no request that loaded it earlier can write it back (the store's conditional writes). A
refresh token revoked by Google is marked in the session's entry and dropped the next time that
session touches its tokens (each refresh, sign-out, and the once-a-minute idle clock).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Sequence
from typing import Any, TypedDict, cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app, session
from werkzeug.local import LocalProxy

from .. import metrics
from ..sessions.interface import current_id, record_lifetime, session_interface, session_record
from ..sessions.record import SessionRecord
from ..signals import signed_out
from ..store import Vault

log = logging.getLogger(__name__)

PREFIX_LENGTH = 16  # Google's `prefix` token identifier: the token's first 16 characters
# signed_out's reason -> the sessions_ended metric's `cause`
CAUSES = {"sign_out": "sign_out", "idle_timeout": "expiry", "absolute_timeout": "expiry",
          "ended_elsewhere": "elsewhere", "everywhere": "everywhere", "security_event": "security_event",
          "user_loader": "user_loader", "policy": "policy", "group": "group", "group_unverified": "group_unverified"}


class Entry(TypedDict):
    """One session in its user's index, as the "Your sessions" page shows it."""

    browser: str
    signed_in_at: int
    last_active: int
    expires_at: int
    tokens_revoked: bool  # a security event revoked its refresh token: dropped on the session's next use


class SessionIndex:
    """The per-user index over the store, with its keys derived from SECRET_KEY. `fallbacks`: one
    such index per SECRET_KEY_FALLBACKS key, where what was indexed before a rotation is found;
    `generations`: this one, then those."""

    def __init__(self, vault: Vault, secret_key: str, space: str, fallbacks: Sequence[str] = ()) -> None:
        self.vault = vault
        self.records = vault.records
        self.space = space
        material = HKDF(hashes.SHA256(), 64, hashlib.sha256(secret_key.encode()).digest(),
                        f"flask-google-signin index v1|{space}".encode()).derive(b"index")
        self.hmac_key, self.entry_key = material[:32], AESGCM(material[32:])
        self.fallbacks = [SessionIndex(vault, key, space) for key in fallbacks]
        self.generations = [self, *self.fallbacks]  # the current key's first

    def digest(self, value: str) -> str:
        mac = hmac.new(self.hmac_key, value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def user_key(self, sub: str) -> str:
        return f"user:{self.space}:{self.digest('sub|' + sub)}"

    def token_keys(self, refresh_token: str) -> list[str]:
        """Where `token-revoked` can find the session holding this refresh token, by either identifier."""
        # Google's `hash_base64_sha512_sha512`: base64 of SHA-512 over SHA-512 of the token
        hashed = base64.b64encode(hashlib.sha512(hashlib.sha512(refresh_token.encode()).digest()).digest()).decode()
        return [self.token_key(refresh_token[:PREFIX_LENGTH], "prefix"), self.token_key(hashed, "hash")]

    def token_key(self, identifier: str, alg: str) -> str:
        """`alg`: "prefix" (the token's first 16 characters) or "hash" (Google's double SHA-512)."""
        return f"rt:{self.space}:{self.digest(f'{alg}|{identifier}')}"

    def put(self, key: str, session_id: str, entry: Entry) -> None:
        self.vault.index_set(key, session_id, self.entry_key, cast("dict[str, Any]", entry), entry["expires_at"])

    def entries(self, key: str) -> dict[str, Entry]:
        """The user's live sessions (`key`: user_key(sub)); entries whose session expired or was deleted drop out."""
        now = time.time()
        live: dict[str, Entry] = {}
        dead: list[str] = []
        for session_id, opened in self.vault.index_get(key, self.entry_key).items():
            entry = cast("Entry | None", opened)
            alive = entry is not None and entry["expires_at"] > now
            if entry is not None and alive and self.records.get(record_key(session_id)) is not None:
                live[session_id] = entry
            else:
                dead.append(session_id)
        self.records.index_remove(key, *dead)
        return live

    def entry(self, key: str, session_id: str) -> Entry | None:
        """One session's entry, without checking the others (the once-a-minute touch)."""
        return cast("Entry | None", self.vault.index_entry(key, session_id, self.entry_key))

    def remove(self, key: str, *session_ids: str) -> None:
        self.records.index_remove(key, *session_ids)


def index() -> SessionIndex:
    return cast(SessionIndex, current_app.extensions["google_signin_index"])


def handle(session_id: str, under: SessionIndex | None = None) -> str:
    """What a form names a session by: an HMAC, so a page never shows another session's id."""
    return (under or index()).digest("handle|" + session_id)[:22]


def is_handle(wanted: str, session_id: str) -> bool:
    """Whether a form names this session, also on a page shown before a SECRET_KEY rotation."""
    return any(hmac.compare_digest(handle(session_id, each).encode(), wanted.encode())
               for each in index().generations)


def record_key(session_id: str) -> str:
    return str(session_interface().key_prefix) + session_id


# --------------------------------------------------------------------------- kept in step with sessions


def on_sign_in(sub: str) -> None:
    """Called once the session holds new Google tokens (a sign-in, once stored; a connect): its index
    entry, without a revoked mark (that was the old token's), and its refresh token's lookups."""
    record = session_record()
    record_index_entry(sub, current_id(), record)
    token = record.get("token")
    if token and token.get("refresh_token"):
        for key in index().token_keys(cast(str, token["refresh_token"])):
            value = f"{index().user_key(sub)}\n{current_id()}".encode()  # no claim in clear
            index().records.put(key, value, record_lifetime(session), exists=None)


def record_index_entry(sub: str, session_id: str, record: SessionRecord, tokens_revoked: bool = False) -> None:
    now = int(time.time())
    entry: Entry = {"browser": record.get("browser", "Unknown browser"),
                    "signed_in_at": record.get("signed_in_at", now), "last_active": record.get("last_seen", now),
                    "expires_at": now + record_lifetime(session), "tokens_revoked": tokens_revoked}
    index().put(index().user_key(sub), session_id, entry)


def on_touch(sub: str) -> None:
    """The idle clock moved (once a minute): refresh the entry, and apply a revoked refresh token."""
    entry = index().entry(index().user_key(sub), current_id())
    if entry and entry["tokens_revoked"] and "token" in session:
        apply_token_revocation(sub)
    record_index_entry(sub, current_id(), session_record())


def tokens_still_valid(sub: str) -> bool:
    """Before a session uses its refresh token: has a security event revoked it meanwhile?"""
    entry = index().entry(index().user_key(sub), current_id())
    if entry and entry["tokens_revoked"]:
        apply_token_revocation(sub)
        return False
    return True


def apply_token_revocation(sub: str) -> None:
    record = session_record()
    record.pop("token", None)
    record["google_access_ended"] = "token_revoked"
    log.warning("refresh token revoked by a security event: Google tokens dropped",
                extra={"event": "token_revoked", "reason": "token-revoked", "sub": sub})


def on_new_secret_key(sub: str) -> None:
    """This session's record was sealed under a SECRET_KEY_FALLBACKS key, and this request reseals it:
    its entry and refresh-token lookups move to the current key's names, as if it signed in now (a
    revoked mark found on the old entry is applied first, and its token gets no lookup)."""
    for older in index().fallbacks:
        key = older.user_key(sub)
        entry = older.entry(key, current_id())
        if entry and entry["tokens_revoked"] and "token" in session:
            apply_token_revocation(sub)
        older.remove(key, current_id())
    on_sign_in(sub)


def on_sign_out(sub: str, *session_ids: str) -> None:
    """Out of the user's index, under the current key's name and under any fallback's."""
    for each in index().generations:
        each.remove(each.user_key(sub), *session_ids)


def user_sessions(sub: str) -> dict[str, Entry]:
    """The user's live sessions, by session id: indexed under the current key, or under a fallback
    before a rotation (the current key's entry wins for a session found under both)."""
    found: dict[str, Entry] = {}
    for each in reversed(index().generations):
        found.update(each.entries(each.user_key(sub)))
    return found


def other_live_sessions(sub: str) -> int:
    return len([sid for sid in user_sessions(sub) if sid != current_id()])


# --------------------------------------------------------------------------- ending sessions


def announce_end(sub: str, reason: str, user: Any = None) -> None:
    """A session ended: counted, and `signed_out` sent once, from the app itself, with its reason
    (a key of CAUSES) and the user's `sub`; `user` is the identity when this request was that session's."""
    metrics.session_ended(CAUSES.get(reason, reason))
    app = cast("LocalProxy[Flask]", current_app)._get_current_object()
    signed_out.send(app, user=user, sub=sub, reason=reason)


def end_user_sessions(sub: str, reason: str, *, keep_sid: str | None = None, detail: str = "") -> int:
    """End every session of `sub` on every instance (but `keep_sid`); returns how many ended.

    Each record is deleted, so its next request anywhere is anonymous; each ending is an audit line.
    """
    ended = 0
    for session_id in user_sessions(sub):
        if session_id != keep_sid:
            end_indexed_session(sub, session_id, reason, detail)
            ended += 1
    return ended


def end_indexed_session(sub: str, session_id: str, reason: str, detail: str = "") -> None:
    """Delete one session's record and index entry: its next request, anywhere, is anonymous."""
    index().records.delete(record_key(session_id))
    on_sign_out(sub, session_id)
    log.info("session ended", extra={"event": "session_ended", "reason": detail or reason, "sub": sub})
    announce_end(sub, reason)


def drop_refresh_token(identifier: str, alg: str) -> int:
    """The sessions holding this refresh token drop their Google tokens (on their next use of them).

    `alg` is Cross-Account Protection's `token_identifier_alg`: `prefix` (the first 16 characters)
    or `hash_base64_sha512_sha512` (base64 of the token's double SHA-512, as token_keys stores it).
    """
    identifier, kind = (identifier[:PREFIX_LENGTH], "prefix") if alg == "prefix" else (identifier, "hash")
    for each in index().generations:  # a session may have lookups under several keys: its entry is under one
        found = each.records.get(each.token_key(identifier, kind))
        if found is not None and mark_revoked(each, found.decode(), alg):
            return 1
    return 0


def mark_revoked(where: SessionIndex, lookup: str, alg: str) -> bool:
    """Mark the entry a refresh-token lookup names (user key, session id), if it is there and live.
    A lookup made before a SECRET_KEY rotation names the entry under that key's names: `where`."""
    user, _, session_id = lookup.partition("\n")
    entry = where.entries(user).get(session_id)
    if entry is None:
        return False
    where.put(user, session_id, {**entry, "tokens_revoked": True})
    log.info("refresh token marked revoked: the session drops it on its next use",
             extra={"event": "token_revoked", "reason": f"token-revoked ({alg})"})
    return True
