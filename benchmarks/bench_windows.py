"""Windowed aggregation throughput: the operator chain of the issue-6 benchmark rule on
pre-decoded batches, checked against a per-event reference.

    python3 /work/shared/bench/gen_data.py -n 1000000 -o /tmp/events-1m.jsonl
    python benchmarks/bench_windows.py /tmp/events-1m.jsonl [--batch 65536] [--repeat 3]

Rule: SELECT deviceId, avg(temperature), max(humidity), count(*) FROM demo
      WHERE temperature > 20 GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)   (event time on ts)
Decoding is done before the clock starts (the end-to-end figure comes with `kuiper run`).
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import orjson

from kuiper.api.batch import BIGINT, FLOAT, STRING, Batch, Column
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.planner import plan_rule
from kuiper.sql import parse

SQL = ("SELECT deviceId, avg(temperature), max(humidity), count(*) FROM demo "
       "WHERE temperature > 20 GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)")
STREAM = ('CREATE STREAM demo (deviceId string, temperature float, humidity bigint, ts bigint) '
          'WITH (DATASOURCE="events", FORMAT="json", TYPE="file", TIMESTAMP="ts")')


def load(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    codes: dict[str, int] = {}
    dev, temp, hum, ts = [], [], [], []
    with open(path, "rb") as f:
        for line in f:
            o = orjson.loads(line)
            dev.append(codes.setdefault(o["deviceId"], len(codes)))
            temp.append(o["temperature"])
            hum.append(o["humidity"])
            ts.append(o["ts"])
    return (np.array(dev, dtype=np.int32), np.array(list(codes), dtype=object),
            np.array(temp, dtype=np.float64), np.array(hum, dtype=np.int64),
            np.array(ts, dtype=np.int64))


def batches(data, size: int) -> list[Batch]:
    dev, dictionary, temp, hum, ts = data
    out = []
    for s in range(0, len(ts), size):
        e = min(s + size, len(ts))
        out.append(Batch({"deviceId": Column(STRING, dev[s:e], None, dictionary),
                          "temperature": Column(FLOAT, temp[s:e]),
                          "humidity": Column(BIGINT, hum[s:e]),
                          "ts": Column(BIGINT, ts[s:e])}, e - s, ts[s:e]))
    return out


def run_chain(ops, parts: list[Batch]) -> list[dict]:
    results: list[dict] = []

    def push(batch: Batch | None, start: int) -> None:
        for op in ops[start:]:
            if batch is None:
                return
            batch = op.process(batch)
        if batch is not None:
            results.extend(batch.to_rows())

    for b in parts:
        push(ops[0].process(b), 1)
    push(ops[0].finish(), 1)
    return results


def reference(data) -> list[dict]:
    """Per event, in plain Python: windows close in event-time order, as the rule's do."""
    dev, dictionary, temp, hum, ts = data
    wins: dict[int, dict[str, list]] = defaultdict(dict)
    for d, t, h, e in zip(dev.tolist(), temp.tolist(), hum.tolist(), ts.tolist()):
        if t <= 20:
            continue
        g = wins[e // 10_000 * 10_000].setdefault(dictionary[d], [0.0, 0, None])
        g[0] += t
        g[1] += 1
        g[2] = h if g[2] is None or h > g[2] else g[2]
    out = []
    for w in sorted(wins):
        for k, (s, c, m) in wins[w].items():
            out.append({"deviceId": k, "avg": s / c, "max": m, "count": c})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path", nargs="?", default="/tmp/events-1m.jsonl")
    ap.add_argument("--batch", type=int, default=65536)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = load(args.path)
    n = len(data[4])
    parts = batches(data, args.batch)
    cat = Catalog()
    cat.add_stream(parse(STREAM).definition)
    rule = RuleDef("bench", SQL, options={"isEventTime": True})
    best = float("inf")
    results: list[dict] = []
    for _ in range(args.repeat):
        ops = plan_rule(rule, cat).operators
        t0 = time.perf_counter()
        results = run_chain(ops, parts)
        best = min(best, time.perf_counter() - t0)
    want = reference(data)
    ok = len(results) == len(want) and all(
        r["deviceId"] == w["deviceId"] and r["count"] == w["count"] and r["max"] == w["max"]
        and abs(r["avg"] - w["avg"]) < 1e-9 for r, w in zip(results, want))
    print(f"events={n} batch={args.batch} results={len(results)} best={best * 1000:.1f} ms "
          f"rate={n / best / 1e6:.2f} M events/s equal_to_reference={ok}")
    if not ok:
        raise SystemExit("results differ from the per-event reference")


if __name__ == "__main__":
    main()
