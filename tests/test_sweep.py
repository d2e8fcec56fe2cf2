"""The file store's sweep of expired records (SessionFolder.remove_expired)."""

from __future__ import annotations

import os
import time

from app.sessions import SessionFolder


def test_sweep_removes_expired_records_keeps_live_and_young_ones(tmp_path):
    folder = SessionFolder(str(tmp_path), threshold=0, default_timeout=0)
    now = time.time()
    folder.set("expired", {"a": 1}, timeout=600)
    folder.set("live", {"b": 2}, timeout=8 * 3600)
    folder.set("young", {"c": 3}, timeout=600)
    later = now + 601  # the sweep runs 10 minutes on: "expired" and "young" are both past their time
    # ... but "young" was (re)written 11 s ago by its mtime, so it cannot have expired yet: the
    # sweep trusts the mtime and does not open it.
    for key, written in (("expired", now), ("live", now), ("young", later - 11)):
        os.utime(folder._get_filename(key), (written, written))
    half_written = tmp_path / "tmpabc.__wz_cache"
    half_written.write_bytes(b"")

    folder.remove_expired(later, shortest_lifetime=600)
    assert folder.get("expired") is None and not os.path.exists(folder._get_filename("expired"))
    assert folder.get("live") == {"b": 2}
    assert folder.get("young") == {"c": 3}
    assert half_written.exists()  # cachelib's own temporary file is not ours to judge
