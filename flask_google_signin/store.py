"""Where sessions and pending sign-ins live: sealed records, in a folder or in Redis.

The store holds ciphertext only. Each record is sealed (AES-256-GCM) under a key derived from a
secret that only the browser holds, in its cookie, so a copy of the store (a backup, a shared
Redis, a misconfigured ACL) opens nothing: no token, email, name or claim is readable in it.

Writes are conditional, so a record that was deleted (sign-out, expiry) stays deleted: a request
that loaded it earlier can only update a record that still exists (`exists=True`, Redis `SET XX`),
and a new record is only created where none is (`exists=False`, Redis `SET NX`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any, Protocol, TypeAlias, cast
from urllib.parse import unquote, urlsplit

import msgspec
import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

VERSION = b"\x01"
NONCE_SIZE = 12
RedisClient: TypeAlias = redis.Redis | RedisCluster  # one node or Sentinel's master (both redis.Redis), or a Cluster
# A rate-limit window for one client address (limits.py): (counter name, most hits, window in seconds).
Window: TypeAlias = tuple[str, int, int]
ADDED, FULL = 0, -1  # add_pending's answers besides a rate limit's wait (seconds, > 0)


def namespace(client_id: str) -> str:
    """One deployment's key space: two deployments sharing a store never see each other's records."""
    return hashlib.sha256(f"flask-google-signin|{client_id}".encode()).hexdigest()[:16]


class Sealer:
    """Authenticated encryption of one record with its own key.

    key = HKDF-SHA256(ikm = the browser's secret, salt = SECRET_KEY, info = deployment namespace).
    The record's store key is the associated data, so a record moved to another key does not open.
    """

    def __init__(self, secret_key: str, space: str) -> None:
        self.salt = hashlib.sha256(secret_key.encode()).digest()
        self.info = f"flask-google-signin record v1|{space}".encode()
        self.encode = msgspec.json.Encoder().encode  # JSON: integers of any size round-trip
        self.decode = msgspec.json.Decoder(dict).decode

    def key(self, secret: str) -> AESGCM:
        material = HKDF(hashes.SHA256(), 32, self.salt, self.info).derive(secret.encode())
        return AESGCM(material)

    def seal(self, key: AESGCM, data: Mapping[str, Any], aad: str) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return VERSION + nonce + key.encrypt(nonce, self.encode(data), aad.encode())

    def open(self, key: AESGCM, blob: bytes, aad: str) -> dict[str, Any] | None:
        """The record, or None when it was altered, sealed for another key, or is not ours."""
        if not blob.startswith(VERSION) or len(blob) < 1 + NONCE_SIZE + 16:
            return None
        nonce, body = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
        try:
            return self.decode(key.decrypt(nonce, body, aad.encode()))
        except (InvalidTag, msgspec.DecodeError):
            return None


def new_secret() -> str:
    """256 random bits, URL-safe: a session id or the secret that opens its record."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    """A store key for a capability (a pending sign-in's secret): it addresses, never opens."""
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()).rstrip(b"=").decode()


class Records(Protocol):
    """What the session interface needs from a store; both stores below implement it."""

    store_errors: tuple[type[Exception], ...]

    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, blob: bytes, ttl: int, *, exists: bool | None) -> bool: ...
    def delete(self, key: str) -> None: ...
    def index_set(self, key: str, field: str, blob: bytes, expires_at: int) -> None: ...
    def index_get(self, key: str) -> dict[str, bytes]: ...
    def index_remove(self, key: str, *fields: str) -> None: ...
    def add_pending(self, key: str, blob: bytes, ttl: int, cap: int, windows: Sequence[Window] = ()) -> int: ...
    def count(self, windows: Sequence[Window]) -> int: ...
    def pending_key(self, name: str) -> str: ...
    def take_pending(self, key: str) -> bytes | None: ...
    def ping(self) -> None: ...


