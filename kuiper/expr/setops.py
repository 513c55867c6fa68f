"""Set and range tests: `x [NOT] IN (...)`, `x [NOT] IN array` and `x [NOT] BETWEEN lo AND hi`,
with eKuiper's nil and type rules (internal/xsql/valuer.go evalSetsExpr / evalBinaryExpr)."""
from __future__ import annotations

from typing import Any

import numpy as np

from kuiper.api.batch import BOOLEAN, Column, kind_of
from kuiper.expr import ops
from kuiper.expr.nodes import Const, EvalContext, Node
from kuiper.expr.nulls import bool_column
from kuiper.functions.gostyle import go_repr


class In(Node):
    """`x [NOT] IN (a, b, …)` or `x [NOT] IN arrayExpr`, as eKuiper's evalSetsExpr: a set that
    is not an array (nil, a number) makes IN false and NOT IN true; else a nil x gives nil; an
    element of another type than x is an error ("evaluate in expression error: ...")."""

    kind = BOOLEAN

    def __init__(self, operand: Node, items: list[Node] | None, array: Node | None, negate: bool) -> None:
        self.operand = operand
        self.items = items
        self.array = array
        self.negate = negate

    def children(self) -> tuple[Node, ...]:
        return (self.operand, *(self.items or ()), *((self.array,) if self.array else ()))

    def eval(self, ec: EvalContext) -> Column:
        col = self.operand.eval(ec)
        valid = col.validity()
        if self.items is not None and all(isinstance(i, Const) for i in self.items):
            consts = [i.value for i in self.items if i.value is not None]
            fast = None
            if col.dictionary is not None and all(isinstance(c, str) for c in consts):
                members = set(consts)
                lut = np.fromiter((s in members for s in col.dictionary), dtype=np.bool_,
                                  count=len(col.dictionary))
                fast = lut[col.values] if len(lut) else np.zeros(ec.n, dtype=np.bool_)
            elif col.kind in ops.NUMERIC and all(kind_of(c) in ("bigint", "float") for c in consts):
                fast = (np.isin(col.values, np.array(consts)) if consts
                        else np.zeros(ec.n, dtype=np.bool_))
            if fast is not None:
                res = ~fast if self.negate else fast
                return Column(BOOLEAN, res & valid, col.valid)
        vals = col.decoded().tolist()
        if self.items is not None:
            lists: list[Any] = list(zip(*[i.eval(ec).to_pylist() for i in self.items],
                                        strict=True)) or [()] * ec.n
        else:
            lists = self.array.eval(ec).to_pylist()
        res = np.zeros(ec.n, dtype=np.bool_)
        out_valid = np.ones(ec.n, dtype=np.bool_)
        for r, lst in enumerate(lists):
            if not isinstance(lst, list | tuple):  # not a set: IN false, NOT IN true
                res[r] = self.negate
                continue
            if not valid[r]:
                out_valid[r] = False
                continue
            try:
                found = _member(vals[r], lst)
            except TypeError as e:
                ec.errors.fail_row(r, f"evaluate in expression error: {e}")
                continue
            res[r] = found != self.negate
        return Column(BOOLEAN, res & out_valid, None if out_valid.all() else out_valid)


def _member(v: Any, items: Any) -> bool:
    """Whether `v` equals an item, in order; an item eKuiper cannot compare with `v` raises
    (valuer.go simpleDataEval EQ), a nil item never matches."""
    for it in items:
        if it is None:
            continue
        if ops.compare_values("=", v, it):
            return True
    return False


class Between(Node):
    """`x [NOT] BETWEEN lo AND hi` as eKuiper's evalBinaryExpr: (x >= lo) AND (x <= hi) with the
    nil rule of comparisons (so a nil x or bound gives false, and NOT BETWEEN true); types that
    cannot compare are "between operator cannot compare ..." errors."""

    kind = BOOLEAN

    def __init__(self, operand: Node, low: Node, high: Node, negate: bool) -> None:
        self.operand = operand
        self.low = low
        self.high = high
        self.negate = negate

    def children(self) -> tuple[Node, ...]:
        return (self.operand, self.low, self.high)

    def eval(self, ec: EvalContext) -> Column:
        x = self.operand.eval(ec)
        failed = np.zeros(ec.n, dtype=np.bool_)
        parts = []
        for op, bound in ((">=", self.low), ("<=", self.high)):
            bcol = bound.eval(ec)
            local = ops.RowErrors(ec.n)
            parts.append(ops.compare(op, x, bcol, local, b_const=isinstance(bound, Const)))
            if local.any:
                xs, bs = x.decoded().tolist(), bcol.decoded().tolist()
                for r in np.flatnonzero(local.mask & ~failed).tolist():
                    ec.errors.fail_row(r, "between operator cannot compare "
                                          f"{go_repr(xs[r])} and {go_repr(bs[r])}")
                failed |= local.mask
        res = parts[0] & parts[1]
        return bool_column(~res if self.negate else res)
