"""Data-driven join, table and analytic-function rules, driven through the operator chain.

The YAML cases are those of operator_cases.py (tests/rules), plus `lookup` (memory lookup
tables: {topic: [rows]} published before the rule runs) and `lookup_calls` (the lookup
join's call count).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from operator_cases import check_case, parametrize_cases, run_case

import kuiper.io  # noqa: F401  (registers the memory lookup source)
from kuiper.io.pubsub import BUS
from kuiper.operators.join_lookup import LookupJoinOp
from kuiper.runtime import registry


@contextmanager
def _lookups(case: dict, ops: list) -> Iterator[None]:
    """Open the lookup tables of the lookup joins, publish the case's rows, close them after."""
    bound = []
    for op in ops:
        if isinstance(op, LookupJoinOp):
            table = op.lookup_table
            src = registry.get_lookup_factory(table.source_type)()
            conf = {"key": table.options.get("KEY", "")}
            src.configure(table.datasource, conf)
            op.bind(src, {"lookup": {"cache": True}} if table.options.get("CACHE") else conf)
            op.open(None)
            bound.append(src)
    for topic, rows in (case.get("lookup") or {}).items():
        BUS.publish(topic, rows)
    try:
        yield
    finally:
        for src in bound:
            src.close(None)


def _run(case: dict, one_batch: bool = False) -> tuple[list[list[dict]], list]:
    return run_case(case, one_batch, bind=_lookups)


def _lookup_calls(case: dict, ops: list) -> None:
    if "lookup_calls" in case:
        op = next(o for o in ops if isinstance(o, LookupJoinOp))
        assert op.lookup_calls_total == case["lookup_calls"]


@parametrize_cases(Path(__file__).parent)
def test_join_case(case: dict) -> None:
    check_case(case, _run, _lookup_calls)
