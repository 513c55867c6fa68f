"""WHERE: keep the rows whose condition is true (nil counts as false)."""
from __future__ import annotations

import numpy as np

from kuiper.api.batch import Batch
from kuiper.expr.nodes import EvalContext, Node
from kuiper.expr.nulls import truth
from kuiper.operators.base import Operator


class FilterOp(Operator):
    def __init__(self, name: str, condition: Node, func_ctx: object = None) -> None:
        self.name = name
        self.condition = condition
        self.func_ctx = func_ctx

    def process(self, batch: Batch) -> Batch | None:
        if batch.n == 0:
            return None
        ec = EvalContext(batch, func_ctx=self.func_ctx)
        mask = truth(self.condition.eval(ec))
        if ec.errors.any:
            self.report_errors(int(np.count_nonzero(ec.errors.mask)), ec.errors.messages)
            mask = mask & ~ec.errors.mask
        out = batch.filter(mask)
        return out if out.n else None
