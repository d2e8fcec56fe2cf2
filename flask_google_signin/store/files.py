"""Files on one host, shared by its workers (SESSION_TYPE=cachelib); pending sign-ins in one SQLite
database beside them."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .base import ADDED, FULL, SHED, Window

# Pending sign-ins, in one SQLite database in the folder: the cap is one exact count shared by every
# worker, and shedding at the cap needs each network's count and oldest record, which a folder of
# files cannot give without reading them all. Triggers keep the counts in step with the records.
PENDING_SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY, network TEXT NOT NULL, expires REAL NOT NULL,
                                    blob BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS pending_by_expiry ON pending (expires);
CREATE INDEX IF NOT EXISTS pending_by_network ON pending (network, expires);
CREATE TABLE IF NOT EXISTS networks (network TEXT PRIMARY KEY, held INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS networks_by_held ON networks (held);
CREATE TABLE IF NOT EXISTS tally (one INTEGER PRIMARY KEY CHECK (one = 0), held INTEGER NOT NULL);
INSERT OR IGNORE INTO tally VALUES (0, 0);
CREATE TRIGGER IF NOT EXISTS pending_added AFTER INSERT ON pending BEGIN
  INSERT INTO networks VALUES (new.network, 1) ON CONFLICT (network) DO UPDATE SET held = held + 1;
  UPDATE tally SET held = held + 1;
END;
CREATE TRIGGER IF NOT EXISTS pending_removed AFTER DELETE ON pending BEGIN
  UPDATE networks SET held = held - 1 WHERE network = old.network;
  DELETE FROM networks WHERE network = old.network AND held <= 0;
  UPDATE tally SET held = held - 1;
END;
"""


