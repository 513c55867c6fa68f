"""End-to-end throughput of the windowed workload (W2) through `kuiper run`'s engine.

File source -> event time on `ts` -> WHERE -> TUMBLINGWINDOW(ss, 10) + GROUP BY deviceId ->
nop sink (and a file-sink run whose output is checked against a per-event reference). Each
run is a fresh subprocess timed from opening the input to the rule's end (interpreter start-up,
imports and planning excluded); peak RSS is the child's own VmHWM.

    python3 /work/shared/bench/gen_data.py -n 1000000 -o /tmp/events-1m.jsonl
    python benchmarks/throughput_windows.py --data /tmp/events-1m.jsonl [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

W2 = ("SELECT deviceId, avg(temperature), max(humidity), count(*) FROM demo "
      "WHERE temperature > 20 GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)")
STREAM = ('CREATE STREAM demo (deviceId string, temperature float, humidity bigint, ts bigint) '
          'WITH (DATASOURCE="{path}", TYPE="file", FORMAT="json", TIMESTAMP="ts");')

CHILD = r'''
import json, sys, time, asyncio
mode, work = sys.argv[1], sys.argv[2]
import kuiper.io  # noqa: F401  (connectors register on import)
from kuiper.cli.run import build_runners, run_runners
from kuiper.runtime.loop import run as run_loop

async def main():
    # a 10-line run first: what a rule imports and configures on first use is start-up
    await run_runners(build_runners([work + "/streams_warm.sql", work + "/rule_warm.json"],
                                    work, None))
    runners = build_runners([work + "/streams.sql", work + "/rule_" + mode + ".json"], work, None)
    t0 = time.perf_counter()
    await run_runners(runners)
    return time.perf_counter() - t0, runners[0].metrics()

dt, m = run_loop(main())
n = sum(v for k, v in m.items() if k.startswith("source_") and k.endswith("records_in_total"))
out = sum(v for k, v in m.items() if k.startswith("op_") and "_project_" in k
          and k.endswith("records_out_total"))
late = sum(v for k, v in m.items() if k.endswith("late_rows_total"))
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"events": n, "seconds": dt, "out": out, "late": late, "rss_mb": rss}))
'''


def setup_root(work: Path, data: Path) -> None:
    (work / "etc" / "sources").mkdir(parents=True, exist_ok=True)
    (work / "etc" / "sources" / "file.yaml").write_text("default:\n  fileType: lines\n")
    (work / "streams.sql").write_text(STREAM.format(path=str(data.resolve())))
    with open(data, "rb") as src:
        (work / "warm.jsonl").write_bytes(b"".join(src.readline() for _ in range(10)))
    (work / "streams_warm.sql").write_text(STREAM.format(path=str(work / "warm.jsonl")))
    (work / "rule_warm.json").write_text(json.dumps({
        "id": "w2_warm", "sql": W2, "options": {"isEventTime": True}, "actions": [
            {"nop": {}}, {"file": {"path": str(work / "warm_out.jsonl"), "fileType": "lines"}}]}))
    for sink, props in (("nop", {}), ("file", {"path": str(work / "out.jsonl"), "fileType": "lines"})):
        rule = {"id": f"w2_{sink}", "sql": W2, "actions": [{sink: props}],
                "options": {"isEventTime": True}}
        (work / f"rule_{sink}.json").write_text(json.dumps(rule))


def reference(data: Path) -> list[dict]:
    """Per event in plain Python: groups per 10 s window, windows in time order."""
    import orjson

    wins: dict[int, dict[str, list]] = defaultdict(dict)
    with open(data, "rb") as f:
        for line in f:
            ev = orjson.loads(line)
            t = ev["temperature"]
            if t is None or t <= 20:
                continue
            g = wins[ev["ts"] // 10_000].setdefault(ev["deviceId"], [0.0, 0, None])
            g[0] += t
            g[1] += 1
            h = ev["humidity"]
            g[2] = h if g[2] is None or h > g[2] else g[2]
    return [{"deviceId": k, "avg": s / c, "max": m, "count": c}
            for w in sorted(wins) for k, (s, c, m) in wins[w].items()]


def same(rows: list[dict], want: list[dict]) -> bool:
    """Same rows in the same order (windows in time order, groups in first-seen order)."""
    return len(rows) == len(want) and all(
        a["deviceId"] == b["deviceId"] and a["count"] == b["count"] and a["max"] == b["max"]
        and abs(a["avg"] - b["avg"]) < 1e-9 for a, b in zip(rows, want))


def run_child(mode: str, work: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(work)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/tmp/events-1m.jsonl")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    data = Path(a.data)
    if not data.exists():
        gen = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_data.py"
        raise SystemExit(f"{data} not found: python3 {gen} -n 1000000 -o {data}")
    expected = reference(data)
    print(f"input {data} ({os.path.getsize(data) / 1e6:.1f} MB); reference: {len(expected)} "
          f"result rows (device x window)")
    print(f"{'mode':<8}{'events/s (median)':>20}{'best':>14}{'peak RSS MB':>14}{'rows out':>10}"
          f"{'late':>6}  check")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        setup_root(work, data)
        for mode in ("nop", "file"):
            results = [run_child(mode, work) for _ in range(a.runs if mode == "nop" else 1)]
            rates = [r["events"] / r["seconds"] for r in results]
            ok = results[-1]["out"] == len(expected)
            if mode == "file":
                rows = []
                for line in (work / "out.jsonl").read_text().splitlines():
                    em = json.loads(line)
                    rows.extend(em if isinstance(em, list) else [em])
                ok = ok and same(rows, expected)
            print(f"{mode:<8}{statistics.median(rates):>20,.0f}{max(rates):>14,.0f}"
                  f"{max(r['rss_mb'] for r in results):>14.1f}{results[-1]['out']:>10}"
                  f"{results[-1]['late']:>6}  {'equal to reference' if ok else 'MISMATCH'}")
            if not ok:
                raise SystemExit("results differ from the per-event reference")


if __name__ == "__main__":
    main()
