"""Aggregate functions: per-group reductions over whole columns, on the hashagg kernels.

Aggregates are not scalar functions: each is an `AggregateDef` whose `compute(args, groups)`
gets the argument columns of all the rows of a batch and the rows' `Groups` (dense group ids)
and returns one value per group. They are also registered in the function registry with
`is_aggregate=True` (so names resolve, arity is checked, and plugins can't take them); the
expression compiler hands such calls to the planner's aggregate collector, which builds the
aggregate operator from the definitions here (`AGGREGATES`).

Semantics follow eKuiper's funcs_agg.go: nulls are skipped; avg of integers is an integer
(truncated); sum/min/max keep the input's type; stddev/var are population, stddevs/vars
sample; percentile_cont interpolates like Go's stats.Percentile, percentile_disc is the
nearest rank; an empty group gives nil (count gives 0).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kuiper._core import hashagg
from kuiper.api.batch import ANY, ARRAY, BIGINT, FLOAT, STRUCT, Column
from kuiper.errors import EvalError
from kuiper.functions.registry import FunctionDef, FunctionRegistry


class Groups:
    """Dense group ids of the rows of a batch; row lists per group computed on demand."""

    def __init__(self, ids: np.ndarray, n_groups: int) -> None:
        self.ids = ids
        self.n = n_groups
        self._order: tuple[np.ndarray, np.ndarray] | None = None

    def order(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows grouped by group, offsets): group g is rows[offsets[g]:offsets[g + 1]]."""
        if self._order is None:
            self._order = hashagg.group_order(self.ids, self.n)
        return self._order

    def split(self, values: list[Any]) -> list[list[Any]]:
        """Per group, the values of its rows in row order."""
        rows, offsets = self.order()
        picked = [values[i] for i in rows.tolist()]
        b = offsets.tolist()
        return [picked[b[g]:b[g + 1]] for g in range(self.n)]


Compute = Callable[[list[Column], Groups], Column]


@dataclass(frozen=True)
class AggregateDef:
    name: str
    min_args: int
    max_args: int
    compute: Compute
    star: bool = False  # accepts * (count(*), collect(*))
    return_kind: str | None = None


