"""Data-driven join, table and analytic-function rules, driven through the operator chain.

Each YAML case: `stream` (one CREATE STREAM/TABLE or a list), `sql`, optional `options`,
`input` (events in arrival order; `_s` names the stream or table an event belongs to, default
the first; `ts` is the clock / event time, `_t` a clock time kept out of the row),
`lookup` (memory lookup tables: {topic: [rows]} published before the rule runs), `expected`
(one list of rows per emission) and optional `late_rows`, `lookup_calls`, `plan_error`.
Processing-time cases tick the clock to each event's time first; `finish()` ends the input.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import kuiper.io  # noqa: F401  (registers the memory lookup source)
from kuiper.api.batch import Batch
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.errors import PlanError
from kuiper.io.pubsub import BUS
from kuiper.operators.join_lookup import LookupJoinOp
from kuiper.planner import plan_rule
from kuiper.runtime import registry
from kuiper.sql import parse

CASES = [(p.stem, c) for p in sorted(Path(__file__).parent.glob("*.yaml"))
         for c in yaml.safe_load(p.read_text())]


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, list):
        return [_round(x) for x in v]
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    return v


class Chain:
    def __init__(self, ops: list) -> None:
        self.ops = ops
        self.emissions: list[list[dict]] = []

    def _push(self, batch: Batch | None, start: int, index: int | None = None) -> None:
        for pos, op in enumerate(self.ops[start:]):
            if batch is None or batch.n == 0:
                return
            batch = op.process(batch, index) if pos == 0 and index is not None else op.process(batch)
        if batch is not None and batch.n:
            rows = batch.to_rows()
            self.emissions += [rows[a:b] for a, b in batch.emissions()]

    def feed(self, batch: Batch, index: int | None) -> None:
        self._push(batch, 0, index)

    def tick(self, now: int) -> None:
        for i, op in enumerate(self.ops):
            if op.needs_timer:
                self._push(op.on_time(now), i + 1)

    def finish(self) -> None:
        for i, op in enumerate(self.ops):
            self._push(op.finish(), i + 1)


def _catalog(case: dict) -> Catalog:
    cat = Catalog()
    streams = case["stream"] if isinstance(case["stream"], list) else [case["stream"]]
    for s in streams:
        cat.add_stream(parse(s).definition)
    return cat


def _bind_lookups(ops: list) -> list[Any]:
    bound = []
    for op in ops:
        if isinstance(op, LookupJoinOp):
            table = op.lookup_table
            src = registry.get_lookup_factory(table.source_type)()
            conf = {"key": table.options.get("KEY", "")}
            src.configure(table.datasource, conf)
            op.bind(src, {"lookup": {"cache": True}} if table.options.get("CACHE") else conf)
            op.open(None)
            bound.append((op, src))
    return bound


def run_case(case: dict, one_batch: bool = False) -> tuple[list[list[dict]], list]:
    plan = plan_rule(RuleDef(case["name"], case["sql"], options=case.get("options", {})),
                     _catalog(case))
    bound = _bind_lookups(plan.operators)
    for topic, rows in (case.get("lookup") or {}).items():
        BUS.publish(topic, rows)
    chain = Chain(plan.operators)
    names = [s.name for s in plan.sources]
    multi = len(names) > 1
    events = []
    for e in case["input"]:
        e = dict(e)
        s = e.pop("_s", names[0])
        t = int(e.pop("_t", e.get("ts", 0)))
        events.append((names.index(s), t, e))
    try:
        if one_batch:
            for idx in sorted({i for i, _, _ in events}, key=lambda i: (i != 0, i)):
                part = [(t, e) for i, t, e in events if i == idx]
                chain.feed(Batch.from_rows([e for _, e in part],
                                           timestamps=np.array([t for t, _ in part])),
                           idx if multi else None)
        else:
            for idx, t, e in events:
                chain.tick(t)
                chain.feed(Batch.from_rows([e], timestamps=np.array([t], dtype=np.int64)),
                           idx if multi else None)
        if "end" in case:
            chain.tick(int(case["end"]))
        chain.finish()
    finally:
        for _op, src in bound:
            src.close(None)
    return chain.emissions, plan.operators


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[f"{f}:{c['name']}" for f, c in CASES])
def test_join_case(case: dict) -> None:
    if "plan_error" in case:
        with pytest.raises(PlanError, match=case["plan_error"]):
            run_case(case)
        return
    emissions, ops = run_case(case)
    assert _round(emissions) == _round(case["expected"])
    if "late_rows" in case:
        assert ops[0].late_rows_total == case["late_rows"]
    if "lookup_calls" in case:
        op = next(o for o in ops if isinstance(o, LookupJoinOp))
        assert op.lookup_calls_total == case["lookup_calls"]
    if case.get("batched", True) and case.get("options", {}).get("isEventTime"):
        batched, _ = run_case(case, one_batch=True)
        assert _round(batched) == _round(case["expected"])
