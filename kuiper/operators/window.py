"""Windows: rows in, one emission per closed window out (eKuiper's window operator).

`WindowSpec` says which window (tumbling, hopping, sliding, session, count, state) and the
operator decides when windows close: in processing time on `on_time(now)` (and when a batch
shows the clock has passed a window end), in event time when the watermark passes a window's
end; `finish()` closes every open window. Time windows are aligned to the epoch (a 10 s window
ends at :00, :10, ...; day windows at 00:00 UTC). Which rows belong to which window comes from
the bounds kernels in `kuiper._core.windows`; what to compute over them is downstream
(`AggregateOp`, projection).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kuiper._core import windows as wk
from kuiper.api.batch import Batch
from kuiper.expr.nodes import EvalContext, Node
from kuiper.expr.nulls import truth
from kuiper.operators.base import Operator
from kuiper.operators.window_buffer import (
    END_OF_TIME,
    RowBuffer,
    Watermark,
    assemble,
)

TUMBLING = "tumbling"
HOPPING = "hopping"
SLIDING = "sliding"
SESSION = "session"
COUNT = "count"
STATE = "state"


@dataclass
class WindowSpec:
    """A window from GROUP BY: kind, lengths in ms (or rows), and its optional expressions."""

    kind: str
    size: int = 0  # ms (count: rows)
    hop: int = 0  # ms for hopping, step rows for count
    delay: int = 0  # sliding delay, ms
    timeout: int = 0  # session timeout, ms
    input_filter: Node | None = None  # FILTER (WHERE ...)
    trigger: Node | None = None  # OVER (WHEN ...) of a sliding window
    begin: Node | None = None  # state window begin condition
    emit: Node | None = None  # state window emit condition (None: single-condition form)
    partition: list[Node] = field(default_factory=list)  # OVER (PARTITION BY ...) of a state window


def _mask(node: Node, batch: Batch) -> np.ndarray:
    return truth(node.eval(EvalContext(batch)))


def event_timestamps(batch: Batch, field_name: str) -> Batch:
    """The batch with its timestamps taken from the TIMESTAMP field (rows without one dropped)."""
    col = batch.columns.get(field_name)
    if col is None:
        return batch.filter(np.zeros(batch.n, dtype=bool))
    if col.values.dtype == object:
        vals = np.array([v if isinstance(v, int | float) else 0 for v in col.values.tolist()],
                        dtype=np.int64)
    else:
        vals = col.values.astype(np.int64, copy=False)
    out = Batch(batch.columns, batch.n, vals, batch.meta, batch.emission_bounds)
    return out.filter(col.valid) if col.valid is not None else out


def pre_filter(op: Operator, batch: Batch) -> Batch:
    """The rule's WHERE, then the window's FILTER (WHERE ...), before rows enter a window."""
    where = getattr(op, "where", None)
    if where is not None and batch.n:
        batch = batch.filter(_mask(where, batch))
    spec = getattr(op, "spec", None)
    if spec is not None and spec.input_filter is not None and batch.n:
        batch = batch.filter(_mask(spec.input_filter, batch))
    return batch


class WindowOp(Operator):
    """Buffers rows and emits the rows of each closed window as one emission."""

    holds_window_rows = True  # state_size() is bounded by the rule's maxWindowRows
    where: Node | None = None  # the rule's WHERE, applied after the watermark saw the rows
    timestamp_field: str = ""  # event time: the stream's TIMESTAMP field

    def __init__(self, name: str, spec: WindowSpec, *, event_time: bool = False,
                 late_tolerance_ms: int = 1000, inputs: int = 1) -> None:
        self.name = name
        self.spec = spec
        self.event_time = event_time
        self.watermark = Watermark(late_tolerance_ms, inputs)
        self.buffer = RowBuffer()
        self._next_start: int | None = None  # hopping/tumbling: end of the next window
        self._triggers: list[tuple[int, int]] = []  # sliding: (trigger ts, fire time)
        self._now = -END_OF_TIME

    # --- operator protocol -------------------------------------------------------------
    @property
    def needs_timer(self) -> bool:
        return not self.event_time

    @property
    def late_rows_total(self) -> int:
        return self.watermark.late_rows_total

    def metrics(self) -> dict[str, int]:
        return {"late_rows_total": self.late_rows_total, "buffered_rows": len(self.buffer)}

    def state_size(self) -> int:
        """Rows held for open windows (what a memory bound is checked against)."""
        return len(self.buffer) + len(self._triggers)

    def snapshot_state(self) -> dict[str, Any]:
        """Open windows' rows, the watermark and what was emitted (checkpoints)."""
        return {"buffer": self.buffer.snapshot_state(),
                "watermark": self.watermark.snapshot_state(),
                "next_start": self._next_start, "triggers": list(self._triggers),
                "now": self._now}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.buffer.restore_state(state["buffer"])
        self.watermark.restore_state(state["watermark"])
        self._next_start = state["next_start"]
        self._triggers = [(int(a), int(b)) for a, b in state["triggers"]]
        self._now = int(state["now"])

    def process(self, batch: Batch, input_index: int = 0) -> Batch | None:
        if batch.n == 0:
            return None
        if self.event_time:
            if self.timestamp_field:
                batch = event_timestamps(batch, self.timestamp_field)
            keep = self.watermark.admit(batch.timestamps, input_index)
            if keep is not None:
                batch = batch.filter(keep)
        batch = pre_filter(self, batch)
        if batch.n == 0:
            return self._advance(self.watermark.value) if self.event_time else None
        if self.spec.kind == SLIDING:
            return self._sliding_ingest(batch)
        self.buffer.append(batch)
        if self.event_time:
            return self._advance(self.watermark.value)
        # processing time: a row stamped t shows the clock reached t
        return self._advance(int(batch.timestamps.max()))

    def on_time(self, now_ms: int) -> Batch | None:
        if self.event_time:
            return None
        return self._advance(now_ms)

    def finish(self) -> Batch | None:
        self.watermark.close_all()
        return self._advance(END_OF_TIME, final=True)

    # --- closing windows ----------------------------------------------------------------
    def _advance(self, now: int, final: bool = False) -> Batch | None:
        self._now = max(self._now, now)
        kind = self.spec.kind
        if kind in (TUMBLING, HOPPING):
            return self._close_aligned(self._now, final)
        if kind == SLIDING:
            return self._fire_sliding(self._now, final)
        if kind == SESSION:
            return self._close_sessions(self._now, final)
        return None

    def _close_aligned(self, now: int, final: bool) -> Batch | None:
        """Tumbling and hopping windows [e - size, e) whose end e is a multiple of the hop (the
        size for tumbling), as eKuiper's event-time trigger aligns them (event_window_trigger.go:
        the first end is the aligned end after the earliest row, then one every hop); a window
        closes when the clock or watermark reaches its end."""
        if not len(self.buffer):
            return None
        size = self.spec.size
        hop = self.spec.hop or size
        rows = self.buffer.rows()
        ts = rows.timestamps
        first = int(ts[0]) // hop * hop + hop  # the first window end after the earliest row
        if self._next_start is not None:
            first = max(first, self._next_start)
        last = (int(ts[-1]) + size) // hop * hop  # the last end whose window holds a row
        if not final:
            last = min(last, now // hop * hop)
        if last < first:
            return None
        hi = np.arange(first, last + 1, hop, dtype=np.int64)
        lo = hi - size
        starts, ends = wk.range_bounds(ts, lo, hi, False, False)
        out = assemble(rows, starts, ends, lo, hi)
        self._next_start = int(hi[-1]) + hop  # the next window's end
        self.buffer.keep_from(int(np.searchsorted(ts, self._next_start - size, side="left")))
        return out

    # sliding: every (matching) event closes the window [t - size, t] (+ delay) ---------------
    def _sliding_ingest(self, batch: Batch) -> Batch | None:
        trig = np.ones(batch.n, dtype=bool)
        if self.spec.trigger is not None:
            trig = _mask(self.spec.trigger, batch)
        if not self.event_time and self.spec.delay == 0:
            return self._sliding_now(batch, trig)
        self.buffer.append(batch)
        for t in batch.timestamps[trig].tolist():
            self._triggers.append((int(t), int(t) + self.spec.delay))
        self._triggers.sort()
        now = self.watermark.value if self.event_time else int(batch.timestamps.max())
        return self._advance(now)

    def _sliding_now(self, batch: Batch, trig: np.ndarray) -> Batch | None:
        """Processing time without delay: each trigger row sees the rows that arrived up to it."""
        before = len(self.buffer)
        self.buffer.append(batch)
        rows = self.buffer.rows()
        ts = rows.timestamps
        idx = np.flatnonzero(trig) + before
        if len(idx) == 0:
            self._gc_sliding(ts)
            return None
        t = ts[idx]
        starts = np.searchsorted(ts, t - self.spec.size, side="left")
        starts = np.minimum(starts, idx)
        out = assemble(rows, starts.astype(np.int64), (idx + 1).astype(np.int64),
                       t - self.spec.size, t)
        self._gc_sliding(ts)
        return out

    def _fire_sliding(self, now: int, final: bool) -> Batch | None:
        due = [tr for tr in self._triggers if final or tr[1] <= now]
        if not due:
            if not self._triggers and len(self.buffer):
                self._gc_sliding(self.buffer.rows().timestamps)
            return None
        self._triggers = self._triggers[len(due):]
        rows = self.buffer.rows()
        ts = rows.timestamps
        t = np.array([d[0] for d in due], dtype=np.int64)
        fire = np.array([d[1] for d in due], dtype=np.int64)
        delayed = self.spec.delay > 0
        starts, ends = wk.range_bounds(ts, t - self.spec.size, fire, False, not delayed)
        out = assemble(rows, starts, ends, t - self.spec.size, fire)
        self._gc_sliding(ts)
        return out

    def _gc_sliding(self, ts: np.ndarray) -> None:
        oldest = self._triggers[0][0] if self._triggers else (int(ts[-1]) if len(ts) else 0)
        if self.event_time and not self._triggers:
            oldest = max(oldest, self.watermark.value)
        self.buffer.keep_from(int(np.searchsorted(ts, oldest - self.spec.size, side="left")))

    # session: closes after `timeout` of silence or at a multiple of the max duration --------
    def _close_sessions(self, now: int, final: bool) -> Batch | None:
        if not len(self.buffer):
            return None
        rows = self.buffer.rows()
        rs, re, ws, we = wk.session_bounds(rows.timestamps, self.spec.timeout, self.spec.size,
                                            now, final)
        if len(rs) == 0:
            return None
        out = assemble(rows, rs, re, ws, we)
        self.buffer.keep_from(int(re[-1]))
        return out


class CountWindowOp(Operator):
    """COUNTWINDOW(n[, step]): every `step` rows, the last `n` rows (once n have arrived)."""

    holds_window_rows = True  # state_size() is bounded by the rule's maxWindowRows
    where: Node | None = None

    def __init__(self, name: str, spec: WindowSpec) -> None:
        self.name = name
        self.spec = spec
        self.buffer = RowBuffer(by_time=False)
        self._since_emit = 0
        self._emitted_through = 0  # rows of the buffer already part of an emission
        self._last_end: int | None = None

    def state_size(self) -> int:
        return len(self.buffer)

    def snapshot_state(self) -> dict[str, Any]:
        return {"buffer": self.buffer.snapshot_state(), "since_emit": self._since_emit,
                "emitted_through": self._emitted_through, "last_end": self._last_end}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.buffer.restore_state(state["buffer"])
        self._since_emit = int(state["since_emit"])
        self._emitted_through = int(state["emitted_through"])
        self._last_end = state["last_end"]

    def process(self, batch: Batch) -> Batch | None:
        batch = pre_filter(self, batch)
        if batch.n == 0:
            return None
        n, step = self.spec.size, self.spec.hop or self.spec.size
        before = len(self.buffer)
        self.buffer.append(batch)
        rows = self.buffer.rows()
        # trigger rows: the buffer rows where the running count reaches a multiple of step
        counts = self._since_emit + np.arange(1, batch.n + 1)
        trig = before + np.flatnonzero(counts % step == 0)
        self._since_emit = int(counts[-1] % step)
        trig = trig[trig + 1 >= n]
        if len(trig) == 0:
            self._trim(rows, n)
            return None
        ends = (trig + 1).astype(np.int64)
        starts = ends - n
        ts = rows.timestamps
        win_end = ts[trig]
        win_start = np.concatenate([[self._last_end if self._last_end is not None else ts[starts[0]]],
                                    win_end[:-1]])
        self._last_end = int(win_end[-1])
        out = assemble(rows, starts, ends, win_start, win_end)
        self.buffer.keep_from(int(ends[-1]) - n + 1)
        self._emitted_through = n - 1
        return out

    def _trim(self, rows: Batch, n: int) -> None:
        if rows.n > n:
            self.buffer.keep_from(rows.n - n)
            self._emitted_through = max(0, self._emitted_through - (rows.n - n))

    def finish(self) -> Batch | None:
        """The rows that never made it into a full window close as one last window."""
        if len(self.buffer) <= self._emitted_through:
            return None
        rows = self.buffer.rows()
        rows = rows.slice(self._emitted_through, rows.n)
        ts = rows.timestamps
        start = np.array([self._last_end if self._last_end is not None else ts[0]], dtype=np.int64)
        out = assemble(rows, np.array([0], dtype=np.int64), np.array([rows.n], dtype=np.int64),
                       start, np.array([ts[-1]], dtype=np.int64))
        self.buffer.clear()
        return out
