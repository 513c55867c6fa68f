"""Data-driven window rules: SQL + timed input + expected emissions, on a manual clock.

Each YAML case: `stream` (CREATE STREAM), `sql`, optional `options` (rule options), `input`
(events; `ts` is the clock / event time, `_t` a clock time kept out of the row), `expected`
(one list of rows per emission, in order) and optional `late_rows` (the window's late count).
Processing-time cases move the clock to each event's time before feeding it (timers fire
first), and `finish()` closes what is open at the end. Event-time cases also run with the
whole input as one batch: batching must not change results.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from kuiper.api.batch import Batch
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.errors import PlanError
from kuiper.planner import plan_rule
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

    def _push(self, batch: Batch | None, start: int) -> None:
        for op in self.ops[start:]:
            if batch is None or batch.n == 0:
                return
            batch = op.process(batch)
        if batch is not None and batch.n:
            rows = batch.to_rows()
            self.emissions += [rows[a:b] for a, b in batch.emissions()]

    def feed(self, batch: Batch) -> None:
        self._push(batch, 0)

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


def _rows(events: list[dict]) -> tuple[list[dict], list[int]]:
    rows, times = [], []
    for e in events:
        e = dict(e)
        t = e.pop("_t", e.get("ts", 0))
        rows.append(e)
        times.append(int(t))
    return rows, times


def run_case(case: dict, one_batch: bool = False) -> tuple[list[list[dict]], list]:
    plan = plan_rule(RuleDef(case["name"], case["sql"], options=case.get("options", {})),
                     _catalog(case))
    chain = Chain(plan.operators)
    rows, times = _rows(case["input"])
    if one_batch:
        chain.feed(Batch.from_rows(rows, timestamps=np.array(times, dtype=np.int64)))
    else:
        for row, t in zip(rows, times):
            chain.tick(t)
            chain.feed(Batch.from_rows([row], timestamps=np.array([t], dtype=np.int64)))
    if "end" in case:
        chain.tick(int(case["end"]))
    if case.get("finish", True):
        chain.finish()
    return chain.emissions, plan.operators


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[f"{f}:{c['name']}" for f, c in CASES])
def test_window_case(case: dict) -> None:
    if "plan_error" in case:
        with pytest.raises(PlanError, match=case["plan_error"]):
            run_case(case)
        return
    emissions, ops = run_case(case)
    assert _round(emissions) == _round(case["expected"])
    if "late_rows" in case:
        assert ops[0].late_rows_total == case["late_rows"]
    if case.get("options", {}).get("isEventTime"):
        batched, _ = run_case(case, one_batch=True)
        assert _round(batched) == _round(case["expected"])
