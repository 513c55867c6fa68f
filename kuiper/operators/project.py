"""SELECT: compute the output fields, expand `*` (with EXCEPT/REPLACE), apply aliases."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kuiper.api.batch import Batch, Column
from kuiper.expr.nodes import EvalContext, Node
from kuiper.operators.base import Operator


@dataclass(slots=True)
class SelectField:
    """One output field: an expression with its name, or `*` with EXCEPT/REPLACE lists."""

    name: str
    expr: Node | None = None
    star_except: tuple[str, ...] = ()
    star_replace: list[tuple[str, Node]] = field(default_factory=list)
    invisible: bool = False

    @property
    def is_star(self) -> bool:
        return self.expr is None


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

    def process(self, batch: Batch) -> Batch | None:
        if batch.n == 0:
            return None
        ec = EvalContext(batch, func_ctx=self.func_ctx)
        out: dict[str, Column] = {}
        for f in self.fields:
            if f.is_star:
                replaced = {name: node.eval(ec) for name, node in f.star_replace}
                for k, col in self.star_columns(batch, f).items():
                    if k in f.star_except:
                        continue
                    out[k] = replaced.pop(k, col)
                out.update(replaced)
                continue
            col = f.expr.eval(ec)
            ec.env[f.name] = col
            if not f.invisible:
                out[f.name] = col
        result = Batch(out, batch.n, batch.timestamps, batch.meta, batch.emission_bounds)
        if ec.errors.any:
            self.report_errors(int(np.count_nonzero(ec.errors.mask)), ec.errors.messages)
            result = _drop_rows(result, ec.errors.mask)
        if self.limit is not None:
            result = _limit(result, self.limit)
        return result if result.n else None


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
