"""Test connectors and helpers for runtime tests: hand-built plans, a list source, a collecting sink."""
from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

import kuiper.io  # noqa: F401  (registers the built-in connectors)
from kuiper.api import Batch, Column, Context, Sink, Source
from kuiper.catalog.defs import FieldDef, RuleDef, StreamDef
from kuiper.operators.base import Operator
from kuiper.planner.physical import PhysicalPlan, SourceSpec
from kuiper.runtime.registry import register_sink, register_source

RESULTS: dict[str, list[Any]] = defaultdict(list)
SOURCE_DATA: dict[str, list[dict[str, Any]]] = {}
CONTEXTS: dict[str, Context] = {}


@register_source("test_list")
class ListSource(Source):
    """Bounded: emits SOURCE_DATA[datasource] in emits of `chunk` rows, then EOF."""

    bounded = True

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.rows = SOURCE_DATA[datasource]
        self.chunk = int(conf.get("chunk", 1))

    async def open(self, ctx: Context) -> None:
        for i in range(0, len(self.rows), self.chunk):
            ctx.emit_rows(self.rows[i:i + self.chunk])
            await ctx.drain()
        ctx.emit_eof()


@register_source("test_push")
class PushSource(Source):
    """Unbounded: the test emits through CONTEXTS[datasource]."""

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.key = datasource

    async def open(self, ctx: Context) -> None:
        CONTEXTS[self.key] = ctx
        await asyncio.Event().wait()


@register_sink("test_collect")
class CollectSink(Sink):
    """Appends every message to RESULTS[key]; `delay` seconds per message (slow sink)."""

    def configure(self, conf: dict[str, Any]) -> None:
        self.key = conf.get("key", "default")
        self.gate: asyncio.Event | None = conf.get("gate")

    async def collect(self, ctx: Context, data: Any) -> None:
        if self.gate is not None:
            await self.gate.wait()
        RESULTS[self.key].append(data)


class MapOp(Operator):
    """Applies `fn` to the batch; records the input batch sizes."""

    def __init__(self, name: str = "2_project", fn: Callable[[Batch], Batch | None] | None = None):
        self.name = name
        self.fn = fn or (lambda b: b)
        self.sizes: list[int] = []
        self.finished = False

    def process(self, batch: Batch) -> Batch | None:
        self.sizes.append(batch.n)
        return self.fn(batch)

    def finish(self) -> Batch | None:
        self.finished = True
        return None


def stream(name: str = "demo", *, source_type: str = "test_list", datasource: str = "d",
           fields: tuple[FieldDef, ...] = (), **options: str) -> StreamDef:
    opts = {"TYPE": source_type, "DATASOURCE": datasource, **options}
    return StreamDef(name=name, fields=fields, options=opts)


def make_plan(
    streams: list[StreamDef] | StreamDef,
    operators: list[Operator],
    actions: list[dict[str, Any]],
    options: dict[str, Any] | None = None,
    rule_id: str = "r1",
    fields: list[str] | None = None,
) -> PhysicalPlan:
    streams = streams if isinstance(streams, list) else [streams]
    rule = RuleDef.from_json({"id": rule_id, "sql": "SELECT * FROM demo",
                              "actions": actions, "options": options or {}})
    return PhysicalPlan(rule, [SourceSpec(s, fields) for s in streams], operators)


def add_column(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Batch], Batch]:
    def apply(batch: Batch) -> Batch:
        cols = dict(batch.columns)
        cols[name] = Column.from_values(list(fn(batch.columns["a"].values)))
        return batch.with_columns(cols)

    return apply


async def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `cond` on the loop until true (fails the test on timeout)."""
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), timeout)
