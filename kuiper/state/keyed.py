"""Keyed state: the process-wide key -> value table get_keyed_state() reads (eKuiper's external
state, `internal/keyedstate`).

Values live in the KV store under namespace `keyed_state`, one JSON text per key, so another
process (or `redis-cli HSET keyed_state dev1 21.5` with a Redis store) can set them. The engine
binds its store at start (`bind`); until then, and for rules run without an engine, reads use
an in-memory table.
"""
from __future__ import annotations

import json
import threading
from typing import Any

from kuiper.state.kv import KVStore

NAMESPACE = "keyed_state"
_MISSING = object()

_lock = threading.Lock()
_store: KVStore | None = None
_memory: dict[str, str] = {}


def bind(store: KVStore | None) -> None:
    """Read and write keyed state through `store` (None: back to the in-memory table)."""
    global _store
    with _lock:
        _store = store


def release(store: KVStore) -> None:
    """Stop using `store` if it is the bound one (its engine closes)."""
    global _store
    with _lock:
        if _store is store:
            _store = None


def set_state(key: str, value: Any) -> None:
    """Store `value` (any JSON value) under `key`."""
    text = json.dumps(value)
    with _lock:
        store = _store
        if store is None:
            _memory[key] = text
            return
    store.set(NAMESPACE, key, text)


def get_state(key: str, default: Any = None) -> Any:
    """The value under `key`, or `default` when there is none. A value that is not JSON text
    (written by hand) is returned as the text itself."""
    with _lock:
        store = _store
        raw: Any = _memory.get(key, _MISSING) if store is None else _MISSING
    if store is not None:
        got = store.get(NAMESPACE, key)
        raw = _MISSING if got is None else got.decode("utf-8", errors="replace")
    if raw is _MISSING:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def clear() -> None:
    """Drop every key (tests; eKuiper's ClearKeyedState)."""
    with _lock:
        store = _store
        _memory.clear()
    if store is not None:
        store.clear(NAMESPACE)