class RedisRecords:
    """Redis: one string per record, expiring by TTL; pending sign-ins also counted in a sorted set.

    Cluster-safe as written: every operation names one key, except the two on a pending sign-in
    (the Lua script, and take_pending's MULTI/EXEC), whose keys share the `{space}` hash tag and so
    one slot; redis-py's cluster pipeline runs a transaction whose keys are all in one slot.
    (tests/test_redis_topologies.py checks the slots; tests/test_store.py runs on a real Cluster.)
    """

    # A Cluster reports some outages (a slot no node serves, no node reachable) with exceptions
    # outside RedisError; so would a command over two slots, which tests/test_store.py rules out.
    store_errors: tuple[type[Exception], ...] = (redis.RedisError, redis.exceptions.RedisClusterException)

    # Fixed windows, as `limits` counts them: a counter per window and address, whose first hit starts
    # the window (INCR, then EXPIRE). KEYS[first..]: the counters; from ARGV[arg]: most hits and
    # seconds of each, in pairs. Every hit counts, refused ones too; the answer is the longest wait
    # of a window over its limit, or 0.
    COUNT = """
    local function count(first, arg)
      local wait = 0
      for i = first, #KEYS do
        local at = arg + 2 * (i - first)
        local most, seconds = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
        local hits = redis.call('INCR', KEYS[i])
        if hits == 1 then redis.call('EXPIRE', KEYS[i], seconds) end
        if hits > most then
          local ttl = redis.call('TTL', KEYS[i])
          if ttl < 1 then redis.call('EXPIRE', KEYS[i], seconds); ttl = seconds end
          wait = math.max(wait, ttl)
        end
      end
      return wait
    end
    """
    # KEYS: the pending index, the record, then the counters. ARGV: now, expiry, cap, blob, ttl, member,
    # then the windows' pairs. One round trip for the rate limit, the cap and the write: a refused
    # sign-in writes no record.
    # The `#!lua` line (Redis 7) makes Redis refuse the whole script when memory is full; without it
    # Redis only checks at the first write, which may be allowed, and the rest runs.
    ADD_PENDING = "#!lua\n" + COUNT + """
    local wait = count(3, 7)
    if wait > 0 then return wait end
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
    if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[6])
    redis.call('EXPIRE', KEYS[1], ARGV[5])
    redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
    return 0
    """
    HIT = "#!lua\n" + COUNT + "return count(1, 1)"

    def __init__(self, client: RedisClient, space: str) -> None:
        self.client = client
        # A hash tag keeps the pending index and its records in one Redis Cluster slot.
        self.pending_index = f"pending:{{{space}}}"
        self.counters = f"limit:{{{space}}}"  # the same hash tag: the counters join the pending script's slot
        self._add_pending = client.register_script(self.ADD_PENDING)
        self._hit = client.register_script(self.HIT)

    def get(self, key: str) -> bytes | None:
        return cast("bytes | None", self.client.get(key))  # bytes: the client does not decode (make_redis)

    def put(self, key: str, blob: bytes, ttl: int, *, exists: bool | None) -> bool:
        """exists=True: only an update (SET XX); False: only a new record (SET NX); None: either."""
        return bool(self.client.set(key, blob, ex=max(1, ttl), xx=exists is True, nx=exists is False))

    def delete(self, key: str) -> None:
        self.client.delete(key)

    def index_set(self, key: str, field: str, blob: bytes, expires_at: int) -> None:
        """One entry of a hash; the hash lives as long as its longest-lived entry."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, field, blob)
            pipe.expireat(key, expires_at, nx=True)  # a new hash
            pipe.expireat(key, expires_at, gt=True)  # a longer-lived entry
            pipe.execute()

    def index_get(self, key: str) -> dict[str, bytes]:
        entries = cast("dict[bytes, bytes]", self.client.hgetall(key))
        return {field.decode(): blob for field, blob in entries.items()}

    def index_remove(self, key: str, *fields: str) -> None:
        if fields:
            self.client.hdel(key, *fields)

    def pending_key(self, name: str) -> str:
        return f"{self.pending_index}:{name}"

    def add_pending(self, key: str, blob: bytes, ttl: int, cap: int, windows: Sequence[Window] = ()) -> int:
        """ADDED, FULL (PENDING_SIGNINS_MAX), or the seconds to wait when a window is over its limit."""
        now = time.time()
        args: list[float | bytes | str] = [now, now + ttl, cap, blob, ttl, key]
        for _, most, seconds in windows:
            args += [most, seconds]
        keys = [self.pending_index, key, *(f"{self.counters}:{name}" for name, _, _ in windows)]
        return int(self._add_pending(keys=keys, args=args))

    def count(self, windows: Sequence[Window]) -> int:
        """One hit in each window: 0, or the seconds to wait when one is over its limit."""
        if not windows:
            return 0
        args = [value for _, most, seconds in windows for value in (most, seconds)]
        return int(self._hit(keys=[f"{self.counters}:{name}" for name, _, _ in windows], args=args))

    def take_pending(self, key: str) -> bytes | None:
        """Atomic: of two requests with the same state, one gets the record, the other nothing."""
        blob: bytes | None
        with self.client.pipeline(transaction=True) as pipe:
            pipe.getdel(key)
            pipe.zrem(self.pending_index, key)
            blob, _ = pipe.execute()
        return blob

    def ping(self) -> None:
        """A read of a key, not PING: a Cluster node answers PING while the Cluster refuses every key
        (CLUSTERDOWN), and this key's slot is the one every sign-in writes to."""
        self.client.exists(self.pending_index)


