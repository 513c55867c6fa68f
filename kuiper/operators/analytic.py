"""Analytic functions: lag, latest, changed_col, had_changed, acc_*, change_capture,
change_to, consecutive_count, consecutive_start with OVER (PARTITION BY …
WHEN …), evaluated on every input row before WHERE (as eKuiper does), state per partition kept
across batches.

`AnalyticOp` runs first in a rule: each call adds one hidden column (`__an_0`, ...) that the
rest of the rule reads like a field. Arguments, partition keys and WHEN are evaluated over the
whole batch (columnar); only the state update walks the rows, in arrival order, because each
row's result depends on the previous row of its partition. A row where WHEN is false reuses
the saved state without updating it.
"""
from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from kuiper.api.batch import Batch, Column
from kuiper.expr.nodes import EvalContext, Node
from kuiper.expr.nulls import truth
from kuiper.operators.base import Operator

AN_PREFIX = "__an_"
ANALYTIC_FUNCS = ("lag", "latest", "changed_col", "had_changed",
                  "acc_sum", "acc_min", "acc_max", "acc_count", "acc_avg",
                  # eKuiper's extra analytic functions (analytic_ext_functions.md)
                  "change_capture", "change_to", "consecutive_count", "consecutive_start")


def _same(a: Any, b: Any) -> bool:
    """Go's DeepEqual for JSON values: a bool never equals a number, 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


@dataclass
class AnalyticCall:
    """One analytic call site: output column, function, arguments and its OVER clause."""

    out: str
    func: str
    args: list[Node]
    partition: list[Node] = field(default_factory=list)
    when: Node | None = None
    state: dict[Any, Any] = field(default_factory=dict)  # partition key -> state

    def compute(self, batch: Batch) -> Column:
        n = batch.n
        ec = EvalContext(batch)
        args = [a.eval(ec).to_pylist() for a in self.args]
        valid = truth(self.when.eval(ec)).tolist() if self.when is not None else None
        if self.partition:
            cols = [p.eval(ec).to_pylist() for p in self.partition]
            keys: list[Any] = [tuple(c[i] for c in cols) for i in range(n)]
        else:
            keys = [None] * n
        step = _STEPS[self.func]
        state = self.state
        out = [step(state, keys[i], [a[i] for a in args], True if valid is None else valid[i])
               for i in range(n)]
        return Column.from_values(out)


# one step per row: (states, partition key, argument values, when) -> the row's value ---------
def _lag(states: dict[Any, Any], key: Any, args: list[Any], ok: bool) -> Any:
    value = args[0]
    q = states.get(key)
    if q is None:
        offset = int(args[1]) if len(args) > 1 and args[1] is not None else 1
        default = args[2] if len(args) > 2 else None
        q = states[key] = deque([default] * max(offset, 0))
    ignore_null = bool(args[3]) if len(args) > 3 and args[3] is not None else True
    if not q:  # offset 0: the value itself
        return value
    if ok and (value is not None or not ignore_null):
        out = q.popleft()
        q.append(value)
        return out
    return q[0]


def _latest(states: dict[Any, Any], key: Any, args: list[Any], ok: bool) -> Any:
    value = args[0]
    if ok and value is not None:
        states[key] = value
        return value
    if key in states:
        return states[key]
    return args[1] if len(args) > 1 else None


def _changed_col(states: dict[Any, Any], key: Any, args: list[Any], ok: bool) -> Any:
    ignore_null, value = args[0], args[1]
    if (ignore_null and value is None) or not ok:
        return None
    if key in states and _same(states[key], value):
        return None
    if key not in states and value is None:
        return None
    states[key] = value
    return value


def _had_changed(states: dict[Any, Any], key: Any, args: list[Any], ok: bool) -> Any:
    if not ok:
        return False
    ignore_null = args[0]
    last = states.setdefault(key, {})
    changed = False
    for i, value in enumerate(args[1:]):
        if ignore_null and value is None:
            continue
        if i in last and _same(last[i], value) or (i not in last and value is None):
            continue
        last[i] = value
        changed = True
    return changed


def _acc(kind: str):  # type: ignore[no-untyped-def]
    def step(states: dict[Any, Any], key: Any, args: list[Any], ok: bool) -> Any:
        st = states.get(key)
        value = args[0]
        if ok and value is not None and not isinstance(value, bool | str):
            if st is None:
                st = states[key] = [value, value, value, 1]  # sum, min, max, count
            else:
                st[0] += value
                st[1] = min(st[1], value)
                st[2] = max(st[2], value)
                st[3] += 1
        elif ok and value is not None and kind == "count":
            st = states.setdefault(key, [0, None, None, 0])
            st[3] += 1
        if st is None:
            return 0 if kind == "count" else None
        if kind == "sum":
            return st[0]
        if kind == "min":
            return st[1]
        if kind == "max":
            return st[2]
        if kind == "count":
            return st[3]
        return st[0] / st[3]

    return step


_UNSET = object()


def _transition(st: dict[str, Any], monitor: Any, args: list[Any], ok: bool) -> bool | None:
    """change_to/change_capture: whether `monitor` just changed to the target (any change when
    no target is given); None when the row is skipped (WHEN false, or an ignored null)."""
    target_given, target = len(args) > 0, args[0] if args else None
    ignore_null = bool(args[1]) if len(args) > 1 and args[1] is not None else False
    if not ok or (ignore_null and monitor is None):
        return None
    prev = st.get("prev", _UNSET)
    st["prev"] = monitor
    changed = prev is _UNSET or not _same(prev, monitor)
    return changed and (not target_given or _same(monitor, target))


def _change_to(states: dict[Any, Any], key: Any, args: list[Any], ok: bool) -> Any:
    return bool(_transition(states.setdefault(key, {}), args[0], args[1:], ok))


def _change_capture(states: dict[Any, Any], key: Any, args: list[Any], ok: bool) -> Any:
    st = states.setdefault(key, {})
    if _transition(st, args[1], args[2:], ok):
        st["captured"] = args[0]
    return st.get("captured")


def _consecutive_count(states: dict[Any, Any], key: Any, args: list[Any], ok: bool) -> Any:
    if ok:
        states[key] = states.get(key, 0) + 1 if args[0] is True else 0
    return states.get(key, 0)


def _consecutive_start(states: dict[Any, Any], key: Any, args: list[Any], ok: bool) -> Any:
    if ok:
        if args[0] is not True:
            states.pop(key, None)
        elif key not in states:
            states[key] = args[1]
    return states.get(key)


_STEPS = {"lag": _lag, "latest": _latest, "changed_col": _changed_col,
          "had_changed": _had_changed, "acc_sum": _acc("sum"), "acc_min": _acc("min"),
          "acc_max": _acc("max"), "acc_count": _acc("count"), "acc_avg": _acc("avg"),
          "change_capture": _change_capture, "change_to": _change_to,
          "consecutive_count": _consecutive_count, "consecutive_start": _consecutive_start}


class AnalyticOp(Operator):
    """Adds each analytic call's column to the batch, in call order (a call may read an
    earlier one, e.g. `lag(ts) OVER (WHEN had_changed(true, status))`)."""

    def __init__(self, name: str, calls: list[AnalyticCall]) -> None:
        self.name = name
        self.calls = calls

    def state_size(self) -> int:
        return sum(len(c.state) for c in self.calls)

    def metrics(self) -> dict[str, int]:
        return {"analytic_partitions": self.state_size()}

    def snapshot_state(self) -> dict[str, Any]:
        """Each call's state per partition (lag queues, latest values, acc_* sums ...)."""
        return {"calls": [(c.out, c.func, copy.deepcopy(c.state)) for c in self.calls]}

    def restore_state(self, state: dict[str, Any]) -> None:
        saved = {(out, func): st for out, func, st in state["calls"]}
        for call in self.calls:
            call.state = copy.deepcopy(saved.get((call.out, call.func), {}))

    def process(self, batch: Batch) -> Batch | None:
        if batch.n == 0:
            return None
        cols = dict(batch.columns)
        for call in self.calls:
            view = Batch(cols, batch.n, batch.timestamps, batch.meta, batch.emission_bounds)
            cols[call.out] = call.compute(view)
        return Batch(cols, batch.n, batch.timestamps, batch.meta, batch.emission_bounds)

