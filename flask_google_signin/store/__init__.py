"""The store: where sessions, pending sign-ins and their bookkeeping live.

One module per backend behind one narrow interface (base.Records): files.py (one host's folder)
and redis.py (one node, Sentinel or Cluster; only with the `redis` extra installed). timed.py
wraps a backend for metrics; vault.py seals above them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..settings import ConfigError
from .base import ADDED, FULL, SHED, Records, Window
from .files import FolderRecords
from .sealing import Sealer, digest, namespace, new_secret
from .timed import TimedRecords
from .vault import Opened, Vault

try:
    from .redis import RedisRecords, redis_client
except ModuleNotFoundError as exc:  # the `redis` extra is not installed: files only
    if exc.name != "redis":
        raise
    HAVE_REDIS = False
else:
    HAVE_REDIS = True

__all__ = ["ADDED", "FULL", "SHED", "FolderRecords", "Opened", "Records", "Sealer", "TimedRecords", "Vault",
           "Window", "digest", "namespace", "new_secret", "open_records"]


def open_records(config: Mapping[str, Any], space: str, pending_lifetime: int) -> Records:
    """The backend SESSION_TYPE names, built from the settings."""
    if config["SESSION_TYPE"] == "redis":
        if not HAVE_REDIS:
            raise ConfigError("SESSION_TYPE is redis, but the redis package is not installed: "
                              "pip install 'flask-google-signin[redis]'")
        return RedisRecords(redis_client(config), space)
    shortest = min(pending_lifetime, int(config["IDLE_TIMEOUT"]))
    records = FolderRecords(config["SESSION_CACHELIB_DIR"], shortest)
    records.ensure()
    return records
