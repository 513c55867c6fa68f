"""The driver of the data-driven window and join cases (windows/*.yaml, joins/*.yaml): a rule
planned from its SQL and its operator chain driven directly on a manual clock.

Each YAML case: `stream` (one CREATE STREAM/TABLE or a list), `sql`, optional `options` (rule
options), `input` (events in arrival order; `_s` names the stream or table an event belongs
to, default the first; `ts` is the clock / event time, `_t` a clock time kept out of the row),
`expected` (one list of rows per emission, in order) and optional `late_rows` (the first
operator's late count), `plan_error`, `end` (a last clock tick), `finish: false` (leave open
what is open at the end) and `batched: false` (skip the one-batch rerun).
Processing-time cases move the clock to each event's time before feeding it (timers fire
first), and `finish()` closes what is open at the end. Event-time cases also run with each
stream's whole input as one batch: batching must not change results.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
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


def load_cases(folder: Path) -> list[tuple[str, dict]]:
    """(file stem, case) for every case of every *.yaml file in `folder`."""
    return [(p.stem, c) for p in sorted(folder.glob("*.yaml"))
            for c in yaml.safe_load(p.read_text())]


def parametrize_cases(folder: Path) -> Any:
    """`@pytest.mark.parametrize("case", ...)` over load_cases(folder), ids `file:name`."""
    cases = load_cases(folder)
    return pytest.mark.parametrize("case", [c for _, c in cases],
                                   ids=[f"{f}:{c['name']}" for f, c in cases])


def round_floats(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, list):
        return [round_floats(x) for x in v]
    if isinstance(v, dict):
        return {k: round_floats(x) for k, x in v.items()}
    return v


class Chain:
    """An operator chain driven by hand; `emissions` collects the rows of each emission."""

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

    def feed(self, batch: Batch, index: int | None = None) -> None:
        """Feed the first operator; `index` is the input's position for a multi-input one."""
        self._push(batch, 0, index)

    def tick(self, now: int) -> None:
        for i, op in enumerate(self.ops):
            if op.needs_timer:
                self._push(op.on_time(now), i + 1)

    def finish(self) -> None:
        for i, op in enumerate(self.ops):
            self._push(op.finish(), i + 1)


def catalog(case: dict) -> Catalog:
    cat = Catalog()
    streams = case["stream"] if isinstance(case["stream"], list) else [case["stream"]]
    for s in streams:
        cat.add_stream(parse(s).definition)
    return cat


def run_case(case: dict, one_batch: bool = False,
             bind: Callable[[dict, list], AbstractContextManager[Any]] | None = None,
             ) -> tuple[list[list[dict]], list]:
    """The case's emissions and its operators. `bind(case, operators)`, if given, is a context
    entered after planning and left at the end (e.g. to open and close lookup tables)."""
    plan = plan_rule(RuleDef(case["name"], case["sql"], options=case.get("options", {})),
                     catalog(case))
    with bind(case, plan.operators) if bind is not None else nullcontext():
        chain = Chain(plan.operators)
        names = [s.name for s in plan.sources]
        multi = len(names) > 1
        events = []
        for e in case["input"]:
            e = dict(e)
            s = e.pop("_s", names[0])
            t = int(e.pop("_t", e.get("ts", 0)))
            events.append((names.index(s), t, e))
        if one_batch:
            for idx in sorted({i for i, _, _ in events}, key=lambda i: (i != 0, i)):
                part = [(t, e) for i, t, e in events if i == idx]
                chain.feed(Batch.from_rows([e for _, e in part],
                                           timestamps=np.array([t for t, _ in part],
                                                               dtype=np.int64)),
                           idx if multi else None)
        else:
            for idx, t, e in events:
                chain.tick(t)
                chain.feed(Batch.from_rows([e], timestamps=np.array([t], dtype=np.int64)),
                           idx if multi else None)
        if "end" in case:
            chain.tick(int(case["end"]))
        if case.get("finish", True):
            chain.finish()
    return chain.emissions, plan.operators


def check_case(case: dict, run: Callable[..., tuple[list[list[dict]], list]] = run_case,
               more: Callable[[dict, list], None] | None = None) -> None:
    """Run `case` with `run` (run_case or a wrapper of it) and check what it expects;
    `more(case, operators)` adds checks of a test module's own."""
    if "plan_error" in case:
        with pytest.raises(PlanError, match=case["plan_error"]):
            run(case)
        return
    emissions, ops = run(case)
    assert round_floats(emissions) == round_floats(case["expected"])
    if "late_rows" in case:
        assert ops[0].late_rows_total == case["late_rows"]
    if more is not None:
        more(case, ops)
    if case.get("batched", True) and case.get("options", {}).get("isEventTime"):
        batched, _ = run(case, one_batch=True)
        assert round_floats(batched) == round_floats(case["expected"])
