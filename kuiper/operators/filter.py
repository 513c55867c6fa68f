"""WHERE: keep the rows whose condition is true (nil counts as false)."""
from __future__ import annotations

import numpy as np

from kuiper.api.batch import Batch
from kuiper.expr.nodes import EvalContext, Node
from kuiper.expr.nulls import truth
from kuiper.expr.rulefuncs import is_stateful, reading_hits
from kuiper.operators.base import Operator

WHERE_ERROR = "run Where error: "  # eKuiper's filter_operator.go prefix


def evaluate_condition(condition: Node, batch: Batch, func_ctx: object = None,
                       stateful: bool | None = None) -> tuple[np.ndarray, EvalContext]:
    """The rows of `batch` that pass `condition`, and the context holding the row errors.

    A condition that reads rule state (last_hit_count() ...) is evaluated row after row, as
    eKuiper does, and a row that passes counts as a hit before the next row is read.
    `stateful`: `is_stateful(condition)` when the caller knows it (it walks the tree)."""
    ec = EvalContext(batch, func_ctx=func_ctx)
    if not (is_stateful(condition) if stateful is None else stateful):
        return truth(condition.eval(ec)), ec
    hits = reading_hits(condition)
    keep = np.zeros(batch.n, dtype=np.bool_)
    for i in range(batch.n):
        row = EvalContext(batch.slice(i, i + 1), func_ctx=func_ctx)
        ok = bool(truth(condition.eval(row))[0])
        if row.errors.any:
            ec.errors.fail_row(i, row.errors.row_messages()[0][1])
            continue
        if ok:
            keep[i] = True
            for h in hits:
                h.commit(row, 0)
    return keep, ec


class FilterOp(Operator):
    def __init__(self, name: str, condition: Node, func_ctx: object = None) -> None:
        self.name = name
        self.condition = condition
        self.func_ctx = func_ctx
        self.stateful = is_stateful(condition)

    def process(self, batch: Batch) -> Batch | None:
        if batch.n == 0:
            return None
        return self.select(batch, self.keep(batch)[0])

    def keep(self, batch: Batch) -> tuple[np.ndarray, bool]:
        """The rows that pass (row errors reported), and whether no row failed."""
        mask, ec = evaluate_condition(self.condition, batch, self.func_ctx,
                                      self.stateful)
        if ec.errors.any:
            self.report_errors(int(np.count_nonzero(ec.errors.mask)), ec.errors.messages)
            mask = mask & ~ec.errors.mask
            self.report_row_errors(ec.errors, mask, WHERE_ERROR)
            return mask, False
        return mask, True

    @staticmethod
    def select(batch: Batch, mask: np.ndarray) -> Batch | None:
        """The rows of `mask`, or None when there is none."""
        if not mask.any():
            return None
        out = batch.filter(mask)
        return out if out.n else None
