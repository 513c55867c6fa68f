"""The KV store: SQLite round trips, namespaces, threads; Redis behind the same protocol."""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuiper.errors import ConfigError
from kuiper.state.kv import KVStore, RedisKV, SqliteKV, open_store, table


def _exercise(store: KVStore) -> None:
    assert store.get("rules", "r1") is None and store.keys("rules") == []
    store.set("rules", "r1", '{"sql": "SELECT 1"}')
    store.set("rules", "r2", b"\x00\x01")
    assert store.get("rules", "r1") == b'{"sql": "SELECT 1"}'
    assert store.get("rules", "r2") == b"\x00\x01"
    assert store.keys("rules") == ["r1", "r2"]
    assert store.items("rules") == {"r1": b'{"sql": "SELECT 1"}', "r2": b"\x00\x01"}
    assert store.get("streams", "r1") is None  # namespaces are apart
    assert not store.setnx("rules", "r1", "other") and store.get("rules", "r1").startswith(b"{")
    assert store.setnx("rules", "r3", "three")
    store.set("rules", "r1", "replaced")
    assert store.get("rules", "r1") == b"replaced"
    assert store.delete("rules", "r1") and not store.delete("rules", "r1")
    assert not store.delete("nothing_here", "x")
    t = table(store, "streams")
    t.set("demo", "x")
    assert t.get("demo") == b"x" and t.keys() == ["demo"]
    t.clear()
    assert t.keys() == []


def test_sqlite_round_trip_and_persistence(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert isinstance(store, SqliteKV) and store.path == tmp_path / "data" / "sqliteKV.db"
    _exercise(store)
    store.set("checkpoints", "rule1", b"state")
    store.close()
    again = SqliteKV(tmp_path / "data" / "sqliteKV.db")
    assert again.get("checkpoints", "rule1") == b"state"
    mode = again._conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode.lower() == "wal"
    again.close()


def test_sqlite_threads(tmp_path: Path) -> None:
    store = SqliteKV(tmp_path / "kv.db")

    def work(i: int) -> None:
        for j in range(50):
            store.set("ns", f"{i}-{j}", str(j))
            assert store.get("ns", f"{i}-{j}") == str(j).encode()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(store.keys("ns")) == 200


def test_bad_namespace_and_store_type(tmp_path: Path) -> None:
    store = SqliteKV(":memory:")
    with pytest.raises(ConfigError, match="namespace"):
        store.set("bad name; DROP", "k", "v")
    with pytest.raises(ConfigError, match="unknown store type"):
        open_store(tmp_path, {"type": "etcd"})


class FakeRedis:
    """The few hash commands RedisKV uses, in memory."""

    def __init__(self) -> None:
        self.data: dict[str, dict[bytes, bytes]] = {}

    def hget(self, name, key):
        return self.data.get(name, {}).get(key.encode())

    def hset(self, name, key, value):
        self.data.setdefault(name, {})[key.encode()] = value

    def hsetnx(self, name, key, value):
        h = self.data.setdefault(name, {})
        if key.encode() in h:
            return 0
        h[key.encode()] = value
        return 1

    def hdel(self, name, key):
        return 1 if self.data.get(name, {}).pop(key.encode(), None) is not None else 0

    def hkeys(self, name):
        return list(self.data.get(name, {}))

    def hgetall(self, name):
        return dict(self.data.get(name, {}))

    def delete(self, name):
        self.data.pop(name, None)

    def close(self):
        pass


def test_redis_store_with_fake_client() -> None:
    client = FakeRedis()
    store = RedisKV(client=client)
    _exercise(store)
    assert "kuiper:rules" in client.data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[int]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not installed")
    port = _free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.integration
def test_redis_store_real_server(redis_server: int, tmp_path: Path) -> None:
    pytest.importorskip("redis")
    store = open_store(tmp_path, {"type": "redis", "redis": {"host": "127.0.0.1", "port": redis_server}})
    assert isinstance(store, RedisKV)
    _exercise(store)
    store.close()