class FolderRecords:
    """Files on one host, shared by its workers: an 8-byte expiry header, then the sealed bytes.

    Nothing here unpickles: a file holds bytes that only the sealer interprets. Conditional writes
    hold an exclusive lock on the file, which deletion also takes, so a delete and a late update
    cannot interleave: an update finds the file unlinked (or gone) and refuses. Pending sign-ins are
    rows of `pending/pending.sqlite3` (PENDING_SCHEMA), so their cap is one count for every worker.
    """

    store_errors: tuple[type[Exception], ...] = (OSError, sqlite3.Error)
    PENDING = "pending:"  # the start of a pending sign-in's key
    SWEEP_INTERVAL = 60  # seconds between sweeps of expired session files, per process
    LOCK_WAIT = 5.0  # seconds a sign-in waits for the pending database's write lock before the store's 503

    def __init__(self, folder: str, shortest_lifetime: int) -> None:
        self.sessions = Path(folder)
        self.pending = self.sessions / "pending"
        self.shortest_lifetime = shortest_lifetime
        self._last_sweep = 0.0
        self._local = threading.local()  # each thread's database connection
        self._hits: dict[str, tuple[int, float]] = {}  # rate-limit counter -> (hits, window end)
        self._hits_lock = threading.Lock()
        self._hits_swept = 0.0

    def ensure(self) -> None:
        self.pending.mkdir(parents=True, exist_ok=True)  # the database itself at the first pending sign-in

    def _db(self) -> sqlite3.Connection:
        """This thread's connection to the pending sign-ins: sqlite3 connections are not shared between
        threads, nor kept across a fork (a worker does not use its master's)."""
        held: tuple[int, sqlite3.Connection] | None = getattr(self._local, "db", None)
        if held is None or held[0] != os.getpid():
            db = sqlite3.connect(self.pending / "pending.sqlite3", timeout=self.LOCK_WAIT, isolation_level=None)
            db.executescript(PENDING_SCHEMA)
            db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
            self._local.db = held = (os.getpid(), db)
        return held[1]

    def path(self, key: str) -> Path:
        return Path(self.filename(key))

    def filename(self, key: str) -> str:
        return f"{self.sessions}/{hashlib.sha256(key.encode()).hexdigest()}"

    @staticmethod
    def _live(data: bytes) -> bytes | None:
        if len(data) < 8 or int.from_bytes(data[:8], "big") < time.time():
            return None
        return data[8:]

    def get(self, key: str) -> bytes | None:
        """Read on every page, so with bare descriptors: Path and file objects cost more than the read itself.
        A pending sign-in (written by add_pending) is read from its database."""
        if key.startswith(self.PENDING):
            row = self._db().execute("SELECT blob, expires FROM pending WHERE key = ?", (key,)).fetchone()
            return row[0] if row and row[1] > time.time() else None
        try:
            descriptor = os.open(self.filename(key), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH)  # never a half-written record
            chunks = []
            while chunk := os.read(descriptor, 65536):
                chunks.append(chunk)
            return self._live(b"".join(chunks))
        finally:
            os.close(descriptor)

    def put(self, key: str, blob: bytes, ttl: int, *, exists: bool | None) -> bool:
        """exists=True: only an update; False: only a new record (an expired one counts as none); None:
        either (written whole, then renamed)."""
        payload = int(time.time() + ttl).to_bytes(8, "big") + blob
        path = self.path(key)
        if exists is None:
            temporary = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
            temporary.write_bytes(payload)
            os.replace(temporary, path)
            return True
        if not exists:
            self._sweep()
            return self._create(path, payload) or (self._drop_expired(path) and self._create(path, payload))
        try:
            handle = open(path, "r+b")  # closed by the `with` below, after the lock
        except FileNotFoundError:
            return False  # deleted meanwhile: stays deleted
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if os.fstat(handle.fileno()).st_nlink == 0 or self._live(handle.read(8)) is None:
                return False  # deleted or expired while we waited
            handle.seek(0)
            handle.truncate()
            handle.write(payload)
        return True

    @staticmethod
    def _create(path: Path, payload: bytes) -> bool:
        """Written whole under a temporary name, then linked: the record appears complete, or not at all."""
        temporary = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        temporary.write_bytes(payload)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        finally:
            temporary.unlink()
        return True

    def _drop_expired(self, path: Path) -> bool:
        """An expired file counts as absent, as an expired Redis key does (a crashed holder's lock,
        a jti past its lifetime); removed under its lock, so of two creators only one links anew."""
        try:
            with open(path, "rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                if os.fstat(handle.fileno()).st_nlink == 0:
                    return True  # removed meanwhile: try the create again
                if self._live(handle.read(8)) is not None:
                    return False  # live: the create fails, as it should
                os.unlink(path)
        except FileNotFoundError:
            pass
        return True

    def delete(self, key: str) -> None:
        self._unlink_locked(self.path(key))

    @staticmethod
    def _unlink_locked(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            os.unlink(path)

    def pending_key(self, name: str) -> str:
        return f"{self.PENDING}{name}"

    def index_set(self, key: str, field: str, blob: bytes, expires_at: int) -> None:
        def change(entries: dict[str, str]) -> None:
            entries[field] = base64.b64encode(blob).decode()

        self._update_index(key, change, expires_at)

    def index_get(self, key: str) -> dict[str, bytes]:
        data = self.get(key)
        entries: dict[str, str] = json.loads(data) if data else {}
        return {field: base64.b64decode(blob) for field, blob in entries.items()}

    def index_remove(self, key: str, *fields: str) -> None:
        def change(entries: dict[str, str]) -> None:
            for field in fields:
                entries.pop(field, None)

        self._update_index(key, change, 0)

    def _update_index(self, key: str, change: Callable[[dict[str, str]], None], expires_at: int) -> None:
        """Read, change and write one index file under its exclusive lock (deleted when empty).

        The file's header is its longest-lived entry's expiry, so the sweep removes a forgotten one.
        """
        path = self.path(key)
        for _ in range(3):  # the file may be unlinked (emptied) between our open and our lock: reopen
            with open(path, "a+b") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                if os.fstat(handle.fileno()).st_nlink == 0:
                    continue
                handle.seek(0)
                data = handle.read()
                body = self._live(data)
                entries: dict[str, str] = json.loads(body) if body else {}
                change(entries)
                if not entries:
                    os.unlink(path)
                    return
                header = max(expires_at, int.from_bytes(data[:8], "big") if body else 0)
                handle.truncate(0)
                handle.write(header.to_bytes(8, "big") + json.dumps(entries).encode())
                return

    def add_pending(self, key: str, blob: bytes, ttl: int, cap: int, windows: Sequence[Window] = (),
                    network: str = "") -> int:
        """At most `cap` pending sign-ins, counted exactly across workers (one write transaction each).
        At the cap, the oldest of the network holding the most is shed. ADDED, SHED, FULL (a cap of 0),
        or the seconds to wait when a window is over its limit (counted first)."""
        wait = self.count(windows)
        if wait:
            return wait
        if cap < 1:
            return FULL
        now, outcome = time.time(), ADDED
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM pending WHERE key IN (SELECT key FROM pending WHERE expires <= ? "
                       "ORDER BY expires LIMIT 100)", (now,))
            (held,) = db.execute("SELECT held FROM tally").fetchone()
            for _ in range(held - cap + 1):
                db.execute("DELETE FROM pending WHERE key = (SELECT key FROM pending WHERE network = "
                           "(SELECT network FROM networks ORDER BY held DESC LIMIT 1) ORDER BY expires LIMIT 1)")
                outcome = SHED
            db.execute("INSERT INTO pending VALUES (?, ?, ?, ?)", (key, network, now + ttl, blob))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return outcome

    def count(self, windows: Sequence[Window]) -> int:
        """Fixed windows in this process's memory (the folder is the slow part; a count per file would
        cost a write per request): each worker counts alone. 0, or the seconds to wait."""
        now, wait = time.time(), 0.0
        with self._hits_lock:
            if now - self._hits_swept >= self.SWEEP_INTERVAL:  # forget addresses that did not come back
                self._hits_swept = now
                self._hits = {name: entry for name, entry in self._hits.items() if entry[1] > now}
            for name, most, seconds in windows:
                hits, ends = self._hits.get(name, (0, 0.0))
                if ends <= now:
                    hits, ends = 0, now + seconds
                self._hits[name] = (hits + 1, ends)
                if hits + 1 > most:
                    wait = max(wait, ends - now)
        return max(1, round(wait)) if wait else 0

    def take_pending(self, key: str) -> bytes | None:
        """Atomic: one statement deletes the record and returns it, for one request only."""
        row = self._db().execute("DELETE FROM pending WHERE key = ? RETURNING blob, expires", (key,)).fetchone()
        return row[0] if row and row[1] > time.time() else None

    def _sweep(self) -> None:
        """Remove expired session files, once a minute per process, opening only files old enough."""
        now = time.time()
        if now - self._last_sweep < self.SWEEP_INTERVAL:
            return
        self._last_sweep = now
        cutoff = now - self.shortest_lifetime
        with os.scandir(self.sessions) as entries:
            for entry in entries:
                if not entry.is_file():
                    continue
                try:
                    if entry.stat().st_mtime > cutoff:
                        continue
                    if entry.name.endswith(".tmp"):
                        os.unlink(entry.path)  # left by a crashed writer
                        continue
                    with open(entry.path, "rb") as handle:
                        expired = self._live(handle.read(8)) is None
                    if expired:
                        self._unlink_locked(Path(entry.path))
                except OSError:  # gone meanwhile: the next sweep sees the rest
                    continue

    def ping(self) -> None:
        if not (self.sessions.is_dir() and os.access(self.sessions, os.W_OK)):
            raise OSError("the session folder is not writable")


