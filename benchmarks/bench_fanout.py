#!/usr/bin/env python3
"""Many rules on one stream: rule-evaluations/s, RSS per rule and p99 latency, for N rules.

N filter/project rules with varied predicates (thresholds on temperature and humidity, a
device id equality, a computed column, `*`) read one stream through one shared source. For
each N (default 10, 100, 1000), each figure in a fresh process:
1. file: the stream is a file of E events read once (broker-free); rule-evaluations/s =
   N x E / (seconds from the first rule's start to the last rule's end);
2. mqtt flood: E events published as fast as possible on a unique topic of the local broker;
   rule-evaluations/s = N x E / (first publish -> last event processed by every rule);
3. RSS per rule: (RSS with N running idle rules on an MQTT stream - RSS with 0) / N, after
   the rules have settled; also the process' CPU time per second while they sit idle;
4. p99 latency: events published at 10,000 msg/s for a few seconds (their `ts` is the publish
   time in ms); each rule's results go to an in-process sink that records now - ts per row.

    python benchmarks/bench_fanout.py [--counts 10,100,1000] [--events 200000] [--seconds 5]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BROKER = ("127.0.0.1", 1883)
COLUMNS = "(deviceId string, temperature float, humidity bigint, ts bigint)"


def rule_sql(k: int) -> str:
    """Rule k's query: four predicate shapes, thresholds varied by k."""
    shape = k % 5
    if shape == 0:
        return f"SELECT deviceId, temperature, ts FROM demo WHERE temperature > {k % 40}"
    if shape == 1:
        return f"SELECT deviceId, humidity, ts FROM demo WHERE humidity < {k % 100}"
    if shape == 2:
        return (f"SELECT deviceId, temperature * 1.8 + 32 AS tf, ts FROM demo "
                f"WHERE deviceId = 'dev-{k % 500:03d}'")
    if shape == 3:
        return (f"SELECT deviceId, ts FROM demo WHERE temperature > {k % 30} "
                f"AND humidity > {k % 90}")
    return f"SELECT * FROM demo WHERE humidity >= {k % 100} AND temperature < {10 + k % 30}"


def make_events(n: int, path: Path) -> None:
    """Deterministic events (500 devices, temperature 0..40, humidity 0..100)."""
    import random

    rnd = random.Random(42)
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"deviceId": f"dev-{rnd.randrange(500):03d}",
                                "temperature": round(rnd.uniform(0, 40), 1),
                                "humidity": rnd.randrange(101), "ts": 1700000000000 + i}) + "\n")


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


# --- the kuiper side (child processes) ------------------------------------------------------
LATENCIES: list[Any] = []


def _register_latency_sink() -> None:
    import numpy as np

    from kuiper.api import Sink
    from kuiper.runtime.registry import register_sink

    @register_sink("latency")
    class LatencySink(Sink):
        """Records now - ts (ms) of every row it receives."""

        def collect_batch(self, ctx: Any, batch: Any) -> None:
            ts = batch.columns.get("ts")
            if ts is not None and batch.n:
                LATENCIES.append(time.time_ns() // 1_000_000 - ts.values.astype(np.int64))

        def collect(self, ctx: Any, data: Any) -> None:
            return None


def _runners(n: int, stream: str, root: str, sink: str) -> list[Any]:
    import kuiper.io  # noqa: F401
    from kuiper import planner, sql
    from kuiper.catalog.catalog import Catalog
    from kuiper.catalog.defs import RuleDef
    from kuiper.runtime.rule import RuleRunner

    catalog = Catalog()
    catalog.add_stream(sql.parse(stream).definition)
    runners = []
    for k in range(n):
        rule = RuleDef.from_json({"id": f"r{k}", "sql": rule_sql(k), "actions": [{sink: {}}]})
        runners.append(RuleRunner(planner.plan_rule(rule, catalog), root))
    return runners


async def _start(runners: list[Any]) -> None:
    from kuiper.runtime.shared_source import shared_sources

    with shared_sources().hold():
        for r in runners:
            await r.start()


def child_file(n: int, data: str, root: str) -> dict[str, Any]:
    stream = (f'CREATE STREAM demo {COLUMNS} WITH (DATASOURCE="{data}", TYPE="file", '
              f'FORMAT="json", CONF_KEY="bench")')

    async def main() -> dict[str, Any]:
        runners = _runners(n, stream, root, "nop")
        t0 = time.perf_counter()
        await _start(runners)
        for r in runners:
            await r.wait()
        dt = time.perf_counter() - t0
        events = sum(v for k, v in runners[0].metrics().items()
                     if k.startswith("source_") and k.endswith("records_in_total"))
        out = sum(v for r in runners for k, v in r.metrics().items()
                  if k.startswith("sink_") and k.endswith("records_in_total"))
        return {"events": events, "seconds": dt, "rows_out": out,
                "evals_per_s": n * events / dt}

    from kuiper.runtime.loop import run

    return run(main())


def _mqtt_stream(topic: str) -> str:
    return (f'CREATE STREAM demo {COLUMNS} WITH (DATASOURCE="{topic}", TYPE="mqtt", '
            f'FORMAT="json")')


async def _wait_subscribed(runners: list[Any], seconds: float = 10.0) -> None:
    """Until the shared MQTT connector is connected (it subscribes right after)."""
    deadline = time.monotonic() + seconds
    src = runners[0].topology.sources[0]
    node = getattr(getattr(src, "shared", None), "node", src)
    while time.monotonic() < deadline:
        if getattr(node.source, "_connected", None) or getattr(node.source, "client", None):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)


