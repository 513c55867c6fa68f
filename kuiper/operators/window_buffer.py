"""What windows hold between emissions: buffered rows, the watermark, and emission assembly.

A window operator appends input batches to a `RowBuffer` (string dictionaries are unified so
codes stay comparable across batches), reads the buffer back as one timestamp-sorted batch when
windows close, and turns closed windows (row ranges + bounds) into one output batch: the rows of
every window back to back, `emission_bounds` between windows, and the window's start/end in the
meta columns `WINDOW_START` / `WINDOW_END` (what `window_start()` / `window_end()` read).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kuiper.api.batch import BIGINT, STRING, Batch, Column, concat_batches
from kuiper.state.opstate import decode_batch, encode_batch

WINDOW_START = "__window_start"
WINDOW_END = "__window_end"
END_OF_TIME = np.iinfo(np.int64).max // 4


@dataclass
class Watermark:
    """Event-time progress: min over inputs of the latest event time, minus the tolerance.

    Rows older than the current watermark are late: dropped and counted, never silently."""

    late_tolerance_ms: int = 1000
    inputs: int = 1
    latest: list[int] = field(default_factory=list)
    value: int = -END_OF_TIME
    late_rows_total: int = 0

    def __post_init__(self) -> None:
        self.latest = [-END_OF_TIME] * self.inputs

    def admit(self, ts: np.ndarray, input_index: int = 0) -> np.ndarray | None:
        """A mask of the on-time rows (None = all of them); updates the watermark."""
        if not len(ts):
            return None
        if self.inputs == 1:
            # row by row, as if each event came alone: a row is late against the watermark
            # the rows before it (in this batch too) have set
            running = np.maximum.accumulate(ts)
            before = np.empty_like(running)
            before[0] = self.latest[0]
            before[1:] = np.maximum(running[:-1], self.latest[0])
            mark = np.maximum(before - self.late_tolerance_ms, self.value)
            late = ts < mark
        else:
            late = ts < self.value
        keep = None
        if late.any():
            self.late_rows_total += int(np.count_nonzero(late))
            keep = ~late
        self.latest[input_index] = max(self.latest[input_index], int(ts.max()))
        self.value = max(self.value, min(self.latest) - self.late_tolerance_ms)
        return keep

    def close_all(self) -> None:
        self.value = END_OF_TIME

    def snapshot_state(self) -> dict[str, Any]:
        return {"latest": list(self.latest), "value": self.value,
                "late_rows_total": self.late_rows_total}

    def restore_state(self, state: dict[str, Any]) -> None:
        latest = [int(x) for x in state["latest"]]
        if len(latest) == self.inputs:
            self.latest = latest
        self.value = int(state["value"])
        self.late_rows_total = int(state["late_rows_total"])


class StringUnifier:
    """Keeps one dictionary per string column so codes from different batches compare."""

    def __init__(self) -> None:
        self._codes: dict[str, dict[str, int]] = {}
        self._dicts: dict[str, np.ndarray] = {}
        self._seen: dict[str, object] = {}

    def unify(self, batch: Batch) -> Batch:
        cols = None
        for name, col in batch.columns.items():
            if col.kind != STRING or col.dictionary is None:
                continue
            if self._seen.get(name) is col.dictionary:
                continue
            fixed = self._remap(name, col)
            if fixed is not col:
                cols = cols or dict(batch.columns)
                cols[name] = fixed
        if cols is None:
            return batch
        return Batch(cols, batch.n, batch.timestamps, batch.meta, batch.emission_bounds)

    def _remap(self, name: str, col: Column) -> Column:
        codes = self._codes.get(name)
        if codes is None:
            self._codes[name] = {s: i for i, s in enumerate(col.dictionary.tolist())}
            self._dicts[name] = col.dictionary
            self._seen[name] = col.dictionary
            return col
        known = self._dicts[name]
        entries = col.dictionary.tolist()
        if len(entries) >= len(known) and entries[: len(known)] == known.tolist():
            # the source's dictionary only grew: codes are already right
            for i in range(len(known), len(entries)):
                codes[entries[i]] = i
            self._dicts[name] = col.dictionary
            self._seen[name] = col.dictionary
            return col
        lut = np.empty(len(entries), dtype=np.int32)
        grown = False
        for i, s in enumerate(entries):
            c = codes.get(s)
            if c is None:
                c = codes[s] = len(codes)
                grown = True
            lut[i] = c
        if grown:
            self._dicts[name] = np.array(list(codes), dtype=object)
        values = lut[col.values] if len(lut) else col.values
        return Column(STRING, values, col.valid, self._dicts[name])

    def dictionary(self, name: str) -> np.ndarray | None:
        return self._dicts.get(name)


class RowBuffer:
    """Rows waiting for their windows to close, kept in timestamp order."""

    def __init__(self, by_time: bool = True) -> None:
        self._by_time = by_time  # False: keep arrival order (count and state windows)
        self._chunks: list[Batch] = []
        self._strings = StringUnifier()
        self._sorted = True
        self._max_ts = -END_OF_TIME

    def __len__(self) -> int:
        return sum(c.n for c in self._chunks)

    def append(self, batch: Batch) -> None:
        if batch.n == 0:
            return
        batch = self._strings.unify(batch)
        ts = batch.timestamps
        if self._sorted and (ts[0] < self._max_ts or (batch.n > 1 and bool((np.diff(ts) < 0).any()))):
            self._sorted = False
        self._max_ts = max(self._max_ts, int(ts.max()))
        self._chunks.append(batch)

    def rows(self) -> Batch:
        """All buffered rows as one batch sorted by timestamp (stable: arrival order on ties)."""
        if not self._chunks:
            return Batch.empty()
        chunks = [self._fix_dicts(c) for c in self._chunks]
        whole = concat_batches(chunks) if len(chunks) > 1 else chunks[0]
        if not self._sorted and self._by_time:
            whole = whole.take(np.argsort(whole.timestamps, kind="stable"))
            self._sorted = True
        self._chunks = [whole]
        return whole

    def _fix_dicts(self, batch: Batch) -> Batch:
        # chunks unified earlier may hold an older (shorter) dictionary object of the same codes
        cols = None
        for name, col in batch.columns.items():
            d = self._strings.dictionary(name)
            if col.kind == STRING and d is not None and col.dictionary is not d and col.dictionary is not None:
                cols = cols or dict(batch.columns)
                cols[name] = Column(STRING, col.values, col.valid, d)
        return batch if cols is None else batch.with_columns(cols)

    def keep_from(self, row: int) -> None:
        """Forget the sorted buffer's rows before `row` (their windows are all closed)."""
        if row <= 0 or not self._chunks:
            return
        whole = self.rows()
        self._chunks = [whole.slice(row, whole.n)] if row < whole.n else []

    def clear(self) -> None:
        self._chunks = []

    def snapshot_state(self) -> dict[str, Any] | None:
        """The buffered rows as one columnar batch (see `kuiper.state.opstate`)."""
        return encode_batch(self.rows()) if self._chunks else None

    def restore_state(self, state: dict[str, Any] | None) -> None:
        self._chunks = []
        self._strings = StringUnifier()
        self._sorted = True
        self._max_ts = -END_OF_TIME
        batch = decode_batch(state)
        if batch is not None and batch.n:
            self.append(batch)


