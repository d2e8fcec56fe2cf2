"""Redis the way operators run it, through redis-py's own clients.

- TLS: a `redis-server` serving only TLS, with a CA, server and client certificates made here
  (cryptography); the app over `rediss://` with REDIS_CA_CERT (and a client certificate where the
  server asks for one); a CA that did not sign the server is a clean 503.
- Sentinel: a master, a replica and three sentinels (`down-after-milliseconds 1000`); the master
  is killed (SIGKILL), sign-ins work again within 10 s, and every session written a second before
  the kill still opens.
- Cluster: three primaries made one Cluster by `redis-cli --cluster create`; sign-in, the sessions
  page, sign-out everywhere, the pending cap and the limiter through the app (tests/extension/test_store.py
  runs the store suite there too), and a node that dies gives 503s, never a 500.

The servers are real processes on loopback ports (scripts/launch.py); the app runs in this process
(Flask's test client, which propagates any exception the error handlers do not turn into a page:
a 500 would fail the test) against FakeGoogle. The settings checks at the top start nothing.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from redis.cluster import RedisCluster
from redis.crc import key_slot

from app.config import ConfigError
from flask_google_signin import testing
from flask_google_signin.store import RedisRecords, namespace

from ..helpers import AuthActions, RedisSentinel, RedisServer, private_redis_cluster, require

SLOW = [pytest.mark.slow, pytest.mark.redis]
STORE_DOWN = "Our session store is not answering"
MASTER = "mymaster"


# --------------------------------------------------------------------------- settings (no server)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"REDIS_SENTINELS": "127.0.0.1:26379", "REDIS_CLUSTER_URL": "redis://127.0.0.1:7000"}, "both set"),
    ({"SESSION_TYPE": "cachelib", "REDIS_SENTINELS": "127.0.0.1:26379"}, "SESSION_TYPE is not redis"),
    ({"SESSION_TYPE": "cachelib", "REDIS_CLUSTER_URL": "redis://127.0.0.1:7000"}, "SESSION_TYPE is not redis"),
    ({"REDIS_SENTINELS": "localhost"}, "REDIS_SENTINELS is invalid: expected host:port"),
    ({"REDIS_SENTINELS": "127.0.0.1:99999"}, "REDIS_SENTINELS is invalid"),
    ({"REDIS_CLUSTER_URL": "http://127.0.0.1:7000"}, "REDIS_CLUSTER_URL is invalid"),
    ({"REDIS_CLUSTER_URL": "redis://127.0.0.1:7000/2"}, "REDIS_CLUSTER_URL is invalid: a Redis Cluster has database 0"),
    ({"REDIS_URL": "rediss://127.0.0.1:6380/0", "REDIS_CA_CERT": "/nonexistent/ca.pem"},
     "REDIS_CA_CERT is invalid: no readable file"),
    ({"REDIS_CA_CERT": "{file}"}, "REDIS_CA_CERT is set, but REDIS_URL is not a rediss:// URL"),
    ({"REDIS_CLUSTER_URL": "redis://127.0.0.1:7000", "REDIS_CA_CERT": "{file}"},
     "REDIS_CA_CERT is set, but REDIS_CLUSTER_URL is not a rediss:// URL"),
    ({"REDIS_URL": "rediss://127.0.0.1:6380/0", "REDIS_CLIENT_CERT": "{file}"}, "go together"),
])
def test_redis_settings_that_cannot_work_stop_the_start(make_app, tmp_path, overrides, message):
    a_file = tmp_path / "some.pem"
    a_file.write_text("x")
    settings = {"SESSION_TYPE": "redis", **{k: v.replace("{file}", str(a_file)) for k, v in overrides.items()}}
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_app(**settings)


def test_sentinel_addresses_parse_and_survive_a_second_parse(make_app):
    from app.config import load_settings

    settings = load_settings({"REDIS_SENTINELS": " 10.0.0.1:26379, sentinel-b:26380,[::1]:26381 ",
                              "REDIS_SENTINEL_MASTER": "sessions"})
    sentinels = settings["GOOGLE_SIGNIN_REDIS_SENTINELS"]
    assert sentinels == ["10.0.0.1:26379", "sentinel-b:26380", "[::1]:26381"]
    defaults = load_settings({})
    assert defaults["GOOGLE_SIGNIN_REDIS_SENTINELS"] == []
    assert defaults["GOOGLE_SIGNIN_REDIS_SENTINEL_MASTER"] == "mymaster"
    assert defaults["GOOGLE_SIGNIN_REDIS_CLUSTER_URL"] == "" and defaults["GOOGLE_SIGNIN_REDIS_CA_CERT"] == ""
    app = make_app(SESSION_TYPE="redis", REDIS_SENTINELS=sentinels)  # builds, connects to nothing
    assert app.extensions["google_signin_settings"]["REDIS_SENTINELS"] == sentinels


def test_every_multi_key_operation_keeps_its_keys_in_one_slot():
    """A Cluster runs a script or a MULTI/EXEC only over keys of one slot: the pending index and each
    pending record share the deployment's hash tag. The rest (records, the per-user index hash, locks,
    jti records, refresh-token lookups) are single-key commands."""
    records = RedisRecords(redis.Redis(), namespace("slot-check"))  # no connection is made
    index_slot = key_slot(records.pending_index.encode())
    for _ in range(20):
        assert key_slot(records.pending_key(secrets.token_urlsafe(32)).encode()) == index_slot


# --------------------------------------------------------------------------- helpers


@dataclass
class Certs:
    ca: Path
    other_ca: Path  # a CA that signed nothing the server has
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(folder: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and another CA."""
    now = datetime.now(UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def issue(subject: str, key, issuer: tuple | None, *, usage=None, ip: str | None = None):
        issuer_cert, issuer_key = issuer or (None, key)
        builder = (x509.CertificateBuilder().subject_name(name(subject))
                   .issuer_name(issuer_cert.subject if issuer_cert else name(subject))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer is None:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
                critical=True)
        else:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if ip:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(IPv4Address(ip)), x509.DNSName("localhost")]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(stem: str, cert, key=None) -> tuple[Path, Path | None]:
        cert_path = folder / f"{stem}.crt"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is None:
            return cert_path, None
        key_path = folder / f"{stem}.key"
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path

    keys = {stem: ec.generate_private_key(ec.SECP256R1()) for stem in ("ca", "other", "server", "client")}
    ca = issue("Test Redis CA", keys["ca"], None)
    other = issue("Some other CA", keys["other"], None)
    server = issue("127.0.0.1", keys["server"], (ca, keys["ca"]), usage=ExtendedKeyUsageOID.SERVER_AUTH,
                   ip="127.0.0.1")
    client = issue("signin-app", keys["client"], (ca, keys["ca"]), usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    server_cert, server_key = write("server", server, keys["server"])
    client_cert, client_key = write("client", client, keys["client"])
    return Certs(ca=write("ca", ca)[0], other_ca=write("other-ca", other)[0], server_cert=server_cert,
                 server_key=server_key, client_cert=client_cert, client_key=client_key)


class TLSRedis(RedisServer):
    """redis-server on TLS only (`--port 0`); `auth_clients`: "optional" or "yes" (a client certificate)."""

    def __init__(self, directory: Path, certs: Certs, auth_clients: str) -> None:
        self.certs, self.auth_clients = certs, auth_clients
        super().__init__(directory)
        self.url = f"rediss://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [self.binary, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.directory), "--tls-cert-file", str(self.certs.server_cert),
                "--tls-key-file", str(self.certs.server_key), "--tls-ca-cert-file", str(self.certs.ca),
                "--tls-auth-clients", self.auth_clients]

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, ssl=True, ssl_ca_certs=str(self.certs.ca),
                           ssl_certfile=str(self.certs.client_cert), ssl_keyfile=str(self.certs.client_key),
                           socket_timeout=2)

    def answers(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False


class Visitor(AuthActions):
    """One browser from its own address (the limiter counts per address), signing in as its own user."""

    def __init__(self, app, google, user: str) -> None:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"  # its own /64
        super().__init__(client, google)
        self.user = user
        self.email = f"{user}@example.com"

    def try_sign_in(self) -> tuple[int, int]:
        """(status of /login, status of /callback): 302s when it worked; the callback is skipped (0)
        when /login did not send the browser to Google."""
        self.google.sub, self.google.id_claims = f"sub-{self.user}", {"email": self.email}
        login = self.client.get("/login")
        if login.status_code != 302:
            assert STORE_DOWN in login.get_data(as_text=True), login.status_code
            return login.status_code, 0
        params = {k: v[0] for k, v in parse_qs(urlsplit(login.location).query).items()}
        self.google.nonce, self.google.code_challenge = params["nonce"], params["code_challenge"]
        back = self.callback(params)
        if back.status_code != 302:
            assert STORE_DOWN in back.get_data(as_text=True), back.status_code
        return 302, back.status_code

    def sign_in_now(self) -> None:
        assert self.try_sign_in() == (302, 302)

    def sees_profile(self) -> bool:
        page = self.client.get("/profile")
        return page.status_code == 200 and self.email in page.get_data(as_text=True)


def wait_for(condition, seconds: float, what: str) -> float:
    """Poll `condition` until true; the seconds it took. AssertionError naming `what` on timeout."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


# --------------------------------------------------------------------------- 1. TLS


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory, certs):
    """Verifies a client certificate when one is sent, accepts a client without."""
    require(shutil.which("redis-server") is not None, "redis-server")
    server = TLSRedis(tmp_path_factory.mktemp("tls-redis"), certs, "optional")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls_redis(tmp_path_factory, certs):
    """Refuses any client without a certificate its CA signed."""
    require(shutil.which("redis-server") is not None, "redis-server")
    server = TLSRedis(tmp_path_factory.mktemp("mtls-redis"), certs, "yes")
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.redis
def test_tls_sign_in_and_profile_over_rediss(make_app, google, tls_redis, certs):
    app = make_app(SESSION_TYPE="redis", REDIS_URL=tls_redis.url, REDIS_CA_CERT=str(certs.ca))
    user = Visitor(app, google, "tls-ada")
    user.sign_in_now()
    assert user.sees_profile()
    assert app.test_client().get("/readyz").status_code == 200
    with tls_redis.client() as inspector:  # the records and the limiter's counts are in that Redis
        keys = {key.decode().split(":")[0] for key in inspector.scan_iter("*")}
    assert {"session", "user", "limit"} <= keys, keys


@pytest.mark.slow
@pytest.mark.redis
def test_tls_with_a_client_certificate_where_the_server_asks_for_one(make_app, google, mtls_redis, certs):
    app = make_app(SESSION_TYPE="redis", REDIS_URL=mtls_redis.url, REDIS_CA_CERT=str(certs.ca),
                   REDIS_CLIENT_CERT=str(certs.client_cert), REDIS_CLIENT_KEY=str(certs.client_key))
    user = Visitor(app, google, "mtls-ada")
    user.sign_in_now()
    assert user.sees_profile()
    without = make_app(SESSION_TYPE="redis", REDIS_URL=mtls_redis.url, REDIS_CA_CERT=str(certs.ca))
    assert Visitor(without, google, "no-cert").try_sign_in() == (503, 0)  # the server refused the handshake


@pytest.mark.slow
@pytest.mark.redis
def test_a_ca_that_did_not_sign_the_server_is_a_clean_503(make_app, google, tls_redis, certs):
    app = make_app(SESSION_TYPE="redis", REDIS_URL=tls_redis.url, REDIS_CA_CERT=str(certs.other_ca))
    started = time.monotonic()
    assert Visitor(app, google, "wrong-ca").try_sign_in() == (503, 0)
    assert time.monotonic() - started < 2
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.json["failed"] == "session_store"
    assert app.test_client().get("/healthz").status_code == 200


# --------------------------------------------------------------------------- 2. Sentinel


@pytest.fixture
def sentinel_setup(tmp_path_factory):
    """A master, its replica, three sentinels (quorum 2) that know each other and the replica."""
    require(shutil.which("redis-server") is not None, "redis-server")
    require(shutil.which("redis-sentinel") is not None, "redis-sentinel (apt: redis-sentinel)")
    started: list[RedisServer] = []
    try:
        # No 5 s wait before the first full sync (Redis's default), so the replica is in step at once.
        master = RedisServer(tmp_path_factory.mktemp("master"), "--repl-diskless-sync-delay", "0")
        started.append(master)
        replica = RedisServer(tmp_path_factory.mktemp("replica"), "--replicaof", "127.0.0.1", str(master.port))
        started.append(replica)
        for i in range(3):
            started.append(RedisSentinel(tmp_path_factory.mktemp(f"sentinel{i}"), MASTER, master.port, 2,
                                         "down-after-milliseconds 1000", "failover-timeout 3000", "parallel-syncs 1"))
        sentinels = started[2:]
        watchers = [redis.Redis(port=s.port, socket_timeout=2, decode_responses=True) for s in sentinels]
        link = redis.Redis(port=replica.port, socket_timeout=2)

        def ready() -> bool:
            states = [watcher.sentinel_master(MASTER) for watcher in watchers]
            return (link.info("replication")["master_link_status"] == "up"
                    and all(s["num-slaves"] == 1 and s["num-other-sentinels"] == 2 for s in states))

        wait_for(ready, 15, "the sentinels did not find each other and the replica")  # hello messages: ~2 s
        yield master, replica, sentinels
    finally:
        for server in reversed(started):
            server.stop()


@pytest.mark.slow
@pytest.mark.redis
def test_sentinel_failover_sign_ins_resume_within_10_seconds_and_sessions_survive(make_app, google,
                                                                                   sentinel_setup):
    master, replica, sentinels = sentinel_setup
    app = make_app(SESSION_TYPE="redis", REDIS_SENTINELS=",".join(f"127.0.0.1:{s.port}" for s in sentinels),
                   REDIS_SENTINEL_MASTER=MASTER, LOGIN_RATE_LIMIT="3/minute")
    assert isinstance(testing.store(app).client, redis.Redis)  # Sentinel's master
    users = [Visitor(app, google, f"before-{i}") for i in range(5)]
    for user in users:
        user.sign_in_now()
        assert user.sees_profile()
    with redis.Redis(port=master.port) as direct:
        assert direct.keys("session:*") and direct.keys("limit:*")  # the store's records and the limiter's counts

    time.sleep(1.0)  # replication is asynchronous: these sessions were written at least a second ago
    master.kill()
    killed = time.monotonic()
    attempts: list[tuple[float, tuple[int, int]]] = []
    while True:
        sent = time.monotonic()
        outcome = Visitor(app, google, f"during-{len(attempts)}").try_sign_in()  # a 503 page, never a 500
        attempts.append((round(sent - killed, 2), outcome))
        assert time.monotonic() - sent < 3, f"one attempt took {time.monotonic() - sent:.1f} s"
        if outcome == (302, 302):
            break
        assert time.monotonic() - killed < 10, f"no sign-in within 10 s of the kill: {attempts}"
        time.sleep(0.1)
    recovered = time.monotonic() - killed
    assert recovered < 10
    print(f"sign-ins work again {recovered:.1f} s after the master was killed; attempts: {attempts}")

    with redis.Redis(port=sentinels[0].port, decode_responses=True) as watcher:
        assert int(watcher.sentinel_master(MASTER)["port"]) == replica.port  # the replica was promoted
    lost = [user.user for user in users if not user.sees_profile()]
    assert not lost, f"sessions written before the kill no longer open: {lost}"
    # The limiter counts in the new master, as the pending sign-ins are written there.
    flood = Visitor(app, google, "flood")
    statuses = [flood.client.get("/login").status_code for _ in range(5)]
    assert statuses == [302, 302, 302, 429, 429], statuses


# --------------------------------------------------------------------------- 3. Cluster


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory):
    """A Cluster of this module's own: its last test kills a node."""
    nodes = private_redis_cluster(tmp_path_factory, "own-cluster-node")
    yield nodes
    for node in nodes:
        node.stop()


def cluster_app(make_app, nodes, **overrides):
    return make_app(SESSION_TYPE="redis", REDIS_CLUSTER_URL=f"redis://127.0.0.1:{nodes[0].port}", **overrides)


@pytest.mark.slow
@pytest.mark.redis
def test_cluster_sign_in_sessions_page_sign_out_everywhere(make_app, google, own_cluster):
    app = cluster_app(make_app, own_cluster, GOOGLE_OFFLINE_ACCESS=True)
    assert isinstance(testing.store(app).client, RedisCluster)
    devices = [Visitor(app, google, "cluster-ada") for _ in range(3)]  # one user, three browsers
    for device in devices:
        device.sign_in_now()
        assert device.sees_profile()
    page = devices[0].client.get("/sessions").get_data(as_text=True)
    assert page.count('name="session" value="') == 2  # the two others, each with its own sign-out button
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert devices[0].client.post("/sessions/all", data={"csrf_token": token}).status_code == 303
    assert not any(device.sees_profile() for device in devices)
    assert google.revoked == [google.refresh_token]
    assert app.test_client().get("/readyz").status_code == 200
    holding = [node for node in own_cluster if redis.Redis(port=node.port).dbsize()]
    assert len(holding) >= 2, "the keys should spread over the Cluster's nodes"


@pytest.mark.slow
@pytest.mark.redis
def test_cluster_caps_pending_sign_ins_and_limits_logins(make_app, google, own_cluster):
    app = cluster_app(make_app, own_cluster, GOOGLE_CLIENT_ID=f"cap-{uuid.uuid4().hex}.apps.googleusercontent.com",
                      PENDING_SIGNINS_MAX=3, LOGIN_RATE_LIMIT="4/minute")
    stranger = app.test_client(use_cookies=False)
    statuses = [stranger.get("/login").status_code for _ in range(5)]
    assert statuses == [302, 302, 302, 302, 429]  # the fourth sheds the first (the script's DEL), then the limiter
    records = testing.store(app)
    assert records.client.zcard(records.pending_index) == 3
    cluster = records.client
    limiter_keys = [key for node in cluster.get_primaries() for key in
                    cluster.get_redis_connection(node).keys("limit:*")]
    assert limiter_keys, "the limiter counts in the Cluster"


@pytest.mark.slow
@pytest.mark.redis
def test_a_cluster_node_that_dies_gives_503s_never_a_500(make_app, google, own_cluster):
    """No replicas here: once the Cluster marks the node failed (cluster-node-timeout, 2 s in the
    test), every node refuses every key (CLUSTERDOWN), and /readyz says so. The node killed is not
    the one holding the pending sign-ins' slot (the one /readyz reads): a PING would still answer."""
    app = cluster_app(make_app, own_cluster)
    user = Visitor(app, google, "cluster-bob")
    user.sign_in_now()
    records = testing.store(app)
    holder = records.client.get_node_from_key(records.pending_index).port
    next(node for node in own_cluster if node.port != holder).kill()
    for _ in range(3):
        assert Visitor(app, google, "cluster-late").try_sign_in()[0] in (302, 503)  # 302: its slots are alive
        assert user.client.get("/profile").status_code in (200, 503)

    def not_ready() -> bool:
        return app.test_client().get("/readyz").status_code == 503

    wait_for(not_ready, 10, "/readyz still 200 with a node of the Cluster dead")
    assert Visitor(app, google, "cluster-after").try_sign_in() == (503, 0)
    assert app.test_client().get("/healthz").status_code == 200
