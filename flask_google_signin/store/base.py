"""The store's narrow interface: what every backend (files, Redis, Redis Cluster) implements.

A backend keeps bytes under keys. It never interprets them: sealing happens once, above the
backends (vault.py). Writes are conditional, so a record that was deleted (sign-out, expiry) stays
deleted: a request that loaded it earlier can only update a record that still exists
(`exists=True`), and a new record is only created where none is (`exists=False`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeAlias

# A rate-limit window for one client address: (counter name, most hits, window in seconds).
Window: TypeAlias = tuple[str, int, int]
# add_pending's answers besides a rate limit's wait (seconds, > 0): added; not added (a cap of 0);
# added after shedding the oldest pending sign-in of the network that holds the most.
ADDED, FULL, SHED = 0, -1, -2


class Records(Protocol):
    """What the layers above need from a store."""

    store_errors: tuple[type[Exception], ...]  # what the backend raises when it does not answer

    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, blob: bytes, ttl: int, *, exists: bool | None) -> bool: ...
    def delete(self, key: str) -> None: ...
    def index_set(self, key: str, field: str, blob: bytes, expires_at: int) -> None: ...
    def index_get(self, key: str) -> dict[str, bytes]: ...
    def index_remove(self, key: str, *fields: str) -> None: ...
    def add_pending(self, key: str, blob: bytes, ttl: int, cap: int, windows: Sequence[Window] = (),
                    network: str = "") -> int: ...
    def count(self, windows: Sequence[Window]) -> int: ...
    def pending_key(self, name: str) -> str: ...
    def take_pending(self, key: str) -> bytes | None: ...
    def ping(self) -> None: ...
