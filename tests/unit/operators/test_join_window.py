"""A windowed join frees what it buffered once windows close (state stays bounded)."""
from __future__ import annotations

import numpy as np

from kuiper.api.batch import BIGINT, STRING, Batch, Column
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.operators.join import JoinWindowOp
from kuiper.planner import plan_rule
from kuiper.sql import parse


def _plan():
    cat = Catalog()
    for name, field in (("a", "x"), ("b", "y")):
        cat.add_stream(parse(f'CREATE STREAM {name} (k string, {field} bigint, ts bigint) WITH '
                             f'(TYPE="memory", DATASOURCE="{name}", TIMESTAMP="ts")').definition)
    sql = ("SELECT a.k, count(*) AS c FROM a JOIN b ON a.k = b.k "
           "GROUP BY a.k, TUMBLINGWINDOW(ss, 10)")
    return plan_rule(RuleDef("r", sql, options={"isEventTime": True}), cat)


def _batch(field: str, start: int, n: int, keys: np.ndarray) -> Batch:
    ts = start + np.arange(n, dtype=np.int64) * 100
    codes = (np.arange(n) % len(keys)).astype(np.int32)
    return Batch({"k": Column(STRING, codes, None, keys), field: Column(BIGINT, np.arange(n)),
                  "ts": Column(BIGINT, ts)}, n, ts)


def test_join_window_state_is_freed_as_windows_close() -> None:
    ops = _plan().operators
    win = ops[0]
    assert isinstance(win, JoinWindowOp)
    keys = np.array([f"k{i}" for i in range(50)], dtype=object)
    emitted = 0
    sizes = []
    for step in range(60):  # 10 minutes of event time, 1000 rows per stream per 100 s
        t0 = step * 10_000
        for idx, field in ((0, "x"), (1, "y")):
            out = win.process(_batch(field, t0, 100, keys), idx)
            for op in ops[1:]:
                if out is None:
                    break
                out = op.process(out)
            emitted += 0 if out is None else out.n
        sizes.append(win.state_size())
    assert max(sizes) <= 400  # about one open window per stream, never the whole history
    assert emitted == 59 * 50
    assert win.late_rows_total == 0
