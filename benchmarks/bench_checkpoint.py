"""Checkpoint cost of a window's state: snapshot + encode + restore time and blob size for an
open 60 s tumbling window holding N rows (4 columns: string key, float, bigint, timestamp).

    python benchmarks/bench_checkpoint.py [--rows 1000000] [--repeat 5]

The blob is columnar (`kuiper.state.opstate`): numeric columns are their raw buffers, strings
their dictionary codes plus one dictionary, so its size is close to the arrays' bytes.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from kuiper.api.batch import BIGINT, FLOAT, STRING, Batch, Column
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.planner import plan_rule
from kuiper.sql import parse
from kuiper.state import opstate

SQL = ("SELECT deviceId, avg(temperature), max(humidity), count(*) FROM demo "
       "GROUP BY deviceId, TUMBLINGWINDOW(ss, 60)")
STREAM = ('CREATE STREAM demo (deviceId string, temperature float, humidity bigint, ts bigint) '
          'WITH (DATASOURCE="events", TIMESTAMP="ts")')


def _window(rows: int) -> object:
    cat = Catalog()
    cat.add_stream(parse(STREAM).definition)
    op = plan_rule(RuleDef("bench", SQL, options={"isEventTime": True}), cat).operators[0]
    rng = np.random.default_rng(1)
    keys = np.array([f"dev-{i:04d}" for i in range(1000)], dtype=object)
    step = 50_000 / max(rows, 1)  # every row inside the first 50 s: the window stays open
    for start in range(0, rows, 65_536):
        n = min(65_536, rows - start)
        ts = (np.arange(start, start + n) * step).astype(np.int64)
        op.process(Batch({"deviceId": Column(STRING, rng.integers(0, 1000, n).astype(np.int32),
                                             None, keys),
                          "temperature": Column(FLOAT, rng.random(n) * 40),
                          "humidity": Column(BIGINT, rng.integers(0, 100, n)),
                          "ts": Column(BIGINT, ts)}, n, ts))
    return op


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    op = _window(args.rows)
    snap_t, load_t, size = [], [], 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        blob = opstate.dumps({"op": op.snapshot_state()})  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        fresh = _window(0)
        fresh.restore_state(opstate.loads(blob)["op"])  # type: ignore[attr-defined]
        t2 = time.perf_counter()
        snap_t.append(t1 - t0)
        load_t.append(t2 - t1)
        size = len(blob)
    assert fresh.state_size() == args.rows  # type: ignore[attr-defined]
    print(f"window rows {args.rows:,}: blob {size / 1e6:.1f} MB ({size / args.rows:.1f} B/row), "
          f"snapshot {min(snap_t) * 1000:.1f} ms, restore {min(load_t) * 1000:.1f} ms "
          f"(best of {args.repeat})")


if __name__ == "__main__":
    main()
