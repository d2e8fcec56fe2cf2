"""The store as the layers above see it: records sealed on the way in and opened on the way out.

This is the one place where sealing happens (sealing.py does the cryptography). Each sealed
record names the key that opens it (`opener`): a session's or a pending sign-in's comes from the
secret in the browser's cookie; the session index's from SECRET_KEY. The store key, or the index
field, is the associated data, so a record moved to another key does not open.

What is not sealed is server-keyed bookkeeping that holds no claim (rate-limit counters, refresh
locks, security-event ids, the HMAC-named refresh-token lookups): the layers above reach it
through `records`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .base import Records, Window
from .sealing import Sealer


class Vault:
    def __init__(self, records: Records, secret_key: str, space: str) -> None:
        self.records = records
        self.store_errors = records.store_errors
        self.sealer = Sealer(secret_key, space)

    def opener(self, secret: str) -> AESGCM:
        """The key that opens the records sealed for `secret` (a cookie's)."""
        return self.sealer.key(secret)

    def load(self, key: str, opener: AESGCM) -> dict[str, Any] | None:
        """The record at `key`; None when there is none, or it does not open with `opener`."""
        blob = self.records.get(key)
        return None if blob is None else self.sealer.open(opener, blob, key)

    def save(self, key: str, opener: AESGCM, data: Mapping[str, Any], ttl: int, *, exists: bool | None) -> bool:
        """Records.put of the sealed record: False when the condition `exists` refused it."""
        return self.records.put(key, self.sealer.seal(opener, data, key), ttl, exists=exists)

    def add_pending(self, key: str, opener: AESGCM, data: Mapping[str, Any], ttl: int, cap: int,
                    windows: Sequence[Window] = (), network: str = "") -> int:
        return self.records.add_pending(key, self.sealer.seal(opener, data, key), ttl, cap, windows, network)

    def take_pending(self, key: str, opener: AESGCM) -> dict[str, Any] | None:
        """Taken once (a replay finds nothing), then opened."""
        blob = self.records.take_pending(key)
        return None if blob is None else self.sealer.open(opener, blob, key)

    def index_set(self, key: str, field: str, opener: AESGCM, data: Mapping[str, Any], expires_at: int) -> None:
        self.records.index_set(key, field, self.sealer.seal(opener, data, field), expires_at)

    def index_get(self, key: str, opener: AESGCM) -> dict[str, dict[str, Any] | None]:
        """Every field of the index at `key`, opened (None for one that does not open)."""
        return {field: self.sealer.open(opener, blob, field) for field, blob in self.records.index_get(key).items()}

    def index_entry(self, key: str, field: str, opener: AESGCM) -> dict[str, Any] | None:
        blob = self.records.index_get(key).get(field)
        return None if blob is None else self.sealer.open(opener, blob, field)
