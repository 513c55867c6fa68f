"""Aggregate calls, GROUP BY keys, HAVING and ORDER BY -> aggregate/having/order operators.

The `AggregateCollector` is the expression compiler's hook for aggregate calls: each distinct
call becomes an `AggCall` computing a hidden column (`__agg_0`, ...) per group, and the call
site compiles to a reference to that column, so SELECT and HAVING expressions around
aggregates (`avg(t) * 2`, `count(*) > 3`) evaluate over the aggregated rows like any field.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlglot import exp

from kuiper.api.batch import ANY, BIGINT, FLOAT, STRUCT, Column
from kuiper.errors import PlanError
from kuiper.expr import nodes as n
from kuiper.expr.compile import Scope, compile_expression
from kuiper.expr.nulls import truth
from kuiper.operators.base import Operator

if TYPE_CHECKING:  # the aggregate functions and operators load with a rule's first aggregate
    from kuiper.functions.aggregates import Groups
    from kuiper.operators.aggregate import AggCall


class RowObjects(n.Node):
    """`*` inside collect(*) / deduplicate: each row as a map of its (visible) fields."""

    kind = STRUCT

    def eval(self, ec: n.EvalContext) -> Column:
        names = [k for k in ec.batch.columns if not k.startswith("__")]
        lists = [ec.batch.columns[k].to_pylist() for k in names]
        rows = [{k: v for k, v in zip(names, vals) if v is not None} for vals in zip(*lists)]
        if not names:
            rows = [{} for _ in range(ec.n)]
        return Column.from_values(rows, STRUCT)


class AggregateCollector:
    """Turns aggregate calls into `AggCall`s while the rule's expressions compile."""

    def __init__(self) -> None:
        self.calls: list[AggCall] = []
        self._by_sql: dict[str, n.FieldRef] = {}
        self._forbidden: str | None = None

    def handles(self, lname: str) -> bool:
        from kuiper.functions.aggregates import AGGREGATES

        return lname in AGGREGATES

    @contextmanager
    def forbidden(self, clause: str):
        """Aggregates are not allowed while compiling `clause` (WHERE, GROUP BY, arguments)."""
        prev, self._forbidden = self._forbidden, clause
        try:
            yield
        finally:
            self._forbidden = prev

    def add(self, node: exp.Anonymous, scope: Scope, *, where: exp.Expression | None = None,
            key: str | None = None) -> n.Node:
        """The reference to the call's per-group column; `where` (FILTER (WHERE …)) keeps the
        rows the aggregate sees (`key`: the SQL text of the whole filtered call)."""
        from kuiper.functions.aggregates import AGGREGATES
        from kuiper.operators.aggregate import AGG_PREFIX, AggCall

        name = str(node.this)
        lname = name.lower()
        if self._forbidden:
            raise PlanError(f"aggregate function {name} is not allowed in {self._forbidden}",
                            hint="aggregates go in SELECT and HAVING")
        key = key or node.sql().lower()
        if key in self._by_sql:
            return self._by_sql[key]
        d = AGGREGATES[lname]
        args = list(node.expressions)
        if not d.min_args <= len(args) <= d.max_args:
            want = d.min_args if d.min_args == d.max_args else f"{d.min_args} to {d.max_args}"
            raise PlanError(f"function {name} takes {want} arguments, got {len(args)}")
        compiled: list[n.Node] = []
        with self.forbidden(f"the arguments of {name}"):
            for a in args:
                if isinstance(a, exp.Star):
                    if not d.star:
                        raise PlanError(f"{name}(*) is not supported")
                    if lname == "collect":
                        compiled.append(RowObjects())
                    continue
                compiled.append(compile_expression(a, scope))
        if lname == "deduplicate":
            compiled.append(RowObjects())
        kind = d.return_kind
        if kind is None and compiled:
            arg_kind = compiled[0].kind
            if lname == "avg":
                kind = arg_kind if arg_kind in (BIGINT, FLOAT) else None
            elif lname in ("sum", "max", "min", "last_value"):
                kind = arg_kind if arg_kind != ANY else None
        compute = d.compute
        if where is not None:
            with self.forbidden("FILTER (WHERE ...)"):
                compiled.append(compile_expression(where, scope))
            compute = _filtered(d.compute)
        out = f"{AGG_PREFIX}{len(self.calls)}"
        self.calls.append(AggCall(out, lname, compiled, compute))
        ref = n.FieldRef(out, kind)
        self._by_sql[key] = ref
        return ref

    def add_function(self, node: exp.Anonymous, fdef: Any, scope: Scope) -> n.Node:
        """An aggregate function from the registry (a plugin): computed per group by calling
        the function once per group with the group's rows."""
        from kuiper.operators.aggregate import AGG_PREFIX, AggCall

        name = str(node.this)
        if self._forbidden:
            raise PlanError(f"aggregate function {name} is not allowed in {self._forbidden}",
                            hint="aggregates go in SELECT and HAVING")
        key = node.sql()
        if key in self._by_sql:
            return self._by_sql[key]
        with self.forbidden(f"the arguments of {name}"):
            compiled = [compile_expression(a, scope) for a in node.expressions
                        if not isinstance(a, exp.Star)]
        check = getattr(fdef, "check", None) or getattr(fdef, "validate", None)
        if check is not None:
            msg = check([c.value if isinstance(c, n.Const) else c for c in compiled])
            if msg:
                raise PlanError(f"{name}: {msg}")
        out = f"{AGG_PREFIX}{len(self.calls)}"
        compute = FunctionAggregate(name, fdef, node.meta.get("func_id", -1))
        self.calls.append(AggCall(out, name, compiled, compute))
        ref = n.FieldRef(out, getattr(fdef, "return_kind", None))
        self._by_sql[key] = ref
        return ref

    @property
    def hidden(self) -> tuple[str, ...]:
        return tuple(c.out for c in self.calls)