def child_rss(n: int, root: str) -> dict[str, Any]:
    topic = f"bench/fanout/{uuid.uuid4().hex[:8]}"

    async def main() -> dict[str, Any]:
        from kuiper.runtime.shared_source import shared_sources

        warm = _runners(1, _mqtt_stream(topic + "/warm"), root, "nop")  # imports, first loop
        await _start(warm)
        await asyncio.sleep(0.5)
        await warm[0].stop()
        gc.collect()
        await asyncio.sleep(0.2)
        base = rss_kb()
        runners = _runners(n, _mqtt_stream(topic), root, "nop")
        await _start(runners)
        await _wait_subscribed(runners)
        gc.collect()
        await asyncio.sleep(1.0)
        gc.collect()
        after = rss_kb()
        cpu0 = time.process_time()
        await asyncio.sleep(2.0)
        idle = (time.process_time() - cpu0) / 2.0 * 1000
        shared = len(shared_sources().by_key)
        for r in runners:
            await r.stop()
        return {"rss0_kb": base, "rssN_kb": after, "rss_per_rule_kb": (after - base) / n,
                "idle_cpu_ms_per_s": idle, "shared_sources": shared}

    from kuiper.runtime.loop import run

    return run(main())


def _publish(topic: str, payloads: list[bytes], rate: float, out: Any) -> None:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fan-{uuid.uuid4().hex[:8]}")
    c.max_inflight_messages_set(1000)
    c.connect(*BROKER, 60)
    c.loop_start()
    t0 = time.perf_counter()
    first = time.time_ns()
    for i, p in enumerate(payloads):
        if rate:
            ahead = t0 + i / rate - time.perf_counter()
            if ahead > 0.001:
                time.sleep(ahead)
            p = p.replace(b'"ts": 0', b'"ts": %d' % (time.time_ns() // 1_000_000))
        c.publish(topic, p, 0)
    c.disconnect()
    c.loop_stop()
    out.put(first)


def child_mqtt(n: int, events: int, rate: float) -> dict[str, Any]:
    topic = f"bench/fanout/{uuid.uuid4().hex[:8]}"
    _register_latency_sink()
    tmp = Path(tempfile.mkdtemp())
    make_events(events, tmp / "ev.jsonl")
    payloads = (tmp / "ev.jsonl").read_bytes().splitlines()
    if rate:
        payloads = [json.dumps({**json.loads(p), "ts": 0}).encode() for p in payloads]

    async def main() -> dict[str, Any]:
        import numpy as np

        runners = _runners(n, _mqtt_stream(topic), str(tmp), "latency")
        await _start(runners)
        await _wait_subscribed(runners)
        q: Any = mp.get_context("spawn").Queue()
        pub = mp.get_context("spawn").Process(target=_publish, args=(topic, payloads, rate, q))
        pub.start()
        node = runners[0].topology.sources[0].shared.node
        deadline = time.monotonic() + 60 + (events / rate if rate else 0)
        while time.monotonic() < deadline:
            seen = node.metrics.records_out_total
            if seen >= events and all(not len(o.inbox) for r in runners
                                      for o in (*r.topology.operators, *r.topology.sinks)):
                break
            await asyncio.sleep(0.01)
        end = time.time_ns()
        first = q.get(timeout=30)
        pub.join()
        got = node.metrics.records_out_total
        for r in runners:
            await r.stop()
        out: dict[str, Any] = {"events": events, "received": got,
                               "evals_per_s": n * got / ((end - first) / 1e9)}
        if rate and LATENCIES:
            lat = np.concatenate(LATENCIES)
            out.update({"rows_out": int(lat.size), "p50_ms": float(np.percentile(lat, 50)),
                        "p99_ms": float(np.percentile(lat, 99))})
        return out

    from kuiper.runtime.loop import run

    return run(main())


# --- the driver ---------------------------------------------------------------------------
def _child(args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True, env=env, timeout=900, check=False)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1:] or res.returncode}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="10,100,1000")
    ap.add_argument("--events", type=int, default=200_000, help="file events")
    ap.add_argument("--mqtt-events", type=int, default=50_000, help="flooded MQTT events")
    ap.add_argument("--rate", type=float, default=10_000.0)
    ap.add_argument("--seconds", type=float, default=5.0, help="paced MQTT run length")
    ap.add_argument("--skip", default="", help="comma list of: file,mqtt,rss,latency")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, n = args.child[0], int(args.child[1])
        if mode == "file":
            result = child_file(n, args.child[2], args.child[3])
        elif mode == "rss":
            result = child_rss(n, args.child[2])
        else:
            result = child_mqtt(n, int(args.child[2]), float(args.child[3]))
        print(json.dumps(result))
        return
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="kuiper-fanout-"))
    (work / "etc" / "sources").mkdir(parents=True)
    (work / "etc" / "sources" / "file.yaml").write_text("bench:\n  fileType: lines\n")
    data = work / "events.jsonl"
    make_events(args.events, data)
    print(f"bench_fanout: {args.events:,} file events, {args.mqtt_events:,} flooded MQTT "
          f"events, paced {args.rate:,.0f} msg/s for {args.seconds:g} s")
    for n in (int(c) for c in args.counts.split(",")):
        row: dict[str, Any] = {"N": n}
        if "file" not in skip:
            row["file"] = _child(["file", str(n), str(data), str(work)])
        if "mqtt" not in skip:
            row["mqtt_flood"] = _child(["mqtt", str(n), str(args.mqtt_events), "0"])
        if "rss" not in skip:
            row["rss"] = _child(["rss", str(n), str(work)])
        if "latency" not in skip:
            paced = int(args.rate * args.seconds)
            row["latency"] = _child(["mqtt", str(n), str(paced), str(args.rate)])
        print(_format(row), flush=True)


