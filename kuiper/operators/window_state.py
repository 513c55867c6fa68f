"""STATEWINDOW(begin, emit) / STATEWINDOW(cond) [OVER (PARTITION BY ...)]: windows opened and
closed by conditions on the rows, one state per partition.

Two conditions: a row where `begin` holds opens the window (if none is open); every row of an
open window joins it; a row where `emit` holds (the opening row included) closes and emits it.
One condition: each row where it holds emits the open window (without that row) and opens a
new window starting with that row. `finish()` emits the windows still open.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from kuiper.api.batch import Batch
from kuiper.expr.nodes import EvalContext, Node
from kuiper.expr.nulls import truth
from kuiper.operators.base import Operator
from kuiper.operators.window import WindowSpec, pre_filter
from kuiper.operators.window_buffer import RowBuffer, assemble, merge_outputs


class StateWindowOp(Operator):
    holds_window_rows = True  # state_size() is bounded by the rule's maxWindowRows
    where: Node | None = None

    def __init__(self, name: str, spec: WindowSpec) -> None:
        self.name = name
        self.spec = spec
        self.buffer = RowBuffer(by_time=False)  # rows of open windows, in arrival order
        self._base = 0  # buffer row index of the first buffered row (absolute numbering)
        self._open: dict[Any, list[int]] = {}  # partition -> absolute rows of its open window

    def state_size(self) -> int:
        return len(self.buffer)

    def snapshot_state(self) -> dict[str, Any]:
        """Open windows per partition (absolute row numbers) and their rows (checkpoints)."""
        return {"buffer": self.buffer.snapshot_state(), "base": self._base,
                "open": [(k, np.asarray(v, dtype=np.int64)) for k, v in self._open.items()]}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.buffer.restore_state(state["buffer"])
        self._base = int(state["base"])
        self._open = {k: [int(x) for x in v] for k, v in state["open"]}

    def _partition_keys(self, batch: Batch) -> list[Any]:
        if not self.spec.partition:
            return [None] * batch.n
        ec = EvalContext(batch)
        cols = [p.eval(ec).to_pylist() for p in self.spec.partition]
        return [tuple(repr(c[i]) for c in cols) for i in range(batch.n)]

    def process(self, batch: Batch) -> Batch | None:
        batch = pre_filter(self, batch)
        if batch.n == 0:
            return None
        begin = truth(self.spec.begin.eval(EvalContext(batch))).tolist()
        emit = (truth(self.spec.emit.eval(EvalContext(batch))).tolist()
                if self.spec.emit is not None else None)
        keys = self._partition_keys(batch)
        first_abs = self._base + len(self.buffer)
        self.buffer.append(batch)
        closed: list[list[int]] = []
        for i in range(batch.n):
            row = first_abs + i
            key = keys[i]
            rows = self._open.get(key)
            if emit is None:
                if begin[i]:
                    if rows:
                        closed.append(rows)
                    self._open[key] = [row]
                elif rows is not None:
                    rows.append(row)
                continue
            if rows is None:
                if not begin[i]:
                    continue
                rows = self._open[key] = []
            rows.append(row)
            if emit[i]:
                closed.append(rows)
                del self._open[key]
        out = self._emit(closed)
        self._gc()
        return out

    def _emit(self, windows: list[list[int]]) -> Batch | None:
        if not windows:
            return None
        rows = self.buffer.rows()
        parts = []
        for w in windows:
            idx = np.array(w, dtype=np.int64) - self._base
            sub = rows.take(idx)
            ts = sub.timestamps
            parts.append(assemble(sub, np.array([0]), np.array([sub.n]),
                                  np.array([ts[0]]), np.array([ts[-1]])))
        return merge_outputs(parts)

    def _gc(self) -> None:
        oldest = min((r[0] for r in self._open.values() if r), default=self._base + len(self.buffer))
        drop = oldest - self._base
        if drop > 0:
            self.buffer.keep_from(drop)
            self._base += drop

    def finish(self) -> Batch | None:
        out = self._emit([r for r in self._open.values() if r])
        self._open.clear()
        self.buffer.clear()
        return out
