"""Lookup joins query the connector once per batch with the distinct keys, and cache."""
from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from kuiper.api import LookupSource
from kuiper.api.batch import Batch
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.operators.join_lookup import LookupCache, LookupJoinOp
from kuiper.planner import plan_rule
from kuiper.sql import parse

TABLE = {"a": [{"id": "a", "name": "A"}], "b": [{"name": "B"}]}  # a value need not hold its key


class Recording(LookupSource):
    def __init__(self) -> None:
        self.calls: list[list[list[Any]]] = []

    def lookup_batch(self, ctx: Any, fields: list[str], keys: list[str],
                     values_list: list[list[Any]]) -> list[list[dict[str, Any]]]:
        assert keys == ["id"]
        self.calls.append(values_list)
        return [TABLE.get(v[0], []) for v in values_list]


class AsyncOneByOne(LookupSource):
    def __init__(self) -> None:
        self.calls = 0

    async def lookup(self, ctx: Any, fields: list[str], keys: list[str],
                     values: list[Any]) -> list[dict[str, Any]]:
        self.calls += 1
        await asyncio.sleep(0)
        return TABLE.get(values[0], [])


def _op(kind: str = "INNER") -> LookupJoinOp:
    cat = Catalog()
    cat.add_stream(parse('CREATE STREAM s (k string, v bigint) WITH (TYPE="memory", '
                         'DATASOURCE="s")').definition)
    cat.add_stream(parse('CREATE TABLE t () WITH (TYPE="memory", DATASOURCE="t", '
                         'KIND="lookup", KEY="id")').definition)
    plan = plan_rule(RuleDef("r", f"SELECT s.v, t.name FROM s {kind} JOIN t ON s.k = t.id"), cat)
    op = plan.operators[0]
    assert isinstance(op, LookupJoinOp)
    return op


def _batch(keys: list[str | None]) -> Batch:
    return Batch.from_rows([{"k": k, "v": i} for i, k in enumerate(keys)],
                           timestamps=np.arange(len(keys)))


def test_one_call_per_batch_with_distinct_keys() -> None:
    op = _op()
    src = Recording()
    op.bind(src, {})
    out = op.process(_batch(["a", "b", "a", None, "c", "b"]))
    assert src.calls == [[["a"], ["b"], ["c"]]]
    rows = out.to_rows()
    assert [r["s.v"] for r in rows] == [0, 1, 2, 5]
    assert [r["t.name"] for r in rows] == ["A", "B", "A", "B"]
    assert op.metrics()["lookup_keys_total"] == 3


def test_left_join_keeps_rows_without_a_match() -> None:
    op = _op("LEFT")
    op.bind(Recording(), {})
    rows = op.process(_batch(["c", "a"])).to_rows()
    assert [(r["s.v"], r.get("t.name")) for r in rows] == [(0, None), (1, "A")]


def test_cache_ttl_and_missing_keys() -> None:
    now = [0.0]
    op = _op()
    src = Recording()
    op.bind(src, {})
    op.cache = LookupCache(True, 10, cache_missing=False, clock=lambda: now[0])
    op.process(_batch(["a", "c"]))
    op.process(_batch(["a", "c"]))
    assert src.calls == [[["a"], ["c"]], [["c"]]]  # a cached, the miss c asked again
    now[0] = 11.0
    op.process(_batch(["a"]))
    assert src.calls[-1] == [["a"]]  # expired
    assert op.cache.hits_total == 1


def test_async_connector_is_awaited() -> None:
    op = _op()
    src = AsyncOneByOne()
    op.bind(src, {})
    pending = op.process(_batch(["a", "b", "a"]))
    out = asyncio.run(pending)
    assert src.calls == 2
    assert [r["t.name"] for r in out.to_rows()] == ["A", "B", "A"]
