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
    """Redis: one string per record, expiring by TTL; pending sign-ins also kept in sorted sets, by
    expiry and by network.

    Cluster-safe as written: every operation names one key, except the two scripts on a pending
    sign-in, whose keys (the records too) share the `{space}` hash tag and so one slot.
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
    # The pending sign-ins: the index (a sorted set of record keys by expiry), `owners` (record key ->
    # its network), `networks` (a sorted set of networks by how many they hold) and `oldest` (every
    # entry `network|expiry|record key` at score 0, so a network's oldest is its first in lexical
    # order). `forget` takes a record out of all four; the record itself is deleted apart.
    PENDING = """
    local function forget(key)
      local expires = redis.call('ZSCORE', KEYS[1], key)
      local network = redis.call('HGET', KEYS[3], key)
      redis.call('ZREM', KEYS[1], key)
      if not network then return end
      redis.call('HDEL', KEYS[3], key)
      redis.call('ZREM', KEYS[5], network .. '|' .. string.format('%010d', tonumber(expires)) .. '|' .. key)
      if tonumber(redis.call('ZINCRBY', KEYS[4], -1, network)) <= 0 then redis.call('ZREM', KEYS[4], network) end
    end
    """
    # KEYS: the index, the record, owners, networks, oldest, then the counters. ARGV: now, expiry, cap,
    # blob, ttl, the record's entry in `oldest`, its network, then the windows' pairs. One round trip
    # for the rate limit, the cap and the write: a refused sign-in writes no record. At the cap, the
    # oldest pending sign-in of the network holding the most is shed (its record deleted) to make room.
    # The `#!lua` line (Redis 7) makes Redis refuse the whole script when memory is full; without it
    # Redis only checks at the first write, which may be allowed, and the rest runs.
    ADD_PENDING = "#!lua\n" + COUNT + PENDING + """
    local wait = count(6, 8)
    if wait > 0 then return wait end
    if tonumber(ARGV[3]) < 1 then return -1 end
    for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)) do forget(key) end
    local outcome = 0
    while redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) do
      local most = redis.call('ZREVRANGE', KEYS[4], 0, 0)[1]
      local entry = most and redis.call('ZRANGEBYLEX', KEYS[5], '[' .. most .. '|', '(' .. most .. '}',
                                        'LIMIT', 0, 1)[1]
      if not entry then return -1 end
      local key = string.match(entry, '^[^|]*|[^|]*|(.*)$')
      redis.call('DEL', key)
      forget(key)
      outcome = -2
    end
    redis.call('ZADD', KEYS[1], ARGV[2], KEYS[2])
    redis.call('HSET', KEYS[3], KEYS[2], ARGV[7])
    redis.call('ZINCRBY', KEYS[4], 1, ARGV[7])
    redis.call('ZADD', KEYS[5], 0, ARGV[6])
    for i = 1, 5 do if i ~= 2 then redis.call('EXPIRE', KEYS[i], ARGV[5]) end end
    redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
    return outcome
    """
    TAKE_PENDING = PENDING + """
    local blob = redis.call('GETDEL', KEYS[2])
    forget(KEYS[2])
    return blob
    """
    HIT = "#!lua\n" + COUNT + "return count(1, 1)"

    def __init__(self, client: RedisClient, space: str) -> None:
        self.client = client
        # A hash tag keeps the pending index and its records in one Redis Cluster slot.
        self.pending_index = f"pending:{{{space}}}"
        self.pending_books = [f"pending-{name}:{{{space}}}" for name in ("owners", "networks", "oldest")]
        self.counters = f"limit:{{{space}}}"  # the same hash tag: the counters join the pending script's slot
        self._add_pending = client.register_script(self.ADD_PENDING)
        self._hit = client.register_script(self.HIT)
        self._take_pending = client.register_script(self.TAKE_PENDING)

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

    def add_pending(self, key: str, blob: bytes, ttl: int, cap: int, windows: Sequence[Window] = (),
                    network: str = "") -> int:
        """ADDED, SHED (added; another network's oldest dropped at the cap), FULL (cap 0), or the seconds
        to wait when a window is over its limit."""
        now = time.time()
        expires = int(now + ttl)
        args: list[float | bytes | str] = [now, expires, cap, blob, ttl, f"{network}|{expires:010d}|{key}", network]
        for _, most, seconds in windows:
            args += [most, seconds]
        keys = [self.pending_index, key, *self.pending_books, *(f"{self.counters}:{name}" for name, _, _ in windows)]
        return int(self._add_pending(keys=keys, args=args))

    def count(self, windows: Sequence[Window]) -> int:
        """One hit in each window: 0, or the seconds to wait when one is over its limit."""
        if not windows:
            return 0
        args = [value for _, most, seconds in windows for value in (most, seconds)]
        return int(self._hit(keys=[f"{self.counters}:{name}" for name, _, _ in windows], args=args))

    def take_pending(self, key: str) -> bytes | None:
        """Atomic: of two requests with the same state, one gets the record, the other nothing."""
        return cast("bytes | None", self._take_pending(keys=[self.pending_index, key, *self.pending_books]))

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