def assemble(rows: Batch, starts: np.ndarray, ends: np.ndarray, win_start: np.ndarray,
             win_end: np.ndarray) -> Batch | None:
    """One output batch of the windows rows[starts[w]:ends[w]] (empty windows are skipped)."""
    sizes = ends - starts
    keep = sizes > 0
    if not keep.any():
        return None
    starts, ends, sizes = starts[keep], ends[keep], sizes[keep]
    win_start, win_end = win_start[keep], win_end[keep]
    contiguous = len(starts) == 1 or bool((starts[1:] == ends[:-1]).all())
    if contiguous:
        out = rows.slice(int(starts[0]), int(ends[-1]))
    else:
        total = int(sizes.sum())
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        out = rows.take(np.arange(total, dtype=np.int64) + offsets)
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    meta = dict(out.meta)
    meta[WINDOW_START] = Column(BIGINT, np.repeat(win_start.astype(np.int64), sizes))
    meta[WINDOW_END] = Column(BIGINT, np.repeat(win_end.astype(np.int64), sizes))
    return Batch(out.columns, out.n, out.timestamps, meta, bounds)


def merge_outputs(parts: list[Batch | None]) -> Batch | None:
    """Several emitting batches, in order, as one (emission bounds concatenated)."""
    parts = [p for p in parts if p is not None and p.n]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    whole = concat_batches(parts)
    bounds = [np.array([0], dtype=np.int64)]
    offset = 0
    for p in parts:
        b = p.emission_bounds if p.emission_bounds is not None else np.arange(p.n + 1)
        bounds.append(b[1:] + offset)
        offset += p.n
    whole.emission_bounds = np.concatenate(bounds).astype(np.int64)
    return whole
