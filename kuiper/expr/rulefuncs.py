"""The planner-handled functions that read the rule rather than their arguments: event_time(),
last_hit_count/time(), last_agg_hit_count/time(), row_number(), changed_cols() and unnest().

They are RESERVED names of the function registry (kuiper/functions/registry.py): their values
come from each row's timestamp, the emission a row belongs to, or state the rule keeps, which a
registry function's `exec_batch` does not see. Semantics follow eKuiper v2:
`internal/binder/function/funcs_global_state.go` (last_hit_* keep one rule-wide counter/time:
a call returns the value before this row and, where it updates, counts the row), funcs_cols.go
(changed_cols), funcs_window.go (row_number), funcs_srf.go (unnest).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from kuiper.api.batch import ANY, BIGINT, STRUCT, Column
from kuiper.expr.nodes import EvalContext, Node

#: the names this module compiles (compile._call dispatches them here)
RULE_FUNCS = frozenset({"event_time", "last_hit_count", "last_hit_time", "last_agg_hit_count",
                        "last_agg_hit_time", "row_number", "changed_cols", "unnest",
                        "extract"})

UNNEST_NOT_ARRAY = "the argument for the unnest function should be array"
EXTRACT_NOT_MAP = "extract should use map"


class HitState:
    """A rule's last-hit counters and times (eKuiper's `$$last_hit_count`, `$$last_hit_time`,
    `$$last_agg_hit_count`, `$$last_agg_hit_time`), shared by every call in the rule."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def get(self, key: str) -> int:
        return self.values.get(key, 0)


def row_times(ec: EvalContext, time_field: str | None) -> np.ndarray:
    """Each row's time in ms: the stream's TIMESTAMP field in an event-time rule, else the
    batch's timestamps (the time the rule received the row)."""
    col = ec.batch.columns.get(time_field) if time_field else None
    if col is not None:
        vals = col.to_pylist()
        fallback = ec.batch.timestamps
        return np.array([int(v) if isinstance(v, int | float) and not isinstance(v, bool)
                         else int(fallback[i]) for i, v in enumerate(vals)], dtype=np.int64)
    return np.asarray(ec.batch.timestamps, dtype=np.int64).copy()


class EventTime(Node):
    """event_time(): the row's timestamp in ms (its event time with isEventTime, else the time
    the rule received it)."""

    kind = BIGINT

    def __init__(self, time_field: str | None = None) -> None:
        self.time_field = time_field
        self.deterministic = False

    def eval(self, ec: EvalContext) -> Column:
        return Column(BIGINT, row_times(ec, self.time_field))


class LastHit(Node):
    """last_hit_count() / last_hit_time() and their `agg` twins: the rule's value before this row.

    `update=True` (SELECT): each row counts as a hit, in order, so row i sees the count before it.
    `update=False` (WHERE, HAVING): rows only read the value; the operator calls `commit` for a
    row that passes (eKuiper's filter plan marks these calls and updates them after the
    condition). A time is the row's timestamp; for the aggregate forms, the window end."""

    def __init__(self, state: HitState, what: str, agg: bool, update: bool,
                 time_field: str | None = None) -> None:
        self.state = state
        self.time_field = time_field
        self.what = what  # "count" | "time"
        self.agg = agg
        self.update = update
        self.key = ("last_agg_hit_" if agg else "last_hit_") + what
        self.kind = BIGINT
        self.deterministic = False
        self.commits = not update  # a read-only call the operator commits for passing rows

    def _times(self, ec: EvalContext) -> np.ndarray:
        if self.agg:
            end = ec.batch.meta.get("__window_end")
            if end is not None:
                return np.asarray(end.values, dtype=np.int64)
        return row_times(ec, self.time_field)

    def eval(self, ec: EvalContext) -> Column:
        n = ec.n
        before = self.state.get(self.key)
        if not self.update:
            return Column(BIGINT, np.full(n, before, dtype=np.int64))
        if self.what == "count":
            out = before + np.arange(n, dtype=np.int64)
            self.state.values[self.key] = before + n
        else:
            times = self._times(ec)
            out = np.empty(n, dtype=np.int64)
            if n:
                out[0] = before
                out[1:] = times[:-1]
                self.state.values[self.key] = int(times[-1])
        return Column(BIGINT, out)

    def commit(self, ec: EvalContext, row: int) -> None:
        """Count row `row` of `ec` as a hit (it passed the condition)."""
        if self.what == "count":
            self.state.values[self.key] = self.state.get(self.key) + 1
        else:
            self.state.values[self.key] = int(self._times(ec)[row])


