"""Throughput of the filter/project workload (W1) on the 1M-event benchmark file.

Each measurement runs in a fresh subprocess (so peak RSS is its own) and times from opening the
input to the last row handed to the sink: interpreter start-up and imports are excluded, as for
the reference figures printed beside kuiper's (orjson per line; a plain Python loop doing the
whole workload with orjson). Several runs, median reported. Results are checked against a
per-event reference.

    python benchmarks/throughput.py --data /tmp/events-1m.jsonl [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

W1 = "SELECT deviceId, temperature * 1.8 + 32 AS tf FROM demo WHERE temperature > 30"
STREAM = ('CREATE STREAM demo (deviceId string, temperature float, humidity bigint, ts bigint) '
          'WITH (DATASOURCE="{path}", TYPE="file", FORMAT="json", CONF_KEY="bench");')

CHILD = r'''
import json, sys, time
mode, data, work = sys.argv[1], sys.argv[2], sys.argv[3]
import orjson
if mode == "orjson_loads":
    t0 = time.perf_counter()
    n = 0
    with open(data, "rb") as f:
        for line in f:
            orjson.loads(line)
            n += 1
    dt = time.perf_counter() - t0
    out = n
elif mode == "python_loop":
    t0 = time.perf_counter()
    n = 0
    res = []
    with open(data, "rb") as f:
        for line in f:
            ev = orjson.loads(line)
            n += 1
            t = ev.get("temperature")
            if t is not None and t > 30:
                res.append({"deviceId": ev.get("deviceId"), "tf": t * 1.8 + 32})
    dt = time.perf_counter() - t0
    out = len(res)
else:
    from kuiper.cli.run import run_paths
    import kuiper.io  # noqa: F401  (connectors register on import)
    t0 = time.perf_counter()
    metrics = run_paths([work + "/streams.sql", work + "/rule_" + mode + ".json"], root=work)
    dt = time.perf_counter() - t0
    m = metrics["w1_" + mode]
    n = sum(v for k, v in m.items() if k.startswith("source_") and k.endswith("records_in_total"))
    out = sum(v for k, v in m.items() if k.startswith("sink_") and k.endswith("records_in_total"))
# VmHWM is this process's own peak (ru_maxrss would include the parent's, kept across exec)
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"events": n, "seconds": dt, "out": out, "rss_mb": rss}))
'''


def setup_root(work: Path, data: Path) -> None:
    (work / "etc" / "sources").mkdir(parents=True, exist_ok=True)
    (work / "etc" / "sources" / "file.yaml").write_text(
        "default:\n  fileType: lines\nbench:\n  fileType: lines\n")
    (work / "streams.sql").write_text(STREAM.format(path=str(data.resolve())))
    for sink, props in (("nop", {}), ("file", {"path": str(work / "out.jsonl"), "fileType": "lines"})):
        rule = {"id": f"w1_{sink}", "sql": W1, "actions": [{sink: props}],
                "options": {"bufferLength": 64}}
        (work / f"rule_{sink}.json").write_text(json.dumps(rule))


def reference(data: Path) -> list[dict]:
    import orjson

    out = []
    with open(data, "rb") as f:
        for line in f:
            ev = orjson.loads(line)
            t = ev.get("temperature")
            if t is not None and t > 30:
                out.append({"deviceId": ev["deviceId"], "tf": t * 1.8 + 32})
    return out


def run_child(mode: str, data: Path, work: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(data), str(work)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def check_file_output(work: Path, expected: list[dict]) -> bool:
    rows = []
    with open(work / "out.jsonl", "rb") as f:
        for line in f:
            emission = json.loads(line)
            rows.extend(emission if isinstance(emission, list) else [emission])
    return rows == expected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/tmp/events-1m.jsonl")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--modes", default="orjson_loads,python_loop,nop,file")
    a = ap.parse_args()
    data = Path(a.data)
    if not data.exists():
        gen = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_data.py"
        raise SystemExit(f"{data} not found: python3 {gen} -n 1000000 -o {data}")
    expected = reference(data)
    print(f"input {data} ({os.path.getsize(data) / 1e6:.1f} MB); reference: {len(expected)} result rows")
    print(f"{'mode':<14}{'events/s (median)':>20}{'best':>14}{'peak RSS MB':>14}{'rows out':>12}  check")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        setup_root(work, data)
        for mode in a.modes.split(","):
            results = [run_child(mode, data, work) for _ in range(a.runs)]
            rates = [r["events"] / r["seconds"] for r in results]
            ok = results[-1]["out"] == (len(expected) if mode != "orjson_loads" else results[-1]["events"])
            if mode == "file":
                ok = ok and check_file_output(work, expected)
            print(f"{mode:<14}{statistics.median(rates):>20,.0f}{max(rates):>14,.0f}"
                  f"{max(r['rss_mb'] for r in results):>14.1f}{results[-1]['out']:>12}  "
                  f"{('equal to reference' if mode != 'orjson_loads' else 'all lines parsed') if ok else 'MISMATCH'}")


if __name__ == "__main__":
    main()
