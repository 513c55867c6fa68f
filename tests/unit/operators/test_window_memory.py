"""Window state is freed when windows close: a 10-minute run, 10 s tumbling, 500 keys."""
from __future__ import annotations

import numpy as np

from kuiper.api.batch import BIGINT, FLOAT, STRING, Batch, Column
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.planner import plan_rule
from kuiper.sql import parse


def test_state_stays_bounded_over_ten_minutes():
    cat = Catalog()
    cat.add_stream(parse('CREATE STREAM demo (deviceId string, temperature float, ts bigint) '
                         'WITH (DATASOURCE="d", TIMESTAMP="ts")').definition)
    rule = RuleDef("mem", "SELECT deviceId, avg(temperature) FROM demo "
                   "GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)", options={"isEventTime": True})
    ops = plan_rule(rule, cat).operators
    window = ops[0]
    rng = np.random.default_rng(1)
    dictionary = np.array([f"dev-{i:03d}" for i in range(500)], dtype=object)
    sizes, emitted = [], 0
    for second in range(600):  # 1000 events per second, one batch per second
        ts = second * 1000 + np.sort(rng.integers(0, 1000, 1000))
        batch = Batch({"deviceId": Column(STRING, rng.integers(0, 500, 1000).astype(np.int32),
                                          None, dictionary),
                       "temperature": Column(FLOAT, rng.random(1000) * 40),
                       "ts": Column(BIGINT, ts)}, 1000, ts)
        out = window.process(batch)
        for op in ops[1:]:
            out = op.process(out) if out is not None else None
        if out is not None:
            emitted += len(out.emissions())
        sizes.append(window.state_size())
    assert emitted == 59  # the last window is still open
    # at most one open window plus the tolerance second of the next: ~11 s of rows
    assert max(sizes) <= 12_000
    assert max(sizes[-100:]) <= max(sizes[:100]) + 1000
