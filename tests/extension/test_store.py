"""flask_google_signin/store.py: one suite, run against both stores (files, and Redis: a real
redis-server, and a real three-node Redis Cluster, where a command over keys of two slots fails)."""

from __future__ import annotations

import os
import threading
import time

import pytest

import flask_google_signin.store as store
import flask_google_signin.store.redis as store_redis
from flask_google_signin.store import FolderRecords, Sealer, namespace
from flask_google_signin.store.redis import RedisRecords, make_redis, redis_client

REDIS = [pytest.mark.slow, pytest.mark.redis]


@pytest.fixture(params=["files", pytest.param("redis", marks=REDIS), pytest.param("cluster", marks=REDIS)])
def records(request, tmp_path):
    if request.param == "files":
        folder = FolderRecords(str(tmp_path / "sessions"), shortest_lifetime=600)
        folder.ensure()
        return folder
    if request.param == "cluster":
        node = request.getfixturevalue("redis_cluster")[0]
        client = redis_client({"REDIS_URL": "", "REDIS_CLUSTER_URL": f"redis://127.0.0.1:{node.port}",
                               "REDIS_TIMEOUT": 2})
    else:
        client = make_redis(request.getfixturevalue("redis_server").url, 2)
    client.flushdb()
    return RedisRecords(client, namespace("store-tests"))


def test_put_new_only_where_nothing_is(records):
    assert records.put("session:a", b"one", 60, exists=False)
    assert not records.put("session:a", b"two", 60, exists=False)  # an id is never taken over
    assert records.get("session:a") == b"one"


def test_an_update_never_brings_a_deleted_record_back(records):
    """The heart of "an ended session stays ended": a late writer finds nothing to update."""
    assert not records.put("session:b", b"late", 60, exists=True)  # never existed
    records.put("session:b", b"live", 60, exists=False)
    assert records.put("session:b", b"touched", 60, exists=True)
    assert records.get("session:b") == b"touched"
    records.delete("session:b")
    assert not records.put("session:b", b"late", 60, exists=True)
    assert records.get("session:b") is None


def test_an_update_never_brings_an_expired_record_back(records, monkeypatch):
    records.put("session:c", b"live", 1, exists=False)
    if isinstance(records, FolderRecords):
        monkeypatch.setattr(store.files, "time", type("Later", (), {"time": staticmethod(lambda: time.time() + 2)}))
    else:
        time.sleep(1.1)
    assert records.get("session:c") is None
    assert not records.put("session:c", b"late", 60, exists=True)


def test_an_expired_record_is_no_obstacle_to_a_new_one(records, monkeypatch):
    """As Redis's SET NX on an expired key: a crashed holder's refresh lock, a jti past its lifetime."""
    assert records.put("lock:a", b"crashed", 1, exists=False)
    assert not records.put("lock:a", b"mine", 60, exists=False)
    if isinstance(records, FolderRecords):
        monkeypatch.setattr(store.files, "time", type("Later", (), {"time": staticmethod(lambda: time.time() + 2)}))
    else:
        time.sleep(1.1)
    assert records.put("lock:a", b"mine", 60, exists=False)
    assert records.get("lock:a") == b"mine"
    assert not records.put("lock:a", b"theirs", 60, exists=False)