def _numeric(col: Column, fname: str) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(values, valid, is_int) of a number column; schemaless values are typed here."""
    if col.kind == BIGINT:
        return col.values, col.valid, True
    if col.kind == FLOAT:
        return col.values, col.valid, False
    valid = col.validity()
    vals = col.decoded()
    picked = [vals[i] for i in np.flatnonzero(valid).tolist()]
    for v in picked:
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise EvalError(f"run {fname} function error: found invalid arg {type(v).__name__}({v})")
    is_int = bool(picked) and all(isinstance(v, int | np.integer) for v in picked)
    out = np.zeros(len(vals), dtype=np.int64 if is_int else np.float64)
    if picked:
        out[valid] = np.array(picked, dtype=out.dtype)
    return out, (None if valid.all() else valid), is_int


def _result(values: np.ndarray, has_value: np.ndarray, kind: str) -> Column:
    return Column(kind, values, None if has_value.all() else has_value)


def _count(args: list[Column], g: Groups) -> Column:
    valid = args[0].valid if args else None
    return Column(BIGINT, hashagg.group_count(valid, g.ids, g.n))


def _sum(args: list[Column], g: Groups) -> Column:
    vals, valid, is_int = _numeric(args[0], "sum")
    sums, counts = hashagg.group_sum(vals, valid, g.ids, g.n)
    return _result(sums, counts > 0, BIGINT if is_int else FLOAT)


def _avg(args: list[Column], g: Groups) -> Column:
    vals, valid, is_int = _numeric(args[0], "avg")
    sums, counts = hashagg.group_sum(vals, valid, g.ids, g.n)
    safe = np.maximum(counts, 1)
    if is_int:  # Go integer division truncates toward zero
        out = (np.abs(sums) // safe) * np.sign(sums)
        return _result(out.astype(np.int64), counts > 0, BIGINT)
    return _result(sums / safe, counts > 0, FLOAT)


def _minmax(is_max: bool) -> Compute:
    def compute(args: list[Column], g: Groups) -> Column:
        col = args[0]
        if col.kind not in (BIGINT, FLOAT) and col.kind != ANY:
            return _generic_minmax(col, g, is_max)
        vals, valid, is_int = _numeric(col, "max" if is_max else "min")
        out, counts = hashagg.group_minmax(vals, valid, g.ids, g.n, is_max)
        return _result(out, counts > 0, BIGINT if is_int else FLOAT)

    return compute


def _generic_minmax(col: Column, g: Groups, is_max: bool) -> Column:
    out: list[Any] = []
    for vals in g.split(col.to_pylist()):
        present = [v for v in vals if v is not None]
        out.append((max if is_max else min)(present) if present else None)
    return Column.from_values(out, col.kind if col.dictionary is None else None)


def _variance(kind: str) -> Compute:
    def compute(args: list[Column], g: Groups) -> Column:
        vals, valid, _ = _numeric(args[0], kind)
        counts, _means, m2 = hashagg.group_var(vals.astype(np.float64, copy=False), valid, g.ids, g.n)
        sample = kind in ("stddevs", "vars")
        denom = counts - 1 if sample else counts
        has = denom > 0
        var = np.where(has, m2 / np.maximum(denom, 1), 0.0)
        out = np.sqrt(var) if kind.startswith("stddev") else var
        return _result(out, has, FLOAT)

    return compute


def _param(args: list[Column], i: int, default: Any) -> Any:
    if len(args) <= i:
        return default
    vals = args[i].to_pylist()
    for v in vals:
        if v is not None:
            return v
    return default


def _sorted_groups(args: list[Column], g: Groups, fname: str) -> list[list[float]]:
    vals, valid, _ = _numeric(args[0], fname)
    ok = np.ones(len(vals), dtype=bool) if valid is None else valid
    lists = g.split([float(v) if k else None for v, k in zip(vals.tolist(), ok.tolist())])
    return [sorted(v for v in lst if v is not None) for lst in lists]


def _median(args: list[Column], g: Groups) -> Column:
    out: list[Any] = []
    for c in _sorted_groups(args, g, "median"):
        n = len(c)
        out.append(None if n == 0 else c[n // 2] if n % 2 else (c[n // 2 - 1] + c[n // 2]) / 2)
    return Column.from_values(out, FLOAT)


def _percentile_cont(args: list[Column], g: Groups) -> Column:
    p = float(_param(args, 1, 1.0)) * 100
    out: list[Any] = []
    for c in _sorted_groups(args, g, "percentile_cont"):
        n = len(c)
        if n == 0:
            out.append(None)
        elif n == 1:
            out.append(c[0])
        elif p <= 0 or p > 100:
            raise EvalError("percentile exec with error: Input is outside of range.")
        else:
            index = p / 100 * n
            if index == int(index):
                out.append(c[int(index) - 1])
            elif index > 1:
                i = int(index)
                out.append((c[i - 1] + c[i]) / 2)
            else:
                raise EvalError("percentile exec with error: Input is outside of range.")
    return Column.from_values(out, FLOAT)


def _percentile_disc(args: list[Column], g: Groups) -> Column:
    p = float(_param(args, 1, 1.0)) * 100
    out: list[Any] = []
    for c in _sorted_groups(args, g, "percentile_disc"):
        n = len(c)
        if n == 0:
            out.append(None)
        elif p >= 100:
            out.append(c[-1])
        else:
            rank = math.ceil(n * p / 100)
            out.append(c[0] if rank <= 0 else c[rank - 1])
    return Column.from_values(out, FLOAT)


def _collect(args: list[Column], g: Groups) -> Column:
    lists = g.split(args[0].to_pylist())
    arr = np.empty(g.n, dtype=object)
    for i, lst in enumerate(lists):
        arr[i] = lst
    return Column(ARRAY, arr)


def _last_value(args: list[Column], g: Groups) -> Column:
    col = args[0]
    ignore_null = bool(_param(args, 1, True))
    if ignore_null:
        rows = hashagg.group_last_row(col.valid, g.ids, g.n)
    else:
        rows = hashagg.group_last_row(None, g.ids, g.n)
    has = rows >= 0
    taken = col.take(np.where(has, rows, 0)) if len(col) else Column.nulls(g.n, col.kind)
    valid = taken.validity() & has
    return Column(taken.kind, taken.values, None if valid.all() else valid, taken.dictionary)


def _merge_agg(args: list[Column], g: Groups) -> Column:
    out: list[Any] = []
    for lst in g.split(args[0].to_pylist()):
        merged: dict[str, Any] = {}
        for m in lst:
            if isinstance(m, dict):
                merged.update(m)
        out.append(merged or None)
    return Column.from_values(out, STRUCT)


def _deduplicate(args: list[Column], g: Groups) -> Column:
    """deduplicate(col, all): rows (args[2], the row objects) whose col value is first seen;
    with all=false only the latest row, or an empty map when it repeats an earlier value."""
    keep_all = bool(_param(args, 1, False))
    keys = g.split(args[0].to_pylist())
    rows = g.split(args[2].to_pylist())
    out: list[Any] = []
    for ks, rs in zip(keys, rows):
        seen: list[Any] = []
        picked: list[Any] = []
        for k, r in zip(ks, rs):
            if k not in seen:
                seen.append(k)
                picked.append(r)
        if keep_all:
            out.append(picked)
        elif rs and ks and ks[-1] not in ks[:-1]:
            out.append(rs[-1])
        else:
            out.append({})
    return Column.from_values(out, ARRAY if keep_all else STRUCT)


AGGREGATES: dict[str, AggregateDef] = {
    d.name: d
    for d in [
        AggregateDef("count", 1, 1, _count, star=True, return_kind=BIGINT),
        AggregateDef("sum", 1, 1, _sum),
        AggregateDef("avg", 1, 1, _avg),
        AggregateDef("max", 1, 1, _minmax(True)),
        AggregateDef("min", 1, 1, _minmax(False)),
        AggregateDef("stddev", 1, 1, _variance("stddev"), return_kind=FLOAT),
        AggregateDef("stddevs", 1, 1, _variance("stddevs"), return_kind=FLOAT),
        AggregateDef("var", 1, 1, _variance("var"), return_kind=FLOAT),
        AggregateDef("vars", 1, 1, _variance("vars"), return_kind=FLOAT),
        AggregateDef("median", 1, 1, _median, return_kind=FLOAT),
        AggregateDef("percentile_cont", 2, 2, _percentile_cont, return_kind=FLOAT),
        AggregateDef("percentile", 2, 2, _percentile_cont, return_kind=FLOAT),
        AggregateDef("percentile_disc", 2, 2, _percentile_disc, return_kind=FLOAT),
        AggregateDef("collect", 1, 1, _collect, star=True, return_kind=ARRAY),
        AggregateDef("last_value", 2, 2, _last_value),
        AggregateDef("merge_agg", 1, 1, _merge_agg, return_kind=STRUCT),
        AggregateDef("deduplicate", 2, 2, _deduplicate, star=False),
    ]
}


def _not_scalar(name: str) -> Callable[..., Column]:
    def exec_batch(args: list[Column], n: int, ctx: Any) -> Column:
        raise EvalError(f"aggregate function {name} is evaluated by the aggregate operator")

    return exec_batch


def register_aggregates(registry: FunctionRegistry) -> None:
    """Make the aggregate names known to `registry` (idempotent)."""
    for d in AGGREGATES.values():
        found = registry.lookup(d.name)
        if found is not None and found.is_aggregate:
            continue
        registry.register(FunctionDef(d.name, d.min_args, d.max_args, _not_scalar(d.name),
                                      is_aggregate=True, return_kind=d.return_kind), replace=True)
