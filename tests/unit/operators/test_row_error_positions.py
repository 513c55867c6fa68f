"""Failed rows keep their place: an operator reports each one at its output position, and the
runtime cuts the output there (sendError), emission bounds included."""
from __future__ import annotations

import numpy as np

from kuiper.api.batch import Batch
from kuiper.expr.nodes import slice_array
from kuiper.operators.base import Operator
from kuiper.operators.watermark import WatermarkOp
from kuiper.runtime.node import slice_emissions


def test_report_row_errors_places_each_failed_row_before_the_next_kept_row() -> None:
    op = Operator()
    kept = np.array([True, False, True, False, False, True])
    op.report_row_errors([(1, "e1"), (3, "e3"), (4, "e4")], kept, "run Where error: ")
    assert op.take_row_errors() == [(1, "run Where error: e1"), (2, "run Where error: e3"),
                                    (2, "run Where error: e4")]
    assert op.take_row_errors() == []


def test_slice_emissions_keeps_the_emissions_inside_the_cut() -> None:
    batch = Batch.from_rows([{"a": i} for i in range(6)])
    batch.emission_bounds = np.array([0, 2, 5, 6], dtype=np.int64)
    part = slice_emissions(batch, 2, 6)
    assert [r["a"] for r in part.to_rows()] == [2, 3, 4, 5]
    assert part.emissions() == [(0, 3), (3, 4)]


def test_slice_array_follows_ekuipers_subset() -> None:
    arr = [1, 2, 3, 4]
    assert slice_array(arr, 1, 3) == ([2, 3], None)
    assert slice_array(arr, 1, -2147483648) == ([2, 3, 4], None)  # open end
    assert slice_array(arr, 2, 2) == (3, None)  # equal bounds are an index
    assert slice_array(arr, 4, 5)[1] == "start value is out of index: 4 of 4"
    assert slice_array(arr, 1, 5)[1] == "end value is out of index: 5 of 4"
    assert slice_array(arr, 3, 1)[1] == "start cannot be greater than end. start:3  end:1"
    assert slice_array(arr, -5, 2)[1] == "out of index: -5 of 4"
    assert slice_array([], 0, -2147483648)[1] == "start value is out of index: 0 of 0"


def test_watermark_op_sorts_and_drops_late_rows() -> None:
    op = WatermarkOp("2_watermark", "ts", 1000)
    out = []
    for ts in (6013, 7632, 9252, 6822, 8442, 92342):
        got = op.process(Batch.from_rows([{"ts": ts}]))
        out += [r["ts"] for r in got.to_rows()] if got is not None else []
    assert out == [6013, 7632, 8442, 9252]
    assert op.late_rows_total == 1
    rest = op.finish()
    assert rest is not None and [r["ts"] for r in rest.to_rows()] == [92342]
