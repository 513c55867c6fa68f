"""Soak test: many rules under a steady load for minutes; memory and checkpoint store over time.

`--rules` rules (a third tumbling-window aggregates, a third hopping-window counts, a third
filter/project) each read their own memory topic; a producer publishes `--rate` events/s in
total, spread over the topics, in ticks of 10 ms. Every rule runs at qos 1 with a short
`checkpointInterval`, so its window state and offsets go to the SQLite checkpoint store
(`{root}/data/sqliteKV.db`) over and over. Every `--every` seconds a line reports the RSS of
the process, the store's size on disk and the rows the sinks received; at the end a summary
compares the figures after warm-up (the first `--warmup` fraction of the run) with the last
ones. Bounded: it stops by itself after `--minutes`.

    python benchmarks/soak.py --minutes 10 --rules 50 --rate 2000
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import kuiper.io  # noqa: E402,F401  (connectors)
from kuiper.catalog.catalog import Catalog  # noqa: E402
from kuiper.catalog.defs import RuleDef  # noqa: E402
from kuiper.io.pubsub import BUS  # noqa: E402
from kuiper.planner.build import plan_rule  # noqa: E402
from kuiper.runtime.loop import run  # noqa: E402
from kuiper.runtime.rule import RuleRunner  # noqa: E402
from kuiper.sql import parse  # noqa: E402

SQLS = (
    "SELECT deviceId, count(*) AS n, avg(temperature) AS t FROM {s} "
    "GROUP BY deviceId, TUMBLINGWINDOW(ss, 5)",
    "SELECT count(*) AS n, max(humidity) AS h FROM {s} GROUP BY HOPPINGWINDOW(ss, 10, 2)",
    "SELECT deviceId, temperature * 1.8 + 32 AS tf FROM {s} WHERE temperature > 25",
)


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def store_bytes(root: Path) -> int:
    data = root / "data"
    return sum(p.stat().st_size for p in data.glob("sqliteKV.db*")) if data.exists() else 0


def build(root: Path, rules: int, checkpoint_ms: int) -> list[RuleRunner]:
    catalog = Catalog()
    runners = []
    for i in range(rules):
        catalog.add_stream(parse(
            f'CREATE STREAM s{i} (deviceId string, temperature float, humidity bigint) '
            f'WITH (DATASOURCE="soak/{i}", TYPE="memory", FORMAT="json")').definition)
        rule = RuleDef(id=f"soak{i}", sql=SQLS[i % len(SQLS)].format(s=f"s{i}"),
                       actions=(("nop", {}),),
                       options={"qos": 1, "checkpointInterval": checkpoint_ms,
                                "bufferLength": 1024})
        runners.append(RuleRunner(plan_rule(rule, catalog), str(root)))
    return runners


async def produce(rules: int, rate: int, stop_at: float, counter: list[int]) -> None:
    """`rate` events/s over all topics, one publish per topic and 10 ms tick."""
    rng = random.Random(7)
    tick = 0.01
    per_tick = rate * tick
    owed = 0.0
    start = time.monotonic()
    k = 0
    while time.monotonic() < stop_at:
        owed += per_tick
        n = int(owed)
        owed -= n
        by_topic: dict[int, list[dict[str, Any]]] = {}
        for _ in range(n):
            by_topic.setdefault(k % rules, []).append({
                "deviceId": f"dev{rng.randrange(20)}", "temperature": rng.uniform(15, 35),
                "humidity": rng.randrange(100)})
            k += 1
        for topic, rows in by_topic.items():
            BUS.publish(f"soak/{topic}", rows)
        counter[0] += n
        next_at = start + (counter[1] + 1) * tick
        counter[1] += 1
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


def sink_rows(runners: list[RuleRunner]) -> int:
    total = 0
    for r in runners:
        for key, value in r.metrics().items():
            if key.startswith("sink_") and key.endswith("_records_in_total"):
                total += int(value)
    return total


async def soak(args: argparse.Namespace, root: Path) -> list[tuple[float, int, float, int, int]]:
    runners = build(root, args.rules, args.checkpoint_ms)
    for r in runners:
        await r.start()
    duration = args.minutes * 60
    started = time.monotonic()
    stop_at = started + duration
    counter = [0, 0]
    producer = asyncio.create_task(produce(args.rules, args.rate, stop_at, counter))
    samples: list[tuple[float, int, float, int, int]] = []
    print(f"{'t_s':>6} {'events':>10} {'rss_mb':>8} {'store_kb':>9} {'sink_rows':>10} "
          f"{'running':>7}", flush=True)
    while not producer.done():
        await asyncio.sleep(min(args.every, max(0.0, stop_at - time.monotonic()) + 0.01))
        t = time.monotonic() - started
        running = sum(r.state == "running" for r in runners)
        sample = (t, counter[0], rss_mb(), store_bytes(root), sink_rows(runners))
        samples.append(sample)
        print(f"{t:6.0f} {sample[1]:10d} {sample[2]:8.1f} {sample[3] / 1024:9.0f} "
              f"{sample[4]:10d} {running:7d}", flush=True)
    await producer
    for r in runners:
        await r.stop()
    return samples


def summary(samples: list[tuple[float, int, float, int, int]], warmup: float,
            minutes: float) -> None:
    after = [s for s in samples if s[0] >= warmup * minutes * 60] or samples[-1:]
    rss = [s[2] for s in after]
    store = [s[3] for s in after]
    rate = samples[-1][1] / samples[-1][0] if samples[-1][0] else 0
    print(f"\nevents: {samples[-1][1]} in {samples[-1][0]:.0f} s ({rate:.0f}/s); "
          f"sink rows: {samples[-1][4]}")
    print(f"after warm-up ({len(after)} samples): RSS {rss[0]:.1f} -> {rss[-1]:.1f} MB "
          f"(min {min(rss):.1f}, max {max(rss):.1f}, drift {rss[-1] - rss[0]:+.1f} MB); "
          f"store {store[0] / 1024:.0f} -> {store[-1] / 1024:.0f} KB "
          f"(max {max(store) / 1024:.0f} KB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rules", type=int, default=50)
    ap.add_argument("--rate", type=int, default=2000, help="events/s over all rules")
    ap.add_argument("--every", type=float, default=30.0, help="seconds between report lines")
    ap.add_argument("--checkpoint-ms", type=int, default=2000,
                    help="checkpointInterval of every rule (ms)")
    ap.add_argument("--warmup", type=float, default=0.2,
                    help="fraction of the run left out of the flatness summary")
    ap.add_argument("--root", help="kuiper root (default: a temporary folder, removed after)")
    args = ap.parse_args()
    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="kuiper-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"soak: {args.rules} rules, {args.rate} events/s, {args.minutes} min, qos 1, "
          f"checkpointInterval {args.checkpoint_ms} ms, root {root}, pid {os.getpid()}",
          flush=True)
    try:
        samples = run(soak(args, root))
        summary(samples, args.warmup, args.minutes)
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
