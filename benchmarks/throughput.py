"""Throughput of the filter/project workload (W1) on the 1M-event benchmark file.

Each measurement runs in a fresh subprocess (so peak RSS is its own) and times from opening the
input to the last row handed to the sink: interpreter start-up and imports are excluded, as for
the reference figures printed beside kuiper's (orjson per line; a plain Python loop doing the
whole workload with orjson). Several runs, median reported. Results are checked against a
per-event reference.

    python benchmarks/throughput.py --data /tmp/events-1m.jsonl [--runs 5] [--bad-every 10000]

`--bad-every N` adds the mode `nop_bad`: W1 -> nop on a copy of the input with one malformed
line after every N lines (skipped and counted by the rule), printed beside the clean `nop`.
The ratios printed at the end are kuiper's rate over the orjson-per-line floor, and the bad
input's rate over the clean one.
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
    streams = work + ("/streams_bad.sql" if mode.endswith("_bad") else "/streams.sql")
    # a 10-line run first: the imports and configuration a rule loads on first use are
    # start-up, not throughput (they were imported eagerly before connectors became lazy)
    run_paths([work + "/streams_warm.sql", work + "/rule_warm.json"], root=work)
    t0 = time.perf_counter()
    metrics = run_paths([streams, work + "/rule_" + mode + ".json"], root=work)
    dt = time.perf_counter() - t0
    m = metrics["w1_" + mode]
    n = sum(v for k, v in m.items() if k.startswith("source_") and k.endswith("records_in_total"))
    out = sum(v for k, v in m.items() if k.startswith("sink_") and k.endswith("records_in_total"))
# VmHWM is this process's own peak (ru_maxrss would include the parent's, kept across exec)
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"events": n, "seconds": dt, "out": out, "rss_mb": rss}))
'''


BAD_LINE = b'{"deviceId": "dev-bad", "temperature": , "humidity": 1}\n'


def setup_root(work: Path, data: Path, bad_data: Path | None = None) -> None:
    (work / "etc" / "sources").mkdir(parents=True, exist_ok=True)
    (work / "etc" / "sources" / "file.yaml").write_text(
        "default:\n  fileType: lines\nbench:\n  fileType: lines\n")
    (work / "streams.sql").write_text(STREAM.format(path=str(data.resolve())))
    with open(data, "rb") as src:
        (work / "warm.jsonl").write_bytes(b"".join(src.readline() for _ in range(10)))
    (work / "streams_warm.sql").write_text(STREAM.format(path=str(work / "warm.jsonl")))
    (work / "rule_warm.json").write_text(json.dumps({
        "id": "w1_warm", "sql": W1, "actions": [
            {"nop": {}}, {"file": {"path": str(work / "warm_out.jsonl"), "fileType": "lines"}}]}))
    if bad_data is not None:
        (work / "streams_bad.sql").write_text(STREAM.format(path=str(bad_data.resolve())))
    for mode, sink, props in (("nop", "nop", {}), ("nop_bad", "nop", {}),
                              ("file", "file", {"path": str(work / "out.jsonl"),
                                                "fileType": "lines"})):
        rule = {"id": f"w1_{mode}", "sql": W1, "actions": [{sink: props}],
                "options": {"bufferLength": 64}}
        (work / f"rule_{mode}.json").write_text(json.dumps(rule))


def write_bad_copy(data: Path, out: Path, every: int) -> int:
    """`data` with BAD_LINE after every `every` lines; the number of bad lines written."""
    bad = 0
    with open(data, "rb") as src, open(out, "wb") as dst:
        for no, line in enumerate(src, 1):
            dst.write(line)
            if no % every == 0:
                dst.write(BAD_LINE)
                bad += 1
    return bad


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
    ap.add_argument("--bad-every", type=int, default=0, metavar="N",
                    help="also run W1 -> nop with one malformed line per N lines (nop_bad)")
    a = ap.parse_args()
    data = Path(a.data)
    if not data.exists():
        gen = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_data.py"
        raise SystemExit(f"{data} not found: python3 {gen} -n 1000000 -o {data}")
    expected = reference(data)
    print(f"input {data} ({os.path.getsize(data) / 1e6:.1f} MB); reference: {len(expected)} result rows")
    print(f"{'mode':<14}{'events/s (median)':>20}{'best':>14}{'peak RSS MB':>14}{'rows out':>12}  check")
    modes = a.modes.split(",")
    if a.bad_every and "nop_bad" not in modes:
        modes.append("nop_bad")
    medians: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bad_data, bad_lines = None, 0
        if a.bad_every:
            bad_data = work / "events-bad.jsonl"
            bad_lines = write_bad_copy(data, bad_data, a.bad_every)
            print(f"nop_bad input: {bad_lines} malformed lines (one per {a.bad_every})")
        setup_root(work, data, bad_data)
        for mode in modes:
            source = bad_data if mode == "nop_bad" and bad_data is not None else data
            results = [run_child(mode, source, work) for _ in range(a.runs)]
            rates = [r["events"] / r["seconds"] for r in results]
            medians[mode] = statistics.median(rates)
            ok = results[-1]["out"] == (len(expected) if mode != "orjson_loads" else results[-1]["events"])
            if mode == "file":
                ok = ok and check_file_output(work, expected)
            print(f"{mode:<14}{statistics.median(rates):>20,.0f}{max(rates):>14,.0f}"
                  f"{max(r['rss_mb'] for r in results):>14.1f}{results[-1]['out']:>12}  "
                  f"{('equal to reference' if mode != 'orjson_loads' else 'all lines parsed') if ok else 'MISMATCH'}")
    if "nop" in medians and "orjson_loads" in medians:
        print(f"nop / orjson_loads floor: {medians['nop'] / medians['orjson_loads']:.2f}x")
    if "nop" in medians and "nop_bad" in medians:
        print(f"nop_bad / nop (1 bad line per {a.bad_every}): "
              f"{medians['nop_bad'] / medians['nop']:.2f}")


if __name__ == "__main__":
    main()
