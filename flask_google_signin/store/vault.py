"""The store as the layers above see it: records sealed on the way in and opened on the way out.

This is the one place where sealing happens (sealing.py does the cryptography). A session's or a
pending sign-in's record is sealed by the secret in the browser's cookie (`secret`); the session
index's entries by a key of the index's own, derived from SECRET_KEY (`opener`). The store key, or
the index field, is the associated data, so a record moved to another key does not open.

A SECRET_KEY rotation: records are sealed under the current key; one sealed before the rotation
still opens under a SECRET_KEY_FALLBACKS key, and says so (`Opened.stale`), so that the session
layer writes it again, under the current key. The fallback keys are tried only when the current
one fails: without fallbacks, opening costs what it did.

What is not sealed is server-keyed bookkeeping that holds no claim (rate-limit counters, refresh
locks, security-event ids, the HMAC-named refresh-token lookups): the layers above reach it
through `records`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .base import Records, Window
from .sealing import Sealer


class Opened(NamedTuple):
    data: dict[str, Any]
    stale: bool  # only a SECRET_KEY_FALLBACKS key opened it: the next write reseals it


class Vault:
    def __init__(self, records: Records, secret_key: str, space: str, fallbacks: Sequence[str] = ()) -> None:
        self.records = records
        self.store_errors = records.store_errors
        self.sealer = Sealer(secret_key, space, fallbacks)

    def load(self, key: str, secret: str) -> Opened | None:
        """The record at `key`; None when there is none, or `secret` does not open it."""
        blob = self.records.get(key)
        return None if blob is None else self.open(blob, secret, key)

    def save(self, key: str, secret: str, data: Mapping[str, Any], ttl: int, *, exists: bool | None) -> bool:
        """Records.put of the record sealed under the current SECRET_KEY: False when the condition
        `exists` refused it."""
        return self.records.put(key, self.seal(secret, data, key), ttl, exists=exists)

    def add_pending(self, key: str, secret: str, data: Mapping[str, Any], ttl: int, cap: int,
                    windows: Sequence[Window] = (), network: str = "") -> int:
        return self.records.add_pending(key, self.seal(secret, data, key), ttl, cap, windows, network)

    def take_pending(self, key: str, secret: str) -> dict[str, Any] | None:
        """Taken once (a replay finds nothing), then opened."""
        blob = self.records.take_pending(key)
        opened = None if blob is None else self.open(blob, secret, key)
        return None if opened is None else opened.data

    def seal(self, secret: str, data: Mapping[str, Any], aad: str) -> bytes:
        return self.sealer.seal(self.sealer.key(secret), data, aad)

    def open(self, blob: bytes, secret: str, aad: str) -> Opened | None:
        """Under the current key, else under each fallback in turn."""
        data = self.sealer.open(self.sealer.key(secret), blob, aad)
        if data is not None:
            return Opened(data, stale=False)
        for key in self.sealer.older_keys(secret):
            data = self.sealer.open(key, blob, aad)
            if data is not None:
                return Opened(data, stale=True)
        return None

    def index_set(self, key: str, field: str, opener: AESGCM, data: Mapping[str, Any], expires_at: int) -> None:
        self.records.index_set(key, field, self.sealer.seal(opener, data, field), expires_at)

    def index_get(self, key: str, opener: AESGCM) -> dict[str, dict[str, Any] | None]:
        """Every field of the index at `key`, opened (None for one that does not open)."""
        return {field: self.sealer.open(opener, blob, field) for field, blob in self.records.index_get(key).items()}

    def index_entry(self, key: str, field: str, opener: AESGCM) -> dict[str, Any] | None:
        blob = self.records.index_get(key).get(field)
        return None if blob is None else self.sealer.open(opener, blob, field)
