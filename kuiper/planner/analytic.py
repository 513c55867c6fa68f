"""Analytic calls (lag, latest, changed_col, had_changed, acc_*) -> one AnalyticOp run first.

The `AnalyticCollector` is the expression compiler's `Scope.analytics` hook: every analytic
call (with or without `OVER (PARTITION BY … WHEN …)`) becomes an `AnalyticCall` computing a
hidden column, and the call site compiles to a reference to it; a call is computed once per
distinct SQL text.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from kuiper.errors import PlanError
from kuiper.expr import nodes as n
from kuiper.expr.compile import Scope, compile_expression
from kuiper.operators.base import Operator

if TYPE_CHECKING:  # the analytic operator loads with a rule's first analytic call
    from kuiper.operators.analytic import AnalyticCall

_ARITY = {"lag": (1, 4), "latest": (1, 2), "changed_col": (2, 2), "had_changed": (2, 99),
          "acc_sum": (1, 1), "acc_min": (1, 1), "acc_max": (1, 1), "acc_count": (1, 1),
          "acc_avg": (1, 1), "change_capture": (2, 4), "change_to": (1, 3),
          "consecutive_count": (1, 1), "consecutive_start": (2, 2)}


class AnalyticCollector:
    def __init__(self) -> None:
        self.calls: list[AnalyticCall] = []
        self._by_sql: dict[str, n.FieldRef] = {}

    def handles(self, lname: str) -> bool:
        from kuiper.operators.analytic import ANALYTIC_FUNCS

        return lname in ANALYTIC_FUNCS

    def add(self, node: exp.Expression, scope: Scope) -> n.Node:
        from kuiper.operators.analytic import AN_PREFIX, ANALYTIC_FUNCS, AnalyticCall

        over = node if isinstance(node, exp.Window) else None
        call = over.this if over is not None else node
        if not isinstance(call, exp.Anonymous) or str(call.this).lower() not in ANALYTIC_FUNCS:
            raise PlanError(f"OVER applies to analytic functions ({', '.join(ANALYTIC_FUNCS)}): "
                            f"{node.sql()}")
        key = node.sql().lower()
        if key in self._by_sql:
            return self._by_sql[key]
        name = str(call.this).lower()
        args = list(call.expressions)
        lo, hi = _ARITY[name]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise PlanError(f"function {name} takes {want} arguments, got {len(args)}")
        if any(isinstance(a, exp.Star) for a in args):
            raise PlanError(f"{name}(*) is not supported; name the fields")
        compiled = [compile_expression(a, scope) for a in args]
        partition: list[n.Node] = []
        when = None
        if over is not None:
            partition = [compile_expression(p, scope) for p in over.args.get("partition_by") or []]
            if over.args.get("when") is not None:
                when = compile_expression(over.args["when"], scope)
        out = f"{AN_PREFIX}{len(self.calls)}"
        self.calls.append(AnalyticCall(out, name, compiled, partition, when))
        kind = {"had_changed": "boolean", "acc_count": "bigint", "acc_avg": "float",
                "change_to": "boolean", "consecutive_count": "bigint"}.get(name)
        if kind is None and name in ("lag", "latest", "changed_col", "acc_min", "acc_max",
                                     "change_capture", "consecutive_start"):
            arg = compiled[1] if name in ("changed_col", "consecutive_start") else compiled[0]
            kind = arg.kind
        ref = n.FieldRef(out, kind)
        self._by_sql[key] = ref
        return ref

    @property
    def hidden(self) -> tuple[str, ...]:
        return tuple(c.out for c in self.calls)


def with_analytics(ops: list[Operator], collector: AnalyticCollector) -> list[Operator]:
    """The operators with the analytic operator first (names renumbered: "2_analytic", ...)."""
    if not collector.calls:
        return ops
    from kuiper.operators.analytic import AnalyticOp

    out: list[Operator] = [AnalyticOp("analytic", collector.calls), *ops]
    for i, op in enumerate(out):
        kind = op.name.split("_", 1)[1] if "_" in op.name else op.name
        op.name = f"{i + 2}_{kind}"
    return out