class RowNumber(Node):
    """row_number(): the row's 1-based position in its emission (every row of a rule without a
    window is an emission of its own, so it is 1 there)."""

    kind = BIGINT

    def __init__(self) -> None:
        self.deterministic = False

    def eval(self, ec: EvalContext) -> Column:
        bounds = ec.batch.emission_bounds
        if bounds is None:
            return Column(BIGINT, np.ones(ec.n, dtype=np.int64))
        starts = np.repeat(bounds[:-1], np.diff(bounds))
        return Column(BIGINT, np.arange(ec.n, dtype=np.int64) - starts + 1)


class ChangedCols(Node):
    """changed_cols(prefix, ignoreNull, col...): per row, the columns whose value differs from
    the last one this call saw, as `{prefix + name: value}`; the projection spreads them into
    the output row. With ignoreNull a nil value is skipped (and not remembered)."""

    kind = STRUCT

    def __init__(self, prefix: Node, ignore_null: Node, args: list[Node], names: list[str]) -> None:
        self.prefix = prefix
        self.ignore_null = ignore_null
        self.args = args
        self.names = names
        self.last: dict[str, Any] = {}
        self.deterministic = False

    def children(self) -> tuple[Node, ...]:
        return (self.prefix, self.ignore_null, *self.args)

    def eval(self, ec: EvalContext) -> Column:
        prefixes = self.prefix.eval(ec).to_pylist()
        ignores = self.ignore_null.eval(ec).to_pylist()
        values = [a.eval(ec).to_pylist() for a in self.args]
        out: list[Any] = [None] * ec.n
        for r in range(ec.n):
            prefix, ignore = prefixes[r], ignores[r]
            if not isinstance(prefix, str):
                ec.errors.fail_row(r, f"first arg is not a string but got {prefix}")
                continue
            if not isinstance(ignore, bool):
                ec.errors.fail_row(r, f"second arg is not a bool but got {ignore}")
                continue
            changed: dict[str, Any] = {}
            for name, col in zip(self.names, values, strict=True):
                v = col[r]
                if ignore and v is None:
                    continue
                if name in self.last and _same(self.last[name], v):
                    continue
                if name not in self.last and v is None:
                    continue  # nil == the nil an unseen column starts with
                changed[prefix + name] = v
                self.last[name] = v
            out[r] = changed
        values_arr = np.empty(ec.n, dtype=object)
        values_arr[:] = out
        return Column(STRUCT, values_arr, np.array([o is not None for o in out], dtype=np.bool_))


def _same(a: Any, b: Any) -> bool:
    """Go's `==` on two interface values: same dynamic type and equal."""
    return type(a) is type(b) and a == b


class Unnest(Node):
    """unnest(array): marks a set-returning field; the projection turns each element into a row
    (see `expand_unnest`). Its own value is the array."""

    kind = ANY

    def __init__(self, arg: Node) -> None:
        self.arg = arg
        self.deterministic = False

    def children(self) -> tuple[Node, ...]:
        return (self.arg,)

    def eval(self, ec: EvalContext) -> Column:
        col = self.arg.eval(ec)
        for r, v in enumerate(col.to_pylist()):
            if v is not None and not isinstance(v, list):
                ec.errors.fail_row(r, UNNEST_NOT_ARRAY)
        return col


class Extract(Unnest):
    """extract(object): unnest of a one-element array, so the object's keys become the columns
    of one row (eKuiper funcs_srf.go); a nil argument is nil, anything else a row error."""

    def eval(self, ec: EvalContext) -> Column:
        values = self.arg.eval(ec).to_pylist()
        wrapped: list[Any] = []
        for r, v in enumerate(values):
            if v is None or isinstance(v, dict):
                wrapped.append(v if v is None else [v])
            else:
                ec.errors.fail_row(r, EXTRACT_NOT_MAP)
                wrapped.append(None)
        return Column.from_values(wrapped)


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children():
        yield from walk(child)


def reading_hits(node: Node) -> list[LastHit]:
    """The read-only last-hit calls of a condition (committed when a row passes)."""
    return [x for x in walk(node) if isinstance(x, LastHit) and x.commits]


def is_stateful(node: Node) -> bool:
    """True when evaluating `node` reads or changes state row after row."""
    return any(isinstance(x, LastHit | ChangedCols) for x in walk(node))
