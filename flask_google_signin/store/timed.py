"""A store whose operations are timed, and counted when they fail (metrics.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .. import metrics
from .base import Records, Window

T = TypeVar("T")


class TimedRecords:
    """Records (base.py) with every operation observed in metrics.STORE_DURATION / STORE_ERRORS."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.store_errors = records.store_errors
        self._durations = {op: metrics.STORE_DURATION.labels(op) for op in metrics.STORE_OPERATIONS}
        self._errors = {op: metrics.STORE_ERRORS.labels(op) for op in metrics.STORE_OPERATIONS}

    def _timed(self, operation: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        except self.store_errors:
            self._errors[operation].inc()
            raise
        finally:
            self._durations[operation].observe(time.perf_counter() - started)

    def get(self, key: str) -> bytes | None:
        return self._timed("get", self.records.get, key)

    def put(self, key: str, blob: bytes, ttl: int, *, exists: bool | None) -> bool:
        return self._timed("put", self.records.put, key, blob, ttl, exists=exists)

    def delete(self, key: str) -> None:
        self._timed("delete", self.records.delete, key)

    def index_set(self, key: str, field: str, blob: bytes, expires_at: int) -> None:
        self._timed("index", self.records.index_set, key, field, blob, expires_at)

    def index_get(self, key: str) -> dict[str, bytes]:
        return self._timed("index", self.records.index_get, key)

    def index_remove(self, key: str, *fields: str) -> None:
        self._timed("index", self.records.index_remove, key, *fields)

    def add_pending(self, key: str, blob: bytes, ttl: int, cap: int, windows: Sequence[Window] = (),
                    network: str = "") -> int:
        return self._timed("pending", self.records.add_pending, key, blob, ttl, cap, windows, network)

    def count(self, windows: Sequence[Window]) -> int:
        return self._timed("limit", self.records.count, windows)

    def pending_key(self, name: str) -> str:
        return self.records.pending_key(name)

    def take_pending(self, key: str) -> bytes | None:
        return self._timed("pending", self.records.take_pending, key)

    def ping(self) -> None:
        self._timed("ping", self.records.ping)
