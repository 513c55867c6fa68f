"""The key-value store: a small protocol with SQLite (default) and Redis implementations.

Keys live in namespaces (one SQLite table, or one Redis hash, per namespace). Values are bytes;
a `str` given to `set` is stored UTF-8 encoded. Callers choose the encoding of their values
(catalog definitions use JSON, extension state uses pickle).
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kuiper.errors import ConfigError

log = logging.getLogger(__name__)

_NS_RE = re.compile(r"^[A-Za-z0-9_]+$")


def _as_bytes(value: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


@runtime_checkable
class KVStore(Protocol):
    """Namespaced bytes-valued storage, safe to call from several threads."""

    def get(self, namespace: str, key: str) -> bytes | None: ...

    def set(self, namespace: str, key: str, value: bytes | str) -> None: ...

    def setnx(self, namespace: str, key: str, value: bytes | str) -> bool: ...

    def delete(self, namespace: str, key: str) -> bool: ...

    def keys(self, namespace: str) -> list[str]: ...

    def items(self, namespace: str) -> dict[str, bytes]: ...

    def clear(self, namespace: str) -> None: ...

    def close(self) -> None: ...


class KVTable:
    """One namespace of a store, so callers need not repeat it."""

    def __init__(self, store: KVStore, namespace: str) -> None:
        self.store = store
        self.namespace = namespace

    def get(self, key: str) -> bytes | None:
        return self.store.get(self.namespace, key)

    def set(self, key: str, value: bytes | str) -> None:
        self.store.set(self.namespace, key, value)

    def setnx(self, key: str, value: bytes | str) -> bool:
        return self.store.setnx(self.namespace, key, value)

    def delete(self, key: str) -> bool:
        return self.store.delete(self.namespace, key)

    def keys(self) -> list[str]:
        return self.store.keys(self.namespace)

    def items(self) -> dict[str, bytes]:
        return self.store.items(self.namespace)

    def clear(self) -> None:
        self.store.clear(self.namespace)


def table(store: KVStore, namespace: str) -> KVTable:
    """A view of one namespace of `store`."""
    return KVTable(store, namespace)


class SqliteKV:
    """SQLite store: one table `kv_{namespace}` per namespace, WAL journal, one locked connection."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        import sqlite3  # only when a store is opened (qos >= 1, saved state, the server)

        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._tables: set[str] = set()

    def _table(self, namespace: str, create: bool) -> str | None:
        if not _NS_RE.match(namespace):
            raise ConfigError(f"invalid KV namespace '{namespace}'",
                              hint="use letters, digits and underscores")
        name = f"kv_{namespace}"
        if name in self._tables:
            return name
        row = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
        if row is None:
            if not create:
                return None
            self._conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{name}" (key TEXT PRIMARY KEY, value BLOB NOT NULL)')
        self._tables.add(name)
        return name

    def get(self, namespace: str, key: str) -> bytes | None:
        with self._lock:
            name = self._table(namespace, create=False)
            if name is None:
                return None
            row = self._conn.execute(f'SELECT value FROM "{name}" WHERE key=?', (key,)).fetchone()
        return None if row is None else _as_bytes(row[0])

    def set(self, namespace: str, key: str, value: bytes | str) -> None:
        with self._lock:
            name = self._table(namespace, create=True)
            self._conn.execute(f'INSERT OR REPLACE INTO "{name}" (key, value) VALUES (?, ?)',
                               (key, _as_bytes(value)))

    def setnx(self, namespace: str, key: str, value: bytes | str) -> bool:
        """Set only if absent; True when the value was written."""
        with self._lock:
            name = self._table(namespace, create=True)
            cur = self._conn.execute(f'INSERT OR IGNORE INTO "{name}" (key, value) VALUES (?, ?)',
                                     (key, _as_bytes(value)))
            return cur.rowcount == 1

    def delete(self, namespace: str, key: str) -> bool:
        with self._lock:
            name = self._table(namespace, create=False)
            if name is None:
                return False
            cur = self._conn.execute(f'DELETE FROM "{name}" WHERE key=?', (key,))
            return cur.rowcount > 0

    def keys(self, namespace: str) -> list[str]:
        with self._lock:
            name = self._table(namespace, create=False)
            if name is None:
                return []
            return [r[0] for r in self._conn.execute(f'SELECT key FROM "{name}" ORDER BY key')]

    def items(self, namespace: str) -> dict[str, bytes]:
        with self._lock:
            name = self._table(namespace, create=False)
            if name is None:
                return {}
            rows = self._conn.execute(f'SELECT key, value FROM "{name}" ORDER BY key').fetchall()
        return {k: _as_bytes(v) for k, v in rows}

    def clear(self, namespace: str) -> None:
        with self._lock:
            name = self._table(namespace, create=False)
            if name is not None:
                self._conn.execute(f'DELETE FROM "{name}"')

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class RedisKV:
    """Redis store: one hash `{prefix}:{namespace}` per namespace (needs the `redis` package)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6379, *, db: int = 0,
                 password: str | None = None, timeout: float = 5.0,
                 prefix: str = "kuiper", client: Any = None) -> None:
        if client is None:
            try:
                import redis
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ConfigError("the redis KV store needs the 'redis' package",
                                  hint="pip install 'kuiper-engine[redis]'") from exc
            client = redis.Redis(host=host, port=port, db=db, password=password or None,
                                 socket_timeout=timeout, socket_connect_timeout=timeout)
        self._client = client
        self._prefix = prefix

    def _hash(self, namespace: str) -> str:
        return f"{self._prefix}:{namespace}"

    def get(self, namespace: str, key: str) -> bytes | None:
        value = self._client.hget(self._hash(namespace), key)
        return None if value is None else _as_bytes(value)

    def set(self, namespace: str, key: str, value: bytes | str) -> None:
        self._client.hset(self._hash(namespace), key, _as_bytes(value))

    def setnx(self, namespace: str, key: str, value: bytes | str) -> bool:
        return bool(self._client.hsetnx(self._hash(namespace), key, _as_bytes(value)))

    def delete(self, namespace: str, key: str) -> bool:
        return bool(self._client.hdel(self._hash(namespace), key))

    def keys(self, namespace: str) -> list[str]:
        raw = self._client.hkeys(self._hash(namespace))
        return sorted(k.decode() if isinstance(k, bytes) else k for k in raw)

    def items(self, namespace: str) -> dict[str, bytes]:
        raw = self._client.hgetall(self._hash(namespace))
        out = {(k.decode() if isinstance(k, bytes) else k): _as_bytes(v) for k, v in raw.items()}
        return dict(sorted(out.items()))

    def clear(self, namespace: str) -> None:
        self._client.delete(self._hash(namespace))

    def close(self) -> None:
        self._client.close()


def open_store(root: str | Path, conf: Mapping[str, Any] | None = None) -> KVStore:
    """The store described by the `store` section of kuiper.yaml (eKuiper's keys).

    `{type: sqlite|redis, sqlite: {name}, redis: {host, port, password, timeout, db}}`;
    SQLite (the default) lives at `{root}/data/{name or sqliteKV.db}`.
    """
    conf = dict(conf or {})
    kind = str(conf.get("type") or "sqlite").lower()
    if kind == "sqlite":
        sconf = conf.get("sqlite") or {}
        name = sconf.get("name") or "sqliteKV.db"
        return SqliteKV(Path(root) / "data" / name)
    if kind == "redis":
        rconf = conf.get("redis") or {}
        timeout = float(rconf.get("timeout", 5000)) / 1000.0  # eKuiper gives milliseconds
        return RedisKV(rconf.get("host", "127.0.0.1"), int(rconf.get("port", 6379)),
                       db=int(rconf.get("db", 0)), password=rconf.get("password"),
                       timeout=timeout)
    raise ConfigError(f"unknown store type '{kind}'", hint="use sqlite or redis")
