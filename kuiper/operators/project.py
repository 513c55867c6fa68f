"""SELECT: compute the output fields, expand `*` (with EXCEPT/REPLACE), apply aliases."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kuiper.api.batch import ANY, Batch, Column
from kuiper.expr.nodes import EvalContext, FieldRef, Node
from kuiper.expr.rulefuncs import ChangedCols, Unnest
from kuiper.operators.base import Operator


@dataclass(slots=True)
class SelectField:
    """One output field: an expression with its name, or `*` with EXCEPT/REPLACE lists."""

    name: str
    expr: Node | None = None
    star_except: tuple[str, ...] = ()
    star_replace: list[tuple[str, Node]] = field(default_factory=list)
    invisible: bool = False
    error_prefix: str = ""  # eKuiper's words for a row this field fails on (see ProjectOp)

    @property
    def is_star(self) -> bool:
        return self.expr is None


SELECT_ERROR = "run Select error: "  # eKuiper's project_operator.go prefix


class ProjectOp(Operator):
    def __init__(self, name: str, fields: list[SelectField], limit: int | None = None,
                 func_ctx: object = None) -> None:
        self.name = name
        self.fields = fields
        self.limit = limit
        self.func_ctx = func_ctx

    def star_columns(self, batch: Batch, f: SelectField) -> dict[str, Column]:
        """The fields `*` expands to (a join's projection merges its streams' fields)."""
        return batch.columns

    def _column_picks(self) -> list[tuple[str, FieldRef]] | None:
        """(name, field) per output field when each one is a plain stream field: the output
        is then those columns as they are (no evaluation, no row errors)."""
        picks = getattr(self, "_picks", False)
        if picks is False:
            plain = (type(self) is ProjectOp and self.limit is None and all(
                type(f.expr) is FieldRef and not f.invisible for f in self.fields))
            picks = self._picks = ([(f.name, f.expr) for f in self.fields]  # type: ignore[misc]
                                   if plain else None)
        return picks

    def process(self, batch: Batch) -> Batch | None:
        if batch.n == 0:
            return None
        picks = self._column_picks()
        if picks is not None:
            cols = batch.columns
            out: dict[str, Column] = {}
            for name, ref in picks:
                col = cols.get(ref.column)
                out[name] = col if col is not None else Column.nulls(batch.n, ref.kind or ANY)
            return Batch(out, batch.n, batch.timestamps, batch.meta, batch.emission_bounds)
        ec = EvalContext(batch, func_ctx=self.func_ctx)
        out = {}
        for f in self.fields:
            if f.is_star:
                replaced = {name: node.eval(ec) for name, node in f.star_replace}
                for k, col in self.star_columns(batch, f).items():
                    if k in f.star_except:
                        continue
                    out[k] = replaced.pop(k, col)
                out.update(replaced)
                continue
            mark = ec.errors.mark
            col = f.expr.eval(ec)
            if f.error_prefix:
                ec.errors.prefix_since(mark, f.error_prefix)
            ec.env[f.name] = col
            if isinstance(f.expr, ChangedCols):
                out.update(spread_columns(col))
            elif not f.invisible:
                out[f.name] = col
        result = Batch(out, batch.n, batch.timestamps, batch.meta, batch.emission_bounds)
        srf = next((f for f in self.fields if isinstance(f.expr, Unnest)), None)
        if ec.errors.any:
            self.report_errors(int(np.count_nonzero(ec.errors.mask)), ec.errors.messages)
            if batch.emission_bounds is None:
                prefix = "" if srf is not None else SELECT_ERROR
                self.report_row_errors(ec.errors, ~ec.errors.mask, prefix)
            result = _drop_rows(result, ec.errors.mask)
        if srf is not None and result.n:
            result = expand_unnest(result, srf.name)
        if self.limit is not None:
            result = _limit(result, self.limit)
        return result if result.n else None


def spread_columns(col: Column) -> dict[str, Column]:
    """A multi-column function's per-row dicts as columns (keys in first-seen order)."""
    rows = col.to_pylist()
    keys: dict[str, None] = {}
    for r in rows:
        for k in r or ():
            keys.setdefault(k, None)
    return {k: Column.from_values([(r or {}).get(k) for r in rows]) for k in keys}


def expand_unnest(batch: Batch, name: str) -> Batch:
    """unnest: each element of row i's array becomes a row (an empty array gives none); object
    elements put their keys in as columns (over a field of the same name), other elements go
    in the field `name`. A row of a single event becomes single-row emissions (as eKuiper's
    project-set sends them); rows of a window emission stay in that emission."""
    arrays = batch.columns[name].to_pylist()
    lengths = np.array([len(a) if isinstance(a, list) else 1 for a in arrays], dtype=np.int64)
    idx = np.repeat(np.arange(batch.n, dtype=np.int64), lengths)
    elements = [e for a in arrays for e in (a if isinstance(a, list) else [a])]
    out = batch.take(idx)
    cols = {k: c for k, c in out.columns.items() if k != name}
    keys: dict[str, None] = {}
    for e in elements:
        if isinstance(e, dict):
            for k in e:
                keys.setdefault(k, None)
    for k in keys:
        from_obj = Column.from_values([e.get(k) if isinstance(e, dict) else None for e in elements])
        base = cols.get(k)
        if base is None:
            cols[k] = from_obj
        else:  # an element's key covers the field; rows whose element lacks it keep the field
            has_key = [isinstance(e, dict) and k in e for e in elements]
            vals = [o if m else b for o, b, m in zip(from_obj.to_pylist(), base.to_pylist(),
                                                      has_key, strict=True)]
            cols[k] = Column.from_values(vals)
    if any(not isinstance(e, dict) for e in elements):
        cols[name] = Column.from_values([None if isinstance(e, dict) else e for e in elements])
    out = out.with_columns(cols)
    if batch.emission_bounds is not None:
        ends = np.concatenate([[0], np.cumsum(lengths)])
        out.emission_bounds = ends[batch.emission_bounds].astype(np.int64)
    return out


def _drop_rows(batch: Batch, failed: np.ndarray) -> Batch:
    if batch.emission_bounds is None:
        return batch.filter(~failed)
    keep = np.flatnonzero(~failed)
    bounds = np.searchsorted(keep, batch.emission_bounds)
    out = batch.take(keep)
    out.emission_bounds = bounds
    return out


def _limit(batch: Batch, limit: int) -> Batch:
    """LIMIT applies to each emission (eKuiper limits every result set it sends)."""
    if batch.emission_bounds is None:
        return batch if limit >= 1 else batch.slice(0, 0)
    b = batch.emission_bounds
    starts, stops = b[:-1], np.minimum(b[1:], b[:-1] + limit)
    idx = np.concatenate([np.arange(s, e) for s, e in zip(starts, stops, strict=True)]) if len(starts) else np.zeros(0, dtype=np.int64)
    out = batch.take(idx.astype(np.int64))
    sizes = stops - starts
    out.emission_bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return out