def _filtered(compute: Any) -> Any:
    """An aggregate's compute over the rows where its last argument (the FILTER condition) is
    true; every group keeps its place (an emptied group gives the empty value: nil, count 0)."""
    from kuiper.functions.aggregates import Groups

    def run(args: list[Column], groups: Groups) -> Column:
        keep = np.flatnonzero(truth(args[-1]))
        kept = [a.take(keep) if len(a) == len(groups.ids) else a for a in args[:-1]]
        return compute(kept, Groups(groups.ids[keep], groups.n))

    return run


class FunctionAggregate:
    """`AggCall.compute` of a registry aggregate (a plugin's `is_aggregate()` function): one
    `exec_batch` per group over the group's rows. `func_id`/`func_ctx` as on `Call`: the
    runtime binds the call site's FunctionContext."""

    def __init__(self, name: str, fdef: Any, func_id: int) -> None:
        self.name = name
        self.fdef = fdef
        self.func_id = func_id
        self.func_ctx: Any = None

    def __call__(self, args: list[Column], groups: Groups) -> Column:
        total = len(groups.ids)
        cols = [c.take(np.zeros(total, dtype=np.intp)) if len(c) == 1 and total != 1 else c
                for c in args]
        rows, offsets = groups.order()
        bounds = offsets.tolist()
        out: list[Any] = []
        for g in range(groups.n):
            idx = rows[bounds[g]:bounds[g + 1]]
            part = [c.take(idx) for c in cols]
            out.append(self.fdef.exec_batch(part, len(idx), self.func_ctx).to_pylist()[0])
        return Column.from_values(out)


def order_keys(select: exp.Select, scope: Scope) -> list[tuple[n.Node, bool]]:
    """ORDER BY expressions (a SELECT alias stands for its expression)."""
    order = select.args.get("order")
    if order is None:
        return []
    aliases = {e.alias: e.this for e in select.expressions if isinstance(e, exp.Alias)}
    keys = []
    for o in order.expressions:
        body = o.this
        if isinstance(body, exp.Column) and not body.table and body.name in aliases:
            body = aliases[body.name]
        keys.append((compile_expression(body, scope), bool(o.args.get("desc"))))
    return keys


def aggregate_ops(select: exp.Select, scope: Scope, collector: AggregateCollector,
                  key_exprs: list[exp.Expression], windowed: bool, having: n.Node | None,
                  order: list[tuple[n.Node, bool]], name_of: Any) -> list[Operator]:
    """The aggregate, having and order operators a rule needs (possibly none)."""
    ops: list[Operator] = []
    if not (key_exprs or collector.calls or having is not None or order):
        return ops
    from kuiper.functions.aggregates import Groups
    from kuiper.operators.aggregate import AggregateOp, HavingOp, OrderOp

    if key_exprs or collector.calls:
        with collector.forbidden("GROUP BY"):
            keys = [compile_expression(k, scope) for k in key_exprs]
        ops.append(AggregateOp(name_of(ops, "aggregate"), keys, collector.calls, Groups, windowed))
    if having is not None:
        if not (windowed or ops):
            raise PlanError("HAVING needs GROUP BY, a window or an aggregate")
        ops.append(HavingOp(name_of(ops, "having"), having))
    if order:
        ops.append(OrderOp(name_of(ops, "order"), order))
    return ops