class FolderRecords:
    """Files on one host, shared by its workers: an 8-byte expiry header, then the sealed bytes.

    Nothing here unpickles: a file holds bytes that only the sealer interprets. Conditional writes
    hold an exclusive lock on the file, which deletion also takes, so a delete and a late update
    cannot interleave: an update finds the file unlinked (or gone) and refuses.
    """

    store_errors: tuple[type[Exception], ...] = (OSError,)
    SWEEP_INTERVAL = 60  # seconds between sweeps of expired session files, per process
    COUNT_INTERVAL = 1.0  # seconds between recounts of pending sign-ins, per process, at least
    COUNT_SHARE = 50  # ... and at least this many times as long as the last recount took (2 % of a worker)

    def __init__(self, folder: str, shortest_lifetime: int, pending_lifetime: int) -> None:
        self.sessions = Path(folder)
        self.pending = self.sessions / "pending"
        self.shortest_lifetime = shortest_lifetime
        self.pending_lifetime = pending_lifetime
        self._last_sweep = 0.0
        self._counted_at = 0.0
        self._count_every = self.COUNT_INTERVAL
        self._pending_swept = 0.0
        self._pending_count = 0
        self._hits: dict[str, tuple[int, float]] = {}  # rate-limit counter -> (hits, window end)
        self._hits_lock = threading.Lock()
        self._hits_swept = 0.0

    def ensure(self) -> None:
        self.pending.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str, folder: Path | None = None) -> Path:
        return (folder or self.sessions) / hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def _live(data: bytes) -> bytes | None:
        if len(data) < 8 or int.from_bytes(data[:8], "big") < time.time():
            return None
        return data[8:]

    def get(self, key: str) -> bytes | None:
        try:
            with open(self._path(key), "rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH)  # never a half-written record
                return self._live(handle.read())
        except FileNotFoundError:
            return None

    def put(self, key: str, blob: bytes, ttl: int, *, exists: bool | None) -> bool:
        """exists=True: only an update; False: only a new record (an expired one counts as none); None:
        either (written whole, then renamed)."""
        payload = int(time.time() + ttl).to_bytes(8, "big") + blob
        path = self._path(key)
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
        self._unlink_locked(self._path(key))

    @staticmethod
    def _unlink_locked(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            os.unlink(path)

    def pending_key(self, name: str) -> str:
        return f"pending:{name}"

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
        path = self._path(key)
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

    def add_pending(self, key: str, blob: bytes, ttl: int, cap: int, windows: Sequence[Window] = ()) -> int:
        """At most `cap` pending files. The count is exact within a process and recounted from the
        folder (_recount_pending), so several workers overshoot by at most their sign-ins between two
        recounts. ADDED, FULL, or the seconds to wait when a window is over its limit (counted first)."""
        wait = self.count(windows)
        if wait:
            return wait
        now = time.time()
        if now - self._counted_at >= self._count_every:
            self._recount_pending(now, cap)
        if self._pending_count >= cap:
            return FULL
        payload = int(now + ttl).to_bytes(8, "big") + blob
        if not self._create(self._path(key, self.pending), payload):
            return FULL
        self._pending_count += 1
        return ADDED

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
        """Atomic: the rename succeeds for one request only; a replay finds nothing."""
        path = self._path(key, self.pending)
        taken = path.with_name(f"{path.name}.{secrets.token_hex(4)}.taken")
        try:
            os.rename(path, taken)
        except FileNotFoundError:
            return None
        self._pending_count = max(0, self._pending_count - 1)
        try:
            return self._live(taken.read_bytes())
        finally:
            taken.unlink()

    def _recount_pending(self, now: float, cap: int) -> None:
        """Count the pending files by name (no stat: 0.1 s at 100,000 files, against 0.4 s with one), and
        remove the expired ones once a minute, or when the count reaches the cap. Expired files not yet
        removed count until then: the cap errs on the side of refusing. Each second at most, and never
        more than 1/COUNT_SHARE of the process's time: a folder near the cap is not scanned every second."""
        started = perf_counter()  # not time.perf_counter: tests move `time` (the records' clock) alone
        with os.scandir(self.pending) as entries:
            count = sum(1 for _ in entries)
        if count >= cap or now - self._pending_swept >= self.SWEEP_INTERVAL:
            self._pending_swept = now
            count = self._sweep_pending(now)
        self._pending_count = count
        self._counted_at = now
        self._count_every = max(self.COUNT_INTERVAL, self.COUNT_SHARE * (perf_counter() - started))

    def _sweep_pending(self, now: float) -> int:
        """Remove pending files past their lifetime (all share one, so the mtime says it); count the rest."""
        cutoff, count = now - self.pending_lifetime, 0
        with os.scandir(self.pending) as entries:
            for entry in entries:
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                    else:
                        count += 1
                except FileNotFoundError:
                    continue
        return count

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


def open_records(config: dict[str, Any], space: str, pending_lifetime: int) -> Records:
    """The store SESSION_TYPE names, with its client built from the settings."""
    if config["SESSION_TYPE"] == "redis":
        return RedisRecords(redis_client(config), space)
    folder = config["SESSION_CACHELIB_DIR"]
    shortest = min(pending_lifetime, int(config["PERMANENT_SESSION_LIFETIME"]))
    records = FolderRecords(folder, shortest, pending_lifetime)
    records.ensure()
    return records


def redis_client(config: Mapping[str, Any]) -> RedisClient:
    """The one place a Redis client is built from the settings (the store's; the rate limits count there too).

    - REDIS_CLUSTER_URL: a Cluster, found from that node. RedisCluster reads the slot map when it is
      built, so a Cluster that does not answer at start-up stops the start (the next start retries).
    - REDIS_SENTINELS: the master that the sentinels name REDIS_SENTINEL_MASTER, asked of them for
      each new connection (redis-py's SentinelConnectionPool). When the master dies, a request gets
      the store's 503 until the sentinels have promoted a replica; the pool then drops the dead
      master's connections and later requests go to the new one. REDIS_URL gives the scheme
      (rediss://: TLS, to the sentinels too), user, password and database; its host and port are
      not used.
    - Otherwise the one node at REDIS_URL.

    Every connection has REDIS_TIMEOUT to connect and to read, and one more attempt without
    backoff (make_redis says why), and TLS when the URL is rediss:// (REDIS_CA_CERT, else the
    system's CAs; REDIS_CLIENT_CERT and REDIS_CLIENT_KEY when the server asks for a client).
    """
    url = str(config.get("REDIS_CLUSTER_URL") or config["REDIS_URL"])
    options = connection_options(config)
    if config.get("REDIS_CLUSTER_URL"):
        return RedisCluster.from_url(url, **options)
    if config.get("REDIS_SENTINELS"):
        parts = urlsplit(url)
        if parts.scheme == "rediss":
            options["ssl"] = True
        addresses = [host_port(item) for item in config["REDIS_SENTINELS"]]
        sentinel = Sentinel(addresses, sentinel_kwargs=options)  # type: ignore[no-untyped-call]
        credentials = {"username": unquote(parts.username) if parts.username else None,
                       "password": unquote(parts.password) if parts.password else None,
                       "db": int(parts.path.strip("/") or 0)}
        master = sentinel.master_for(config["REDIS_SENTINEL_MASTER"], **options, **credentials)  # type: ignore[no-untyped-call]
        return cast(redis.Redis, master)
    return redis.Redis.from_url(url, **options)


def connection_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """redis-py's options for every connection: timeouts, one retry, and the TLS files for a rediss://
    URL (settings.check_redis refuses them with any other)."""
    timeout = float(config["REDIS_TIMEOUT"])
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout,
                               "retry": Retry(NoBackoff(), 1)}
    if str(config.get("REDIS_CLUSTER_URL") or config["REDIS_URL"]).startswith("rediss://"):
        files = {"ssl_ca_certs": "REDIS_CA_CERT", "ssl_certfile": "REDIS_CLIENT_CERT",
                 "ssl_keyfile": "REDIS_CLIENT_KEY"}
        options.update({option: config[name] for option, name in files.items() if config.get(name)})
    return options


def host_port(address: str) -> tuple[str, int]:
    """`host:port` (settings.host_ports) as redis-py takes it; an IPv6 host loses its brackets."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def make_redis(url: str, timeout: float) -> redis.Redis:
    """One node: short timeouts and a single retry, so a dead Redis costs a request about a second.

    No `health_check_interval`: its PING before a command on an idle connection has its own
    timeout and retry, which doubled the worst case under a hung Redis to over 2 s. A connection
    left stale by a Redis restart is still replaced: the pool checks it on checkout, and the retry
    reconnects. (The app builds its client with redis_client, which does the same; this is the
    short form for one URL, for tests and bench/.)
    """
    return cast(redis.Redis, redis_client({"REDIS_URL": url, "REDIS_TIMEOUT": timeout}))
