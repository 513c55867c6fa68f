"""GROUP BY + aggregates, HAVING and ORDER BY over emissions (window results).

`AggregateOp` groups the rows of each emission by the GROUP BY keys (hash group-by kernels:
key columns -> dense group ids) and computes every aggregate call of the rule once per group;
a group becomes one output row: the group's first row (what non-aggregated fields read, as in
eKuiper) plus one hidden column per aggregate call, which the projection reads. Without a
window every input row is an emission and a group of its own (eKuiper applies aggregates to
the single row). `HavingOp` and `OrderOp` keep emission bounds intact.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kuiper._core import hashagg
from kuiper.api.batch import BIGINT, BOOLEAN, DATETIME, FLOAT, STRING, Batch, Column
from kuiper.errors import EvalError
from kuiper.expr.nodes import EvalContext, Node
from kuiper.functions.gostyle import go_type
from kuiper.operators.base import Operator
from kuiper.operators.filter import evaluate_condition

AGG_PREFIX = "__agg_"


@dataclass
class AggCall:
    """One aggregate call of the rule: its output column, arguments and implementation."""

    out: str
    name: str
    args: list[Node]
    compute: Callable[[list[Column], Any], Column]  # (argument columns, groups) -> per group


def factorize(col: Column) -> tuple[np.ndarray, int]:
    """A key column -> (group ids, group count); null keys form one group."""
    valid = col.valid
    if col.kind == STRING and col.dictionary is not None:
        ids, n, _ = hashagg.factorize_codes(col.values, len(col.dictionary), valid)
    elif col.kind in (BIGINT, DATETIME):
        ids, n, _ = hashagg.factorize_int64(col.values, valid)
    elif col.kind == BOOLEAN:
        ids, n, _ = hashagg.factorize_int64(col.values.astype(np.int64), valid)
    elif col.kind == FLOAT:
        ids, n, _ = hashagg.factorize_float64(col.values, valid)
    else:
        seen: dict[Any, int] = {}
        vals = col.to_pylist()
        ids = np.empty(len(vals), dtype=np.int64)
        for i, v in enumerate(vals):
            k = v if isinstance(v, str | int | float | bool | type(None)) else repr(v)
            if isinstance(v, bool):
                k = ("bool", v)
            ids[i] = seen.setdefault(k, len(seen))
        n = len(seen)
    return ids, n


def emission_ids(batch: Batch) -> tuple[np.ndarray, int]:
    if batch.emission_bounds is None:
        return np.arange(batch.n, dtype=np.int64), batch.n
    sizes = np.diff(batch.emission_bounds)
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes), len(sizes)


def _bounds_of(emission_of_row: np.ndarray, n_emissions: int) -> np.ndarray:
    counts = np.bincount(emission_of_row, minlength=n_emissions)
    counts = counts[counts > 0]
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


class AggregateOp(Operator):
    def __init__(self, name: str, keys: list[Node], calls: list[AggCall],
                 groups_factory: Callable[[np.ndarray, int], Any], windowed: bool) -> None:
        self.name = name
        self.keys = keys
        self.calls = calls
        self.groups_factory = groups_factory
        self.windowed = windowed

    def process(self, batch: Batch) -> Batch | None:
        if batch.n == 0:
            return None
        ec = EvalContext(batch)
        emit_ids, n_emit = emission_ids(batch)
        ids, n_groups = emit_ids, n_emit
        first = None
        for key in self.keys:
            kid, kn = factorize(key.eval(ec))
            ids, n_groups, first = hashagg.combine_group_ids(ids, n_groups, kid, kn)
        if first is None:
            first = batch.emission_bounds[:-1] if batch.emission_bounds is not None else ids
            first = np.asarray(first, dtype=np.int64)
        groups = self.groups_factory(ids, n_groups)
        out_cols = {k: c.take(first) for k, c in batch.columns.items()}
        failed: list[str] = []
        for call in self.calls:
            try:
                args = [a.eval(ec) for a in call.args]
                out_cols[call.out] = call.compute(args, groups)
            except EvalError as e:
                failed.append(str(e))
                out_cols[call.out] = Column.nulls(n_groups)
        if ec.errors.any:
            failed.extend(ec.errors.messages)
        out = Batch(out_cols, n_groups, batch.timestamps[first],
                    {k: c.take(first) for k, c in batch.meta.items()})
        if self.windowed:
            out.emission_bounds = _bounds_of(emit_ids[first], n_emit)
        if failed:
            # eKuiper fails the whole result set of a window on an aggregate error
            self.report_errors(n_groups, failed)
            return None
        return out


def keep_rows(batch: Batch, keep: np.ndarray) -> Batch | None:
    """The rows where `keep` holds, emission bounds recomputed (emptied emissions vanish)."""
    if keep.all():
        return batch
    idx = np.flatnonzero(keep)
    out = batch.take(idx)
    if batch.emission_bounds is not None and len(idx):
        emit, n_emit = emission_ids(batch)
        out.emission_bounds = _bounds_of(emit[idx], n_emit)
    return out if out.n else None


class HavingOp(Operator):
    """HAVING: keep the groups whose condition is true; emission bounds survive."""

    def __init__(self, name: str, condition: Node) -> None:
        self.name = name
        self.condition = condition

    def process(self, batch: Batch) -> Batch | None:
        if batch.n == 0:
            return None
        keep, ec = evaluate_condition(self.condition, batch)
        if ec.errors.any:
            self.report_errors(int(np.count_nonzero(ec.errors.mask)), ec.errors.messages)
            keep = keep & ~ec.errors.mask
        return keep_rows(batch, keep)


def _sort_key(col: Column, desc: bool) -> np.ndarray:
    """A numeric sort key; nulls sort first ascending (last descending), as eKuiper does."""
    valid = col.validity()
    if col.kind in (BIGINT, FLOAT, DATETIME, BOOLEAN):
        vals = col.values.astype(np.float64)
    else:
        decoded = col.decoded()
        uniq = sorted({(type(v).__name__, v) for v in decoded[valid].tolist()}, key=lambda t: (t[0], t[1]))
        rank = {u: i for i, u in enumerate(uniq)}
        vals = np.array([rank.get((type(v).__name__, v), -1) if ok else -1
                         for v, ok in zip(decoded.tolist(), valid.tolist())], dtype=np.float64)
    vals = np.where(valid, vals, -np.inf)
    return -vals if desc else vals


class OrderOp(Operator):
    """ORDER BY: sort the rows of each emission (stable)."""

    def __init__(self, name: str, keys: list[tuple[Node, bool]]) -> None:
        self.name = name
        self.keys = keys

    def process(self, batch: Batch) -> Batch | None:
        if batch.n == 0:
            return None
        if batch.emission_bounds is None:
            return batch  # one row per emission: nothing to order
        ec = EvalContext(batch)
        emit, n_emit = emission_ids(batch)
        cols = [node.eval(ec) for node, _ in self.keys]
        failed = _incomparable(cols, batch.emission_bounds)
        sort_keys = [_sort_key(col, desc) for col, (_, desc) in zip(reversed(cols),
                                                                      reversed(self.keys),
                                                                      strict=True)]
        order = np.lexsort((*sort_keys, emit))
        out = batch.take(order)
        out.emission_bounds = batch.emission_bounds
        if not failed:
            return out
        keep = ~np.isin(emit, list(failed))
        self.report_errors(len(failed), list(dict.fromkeys(failed.values())))
        first_rows = batch.emission_bounds[:-1]
        self.report_row_errors([(int(first_rows[e]), msg) for e, msg in sorted(failed.items())],
                               keep, ORDER_ERROR)
        return keep_rows(out, keep)


ORDER_ERROR = "run Order By error: "  # eKuiper's order_operator.go prefix
_GO_NUMBERS = ("int64", "float64")


def _incomparable(cols: list[Column], bounds: np.ndarray) -> dict[int, str]:
    """Emissions eKuiper's MultiSorter refuses, with its error: a sort field whose values are
    not all numbers, all strings or all booleans (valuer.go `validate`, with the type of the
    field's first non-nil value in the emission)."""
    failed: dict[int, str] = {}
    values = [c.to_pylist() for c in cols]
    for e, (a, b) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
        first: list[str | None] = [None] * len(cols)
        for r in range(a, b):
            message = None
            for j, vals in enumerate(values):
                v = vals[r]
                if v is None:
                    continue
                vt = go_type(v)
                if first[j] is None:
                    first[j] = vt
                t = first[j]
                ok = (t in _GO_NUMBERS and vt in _GO_NUMBERS) or (t == vt and t in ("bool", "string"))
                if not ok:
                    message = f"incompatible types for comparison: {t} and {vt}"
                    break
            if message:
                failed[e] = message
                break
    return failed
