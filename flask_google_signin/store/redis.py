"""Redis: one node, the master Sentinel names, or a Cluster (SESSION_TYPE=redis; the `redis` extra)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, cast
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from .base import Window

RedisClient: TypeAlias = redis.Redis | RedisCluster  # one node or Sentinel's master (both redis.Redis), or a Cluster


class RedisRecords:
    """Redis: one string per record, expiring by TTL; pending sign-ins also counted in a sorted set.

    Cluster-safe as written: every operation names one key, except the two on a pending sign-in
    (the Lua script, and take_pending's MULTI/EXEC), whose keys share the `{space}` hash tag and so
    one slot; redis-py's cluster pipeline runs a transaction whose keys are all in one slot.
    """

    # A Cluster reports some outages (a slot no node serves, no node reachable) with exceptions
    # outside RedisError; so would a command over two slots, which the store's tests rule out.
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
        return cast("bytes | None", self.client.get(key))  # bytes: the client does not decode (redis_client)

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
    backoff, so a dead Redis costs a request about a second; and TLS when the URL is rediss://
    (REDIS_CA_CERT, else the system's CAs; REDIS_CLIENT_CERT and REDIS_CLIENT_KEY when the server
    asks for a client). No `health_check_interval`: its PING before a command on an idle connection
    has its own timeout and retry, which would double the worst case under a hung Redis. A
    connection left stale by a Redis restart is still replaced: the pool checks it on checkout, and
    the retry reconnects.
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
    """redis_client for one node at `url`: the short form, for scripts that hold only a URL."""
    return cast(redis.Redis, redis_client({"REDIS_URL": url, "REDIS_TIMEOUT": timeout}))
