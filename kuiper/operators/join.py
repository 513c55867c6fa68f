"""Joins: stream ⋈ stream inside a window, stream ⋈ scan table with or without a window.

Inputs of a join rule are numbered as the rule's sources (FROM first, then each JOIN); the
runtime hands operator 1 each batch with its input index. Stream rows are qualified
(`ref.field` columns, see `join_core`) and, with a window, buffered by `JoinWindowOp` until the
window closes; `JoinOp` then joins each emission's rows, stream by stream, in FROM order. A
scan table (`CREATE TABLE`, `RETAIN_SIZE`) is a snapshot (`TableState`) that table batches
update and every stream row or window joins against: the stream triggers the join.
WHERE runs on the joined rows (`JoinFilterOp`), `*` merges the streams' fields
(`JoinProjectOp`, the first stream having a field wins, as eKuiper's JoinTuple does).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kuiper.api.batch import Batch, Column, concat_batches
from kuiper.operators.aggregate import HavingOp, emission_ids
from kuiper.operators.base import Operator
from kuiper.operators.join_core import (
    SRC,
    Joined,
    JoinStep,
    bounds_of,
    gather,
    join_step,
    qualify,
)
from kuiper.operators.project import ProjectOp, SelectField
from kuiper.operators.window import WindowOp, WindowSpec, event_timestamps
from kuiper.operators.window_buffer import END_OF_TIME


@dataclass
class JoinInput:
    """One input of a join rule: the ref qualifying its columns and what it is."""

    ref: str
    is_table: bool = False
    timestamp_field: str = ""  # event time: the stream's TIMESTAMP field
    retain_size: int = 1  # scan tables: rows kept (0 = all rows read, a file table)


class TableState:
    """A scan table's snapshot: its last `retain_size` rows (all of them when 0)."""

    def __init__(self, ref: str, retain_size: int) -> None:
        self.ref = ref
        self.retain_size = retain_size
        self.rows = Batch.empty()

    def update(self, batch: Batch) -> None:
        rows = concat_batches([self.rows, qualify(batch, self.ref, None)])
        if self.retain_size > 0 and rows.n > self.retain_size:
            rows = rows.slice(rows.n - self.retain_size, rows.n)
        self.rows = rows

    def __len__(self) -> int:
        return self.rows.n


class JoinWindowOp(WindowOp):
    """The window of a join rule: qualifies each stream's rows and buffers them together; table
    batches update their snapshot and skip the window."""

    def __init__(self, name: str, spec: WindowSpec, inputs: list[JoinInput],
                 tables: dict[str, TableState], *, event_time: bool = False,
                 late_tolerance_ms: int = 1000) -> None:
        self.inputs = inputs
        self.tables = tables
        self.stream_pos = {}
        for i, inp in enumerate(inputs):
            if not inp.is_table:
                self.stream_pos[i] = len(self.stream_pos)
        super().__init__(name, spec, event_time=event_time, late_tolerance_ms=late_tolerance_ms,
                         inputs=max(1, len(self.stream_pos)))

    def process(self, batch: Batch, input_index: int = 0) -> Batch | None:
        inp = self.inputs[input_index]
        if inp.is_table:
            self.tables[inp.ref].update(batch)
            return None
        if batch.n == 0:
            return None
        if self.event_time and inp.timestamp_field:
            batch = event_timestamps(batch, inp.timestamp_field)
        return super().process(qualify(batch, inp.ref, input_index), self.stream_pos[input_index])

    def end_input(self, input_index: int) -> Batch | None:
        """A stream has ended: it no longer holds the watermark back."""
        pos = self.stream_pos.get(input_index)
        if pos is None or not self.event_time:
            return None
        wm = self.watermark
        wm.latest[pos] = END_OF_TIME
        wm.value = max(wm.value, min(wm.latest) - wm.late_tolerance_ms)
        return self._advance(wm.value)


class JoinOp(Operator):
    """Joins the rows of each emission (a window, or one stream row without a window).

    `inputs` is set when the join is the rule's first operator (stream ⋈ table without a
    window): it then qualifies stream rows and updates tables itself."""

    def __init__(self, name: str, first: str, steps: list[JoinStep],
                 src_of: dict[str, int], tables: dict[str, TableState],
                 inputs: list[JoinInput] | None = None) -> None:
        self.name = name
        self.first = first
        self.steps = steps
        self.src_of = src_of  # stream ref -> its input index (the `__src` of its rows)
        self.tables = tables
        self.inputs = inputs

    def metrics(self) -> dict[str, int]:
        return {f"table_{ref}_rows": len(t) for ref, t in self.tables.items()}

    def process(self, batch: Batch, input_index: int = 0) -> Batch | None:
        if self.inputs is not None:
            inp = self.inputs[input_index]
            if inp.is_table:
                self.tables[inp.ref].update(batch)
                return None
            batch = qualify(batch, inp.ref, input_index)
        if batch.n == 0:
            return None
        return self.join(batch)

    def join(self, batch: Batch) -> Batch | None:
        emit, _ = emission_ids(batch)
        src = batch.columns[SRC].values if SRC in batch.columns else np.zeros(batch.n, np.int64)
        sources = {ref: batch for ref in self.src_of}
        sources.update({ref: t.rows for ref, t in self.tables.items()})
        first_rows = np.flatnonzero(src == self.src_of[self.first])
        acc = Joined({self.first: first_rows}, emit[first_rows])
        for step in self.steps:
            if step.ref in self.tables:
                right = np.arange(self.tables[step.ref].rows.n, dtype=np.int64)
                acc = join_step(acc, step, sources, right, None)
            else:
                right = np.flatnonzero(src == self.src_of[step.ref])
                acc = join_step(acc, step, sources, right, emit[right])
            if acc.n == 0:
                return None
        out = gather(acc, sources)
        out.emission_bounds = bounds_of(acc.emission)
        return out


class JoinFilterOp(HavingOp):
    """WHERE over joined rows; the emissions (windows) stay together (HAVING's filter)."""


class JoinProjectOp(ProjectOp):
    """SELECT over joined rows: `*` (or `ref.*`) gives unqualified field names; where several
    streams have a field, the first one in FROM order holding a value wins."""

    def __init__(self, name: str, fields: list[SelectField], refs: list[str],
                 star_refs: list[list[str]], limit: int | None = None) -> None:
        super().__init__(name, fields, limit)
        self.refs = refs
        self.star_refs = star_refs  # per `*` field in SELECT order: the refs it expands

    def star_columns(self, batch: Batch, f: SelectField) -> dict[str, Column]:
        stars = [g for g in self.fields if g.is_star]
        pos = next((i for i, g in enumerate(stars) if g is f), None)
        refs = self.star_refs[pos] if pos is not None and pos < len(self.star_refs) else self.refs
        out: dict[str, Column] = {}
        for ref in refs:
            prefix = ref + "."
            for k, col in batch.columns.items():
                if not k.startswith(prefix):
                    continue
                name = k[len(prefix):]
                prev = out.get(name)
                out[name] = col if prev is None else _coalesce(prev, col)
        if refs == self.refs:
            for k, col in batch.columns.items():
                if k != SRC and "." not in k:
                    out.setdefault(k, col)
        return out


def _coalesce(first: Column, second: Column) -> Column:
    hole = ~first.validity() & second.validity()
    if not hole.any():
        return first
    if not first.validity().any():
        return second
    vals = np.array(first.to_pylist(), dtype=object)
    vals[hole] = np.array(second.to_pylist(), dtype=object)[hole]
    return Column.from_values(vals.tolist())