def _format(row: dict[str, Any]) -> str:
    n = row["N"]
    parts = [f"N={n:>5}"]
    f = row.get("file")
    if f:
        parts.append(f"file {f.get('evals_per_s', 0):>13,.0f} evals/s" if "error" not in f
                     else f"file error {f['error']}")
    m = row.get("mqtt_flood")
    if m:
        parts.append(f"mqtt {m.get('evals_per_s', 0):>12,.0f} evals/s" if "error" not in m
                     else f"mqtt error {m['error']}")
    r = row.get("rss")
    if r:
        parts.append(f"RSS/rule {r.get('rss_per_rule_kb', 0):>6.1f} KB, idle CPU "
                     f"{r.get('idle_cpu_ms_per_s', 0):.1f} ms/s" if "error" not in r
                     else f"rss error {r['error']}")
    lat = row.get("latency")
    if lat:
        parts.append(f"p99 {lat.get('p99_ms', float('nan')):.1f} ms (p50 "
                     f"{lat.get('p50_ms', float('nan')):.1f}) at 10k msg/s, "
                     f"{lat.get('received', 0)}/{lat.get('events', 0)} in"
                     if "error" not in lat else f"latency error {lat['error']}")
    return "  ".join(parts)


if __name__ == "__main__":
    main()