def test_of_creators_racing_over_an_expired_record_one_wins(tmp_path, monkeypatch):
    """The folder store removes an expired file under its lock, so two creators never both succeed."""
    folder = FolderRecords(str(tmp_path / "sessions"), shortest_lifetime=600)
    folder.ensure()
    for round_number in range(50):
        assert folder.put(f"lock:{round_number}", b"crashed", 1, exists=False)
    monkeypatch.setattr(store.files, "time", type("Later", (), {"time": staticmethod(lambda: time.time() + 2)}))
    for round_number in range(50):
        barrier, won = threading.Barrier(4), []

        def create(key=f"lock:{round_number}", barrier=barrier, won=won):
            barrier.wait()
            won.append(folder.put(key, b"mine", 60, exists=False))

        threads = [threading.Thread(target=create) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(won) == [False, False, False, True], round_number


def test_concurrent_delete_and_update_never_leave_the_record(records):
    """Many rounds of a delete racing an update: whichever runs first, the record ends deleted."""
    for round_number in range(50):
        key = f"session:race{round_number}"
        records.put(key, b"live", 60, exists=False)
        barrier = threading.Barrier(2)

        def update(key=key, barrier=barrier):
            barrier.wait()
            records.put(key, b"late", 60, exists=True)

        writer = threading.Thread(target=update)
        writer.start()
        barrier.wait()
        records.delete(key)
        writer.join()
        assert records.get(key) is None, round_number


def test_pending_records_are_taken_once(records):
    key = records.pending_key("p0")
    assert records.add_pending(key, b"x" + key.encode(), 600, cap=3) == store.ADDED
    assert records.take_pending(key) == b"x" + key.encode()
    assert records.take_pending(key) is None  # single use
    assert records.take_pending(records.pending_key("never")) is None


def test_at_the_cap_the_oldest_of_the_network_holding_most_is_shed(records):
    """A new sign-in is never refused for the cap: the network with the most pending sign-ins loses
    its oldest, so a flood sheds its own and a visitor from another network keeps theirs."""
    def add(name, network):
        return records.add_pending(records.pending_key(name), name.encode(), 600, 5, (), network)

    assert [add(f"a{i}", "A") for i in range(4)] + [add("b0", "B")] == [store.ADDED] * 5
    assert add("c0", "C") == store.SHED  # A holds 4: its oldest, a0, goes
    assert add("b1", "B") == store.SHED  # A holds 3: a1 goes
    assert add("a4", "A") == store.SHED  # A holds 2, B 2, C 1: A or B loses its oldest
    assert add("c1", "C") == store.SHED
    kept = {name for name in ("a0", "a1", "a2", "a3", "a4", "b0", "b1", "c0", "c1")
            if records.take_pending(records.pending_key(name))}
    assert len(kept) == 5 and {"c0", "c1"} <= kept and "a4" in kept and "a0" not in kept and "a1" not in kept
    assert kept & {"b0", "b1"} and len(kept & {"a2", "a3", "a4"}) <= 2  # each network kept its newest


def test_a_cap_of_zero_writes_nothing(records):
    assert records.add_pending(records.pending_key("kept"), b"k", 600, 5, (), "A") == store.ADDED
    assert records.add_pending(records.pending_key("none"), b"z", 600, 0, (), "A") == store.FULL
    assert records.take_pending(records.pending_key("none")) is None
    assert records.take_pending(records.pending_key("kept")) == b"k"  # nothing shed for it either


def test_expired_pending_records_make_room_without_shedding(records, monkeypatch):
    for name in ("old-1", "old-2"):
        assert records.add_pending(records.pending_key(name), b"x", 600, 2, (), "A") == store.ADDED
    later = type("Later", (), {"time": staticmethod(lambda: time.time() + 601)})
    monkeypatch.setattr(store.files if isinstance(records, FolderRecords) else store_redis, "time", later)
    assert records.add_pending(records.pending_key("new-1"), b"y", 600, 2, (), "B") == store.ADDED
    assert records.add_pending(records.pending_key("new-2"), b"y", 600, 2, (), "B") == store.ADDED
    assert records.add_pending(records.pending_key("new-3"), b"y", 600, 2, (), "C") == store.SHED


def test_the_cap_is_exact_with_many_writers(records, tmp_path):
    """Writers in several threads (and, for files, several store objects over one folder, as workers
    are): never more than the cap, never a refusal."""
    writers = [records] * 2
    if isinstance(records, FolderRecords):
        writers = [records, FolderRecords(str(records.sessions), shortest_lifetime=600)]
    outcomes, barrier = [], threading.Barrier(6)

    def flood(writer, thread):
        barrier.wait()
        for i in range(60):
            outcomes.append(writer.add_pending(writer.pending_key(f"{thread}-{i}"), b"x", 600, 50, (), f"net-{i % 7}"))

    threads = [threading.Thread(target=flood, args=(writers[n % 2], n)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(outcomes) == {store.ADDED, store.SHED} and outcomes.count(store.ADDED) == 50
    held = [records.take_pending(records.pending_key(f"{n}-{i}")) for n in range(6) for i in range(60)]
    assert len([blob for blob in held if blob]) == 50


def test_a_rate_limited_pending_record_is_not_written_and_other_addresses_go_on(records):
    """The sign-in's limit counts in the same step as the write (one Redis script, in one Cluster slot)."""
    def window(address):
        return [(f"login:2/60:{address}", 2, 60)]

    keys = [records.pending_key(f"limited-{i}") for i in range(4)]
    outcomes = [records.add_pending(key, b"x", 600, 100, window("198.51.100.1")) for key in keys]
    assert outcomes[:2] == [store.ADDED] * 2 and all(0 < wait <= 60 for wait in outcomes[2:]), outcomes
    assert [records.take_pending(key) for key in keys] == [b"x", b"x", None, None]  # the refused wrote nothing
    assert records.add_pending(records.pending_key("other"), b"y", 600, 100, window("198.51.100.2")) == store.ADDED


def test_rate_limit_windows_refuse_beyond_any_limit_and_end(records, monkeypatch):
    windows = [("risc:3/1:192.0.2.7", 3, 1), ("risc:5/60:192.0.2.7", 5, 60)]
    assert [records.count(windows) for _ in range(3)] == [0, 0, 0]
    assert records.count(windows) == 1  # over 3 a second: wait for that window
    assert records.count([]) == 0 and records.count([("risc:3/1:192.0.2.8", 3, 1)]) == 0  # another address
    if isinstance(records, FolderRecords):  # its clock moves on; Redis's own clock does not
        monkeypatch.setattr(store.files, "time", type("Later", (), {"time": staticmethod(lambda: time.time() + 1.1)}))
    else:
        time.sleep(1.1)
    assert records.count(windows) == 0  # the 1-second window ended; the minute's count is 5 now
    wait = records.count(windows)
    assert 1 < wait <= 60  # over 5 a minute: wait for the minute's window


def test_taking_a_pending_record_is_atomic(records):
    key = records.pending_key("contested")
    assert records.add_pending(key, b"once", 600, cap=10) == store.ADDED
    results, barrier = [], threading.Barrier(8)

    def take():
        barrier.wait()
        results.append(records.take_pending(key))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=lambda r: r is None) == [b"once"] + [None] * 7


def test_folder_sweep_removes_expired_records_keeps_live_and_young_ones(tmp_path, monkeypatch):
    folder = FolderRecords(str(tmp_path), shortest_lifetime=600)
    folder.ensure()
    now = time.time()
    folder.put("expired", b"a", 600, exists=False)
    folder.put("live", b"b", 8 * 3600, exists=False)
    folder.put("young", b"c", 600, exists=False)
    later = now + 601  # 10 minutes on, "expired" and "young" are both past their time ...
    # ... but "young" was (re)written 11 s ago by its mtime, so the sweep trusts that and leaves it.
    for key, written in (("expired", now), ("live", now), ("young", later - 11)):
        os.utime(folder.path(key), (written, written))
    crashed = tmp_path / "abc.1234.tmp"
    crashed.write_bytes(b"")
    os.utime(crashed, (now, now))
    monkeypatch.setattr(store.files, "time", type("Later", (), {"time": staticmethod(lambda: later)}))
    folder._last_sweep = 0
    folder._sweep()
    assert not folder.path("expired").exists()
    assert folder.path("live").exists() and folder.path("young").exists()
    assert not crashed.exists()  # a crashed writer's temporary file


def test_sealed_records_open_only_with_their_secret_key_and_deployment():
    sealer = Sealer("secret-key", namespace("client-a"))
    key = sealer.key("browser-secret")
    blob = sealer.seal(key, {"token": "ya29.secret", "big": 2**80}, "session:x")
    assert b"ya29" not in blob
    assert sealer.open(key, blob, "session:x") == {"token": "ya29.secret", "big": 2**80}
    assert sealer.open(sealer.key("another-secret"), blob, "session:x") is None
    assert sealer.open(key, blob, "session:moved") is None  # bound to its store key
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    assert sealer.open(key, tampered, "session:x") is None
    other_deployment = Sealer("secret-key", namespace("client-b"))
    assert other_deployment.open(other_deployment.key("browser-secret"), blob, "session:x") is None
    other_secret_key = Sealer("another-secret-key", namespace("client-a"))
    assert other_secret_key.open(other_secret_key.key("browser-secret"), blob, "session:x") is None
    assert sealer.open(key, b"\x01garbage", "session:x") is None
