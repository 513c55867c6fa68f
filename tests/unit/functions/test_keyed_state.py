"""get_keyed_state() over the KV store (SQLite, as the engine binds it) and delay()."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fnhelpers import call

from kuiper.api.batch import DATETIME, Column
from kuiper.errors import EvalError
from kuiper.manage.engine import Engine
from kuiper.state import keyed
from kuiper.state.kv import SqliteKV


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteKV]:
    kv = SqliteKV(tmp_path / "data" / "kv.db")
    keyed.bind(kv)
    yield kv
    keyed.release(kv)
    kv.close()


def _state(key: object, kind: str, default: object) -> list[object]:
    return call("get_keyed_state", [key], Column.constant(kind, 1), [default]).to_pylist()


def test_values_are_cast_to_the_type(store: SqliteKV) -> None:
    keyed.set_state("temp", 21.5)
    keyed.set_state("on", True)
    store.set(keyed.NAMESPACE, "raw", "not json")  # written by hand: read as text
    assert _state("temp", "float", 0.0) == [21.5]
    assert _state("temp", "bigint", 0) == [21]
    assert _state("temp", "string", "") == ["21.5"]
    assert _state("on", "boolean", False) == [True]
    assert _state("raw", "string", "") == ["not json"]
    out = call("get_keyed_state", ["temp"], Column.constant("datetime", 1), [0])
    assert out.kind == DATETIME and out.to_pylist() == [21]
    assert store.get(keyed.NAMESPACE, "temp") == b"21.5"


def test_missing_key_gives_the_default(store: SqliteKV) -> None:
    assert _state("nothing", "float", 2.5) == [2.5]
    assert _state(None, "bigint", 3) == [3]


def test_a_value_that_does_not_cast_is_a_row_error(store: SqliteKV) -> None:
    keyed.set_state("word", "abc")
    with pytest.raises(EvalError, match="call func get_keyed_state error: cannot convert "
                                        "string\\(abc\\) to int"):
        _state("word", "bigint", 0)


def test_the_engine_binds_its_store(tmp_path: Path) -> None:
    async def scenario() -> list[object]:
        engine = Engine(tmp_path)
        try:
            engine.store.set(keyed.NAMESPACE, "dev1", "42")
            return _state("dev1", "bigint", 0)
        finally:
            await engine.close()

    assert asyncio.run(scenario()) == [42]
    assert _state("dev1", "bigint", 0) == [0]  # released with the engine


def test_delay_sleeps_once_per_batch_and_returns_the_value() -> None:
    start = time.perf_counter()
    out = call("delay", [30, 5], ["a", "b"])
    assert out.to_pylist() == ["a", "b"]
    assert time.perf_counter() - start >= 0.029


def test_a_default_of_another_type_is_kept(store: SqliteKV) -> None:
    keyed.set_state("t", 5)
    out = call("get_keyed_state", ["t", "nothing"], Column.constant("datetime", 2), ["never", "never"])
    assert out.to_pylist() == [5, "never"]
