"""End to end through `kuiper.cli.run.run_paths`: file sources -> rule -> file sink.

A finite input gives the complete answer: in event time every open window closes at the end
of the file; a join rule reads two files and joins them window by window.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kuiper.cli.run import run_paths


def _root(tmp_path: Path, files: dict[str, list[dict[str, Any]]], streams: str,
          rule: dict[str, Any]) -> tuple[list[str], Path]:
    (tmp_path / "etc" / "sources").mkdir(parents=True)
    (tmp_path / "etc" / "sources" / "file.yaml").write_text(
        f"default:\n  fileType: lines\n  path: {tmp_path}\n")
    for name, rows in files.items():
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "streams.sql").write_text(streams)
    out = tmp_path / "out.jsonl"
    rule = {**rule, "actions": [{"file": {"path": str(out), "fileType": "lines"}}]}
    (tmp_path / "rule.json").write_text(json.dumps(rule))
    return [str(tmp_path / "streams.sql"), str(tmp_path / "rule.json")], out


def _emissions(out: Path) -> list[Any]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def test_event_time_tumbling_window_closes_every_window_at_eof(tmp_path: Path) -> None:
    base = 1_700_000_000_000
    rows = [{"id": "a" if i % 3 else "b", "v": i, "ts": base + i * 700} for i in range(40)]
    rows.insert(20, {"id": "a", "v": 1000, "ts": base})  # late: 14 s behind, dropped
    paths, out = _root(
        tmp_path, {"ev.jsonl": rows},
        'CREATE STREAM ev (id string, v bigint, ts bigint) '
        'WITH (DATASOURCE="ev.jsonl", TYPE="file", FORMAT="json", TIMESTAMP="ts");',
        {"id": "et", "options": {"isEventTime": True, "lateTolerance": "1s"},
         "sql": "SELECT id, count(*) AS c, sum(v) AS s, window_end() AS we FROM ev "
                "GROUP BY id, TUMBLINGWINDOW(ss, 10) ORDER BY id"})
    metrics = run_paths(paths, str(tmp_path))["et"]
    want: dict[int, dict[str, list[int]]] = {}
    for r in rows:
        if r["v"] == 1000:
            continue
        end = (r["ts"] // 10_000 + 1) * 10_000
        g = want.setdefault(end, {}).setdefault(r["id"], [0, 0])
        g[0] += 1
        g[1] += r["v"]
    expected = [[{"id": k, "c": c, "s": s, "we": end} for k, (c, s) in sorted(groups.items())]
                for end, groups in sorted(want.items())]
    assert _emissions(out) == expected
    assert metrics["status"] == "stopped"
    assert metrics["op_2_window_0_late_rows_total"] == 1


def test_stream_join_in_event_time_windows(tmp_path: Path) -> None:
    base = 1_700_000_000_000
    demo = [{"deviceId": f"d{i % 3}", "temperature": 20 + i, "ts": base + i * 1000}
            for i in range(25)]
    demo1 = [{"deviceId": f"d{i % 4}", "temp": 40 + i, "ts": base + i * 1000 + 500}
             for i in range(25)]
    paths, out = _root(
        tmp_path, {"demo.jsonl": demo, "demo1.jsonl": demo1},
        'CREATE STREAM demo (deviceId string, temperature bigint, ts bigint) '
        'WITH (DATASOURCE="demo.jsonl", TYPE="file", FORMAT="json", TIMESTAMP="ts");\n'
        'CREATE STREAM demo1 (deviceId string, temp bigint, ts bigint) '
        'WITH (DATASOURCE="demo1.jsonl", TYPE="file", FORMAT="json", TIMESTAMP="ts");\n',
        {"id": "j", "options": {"isEventTime": True},
         "sql": "SELECT demo.deviceId, demo.temperature, demo1.temp FROM demo INNER JOIN demo1 "
                "ON demo.deviceId = demo1.deviceId GROUP BY TUMBLINGWINDOW(ss, 10)"})
    metrics = run_paths(paths, str(tmp_path))["j"]
    want = []
    for w in sorted({r["ts"] // 10_000 for r in demo + demo1}):
        rows = [{"deviceId": a["deviceId"], "temperature": a["temperature"], "temp": b["temp"]}
                for a in demo if a["ts"] // 10_000 == w
                for b in demo1 if b["ts"] // 10_000 == w and b["deviceId"] == a["deviceId"]]
        if rows:
            want.append(rows)
    assert _emissions(out) == want
    assert metrics["status"] == "stopped"
    assert metrics["source_demo_0_records_in_total"] == 25
    assert metrics["source_demo1_0_records_in_total"] == 25
    assert metrics["op_2_window_0_late_rows_total"] == 0


def test_stream_joins_a_file_table_loaded_first(tmp_path: Path) -> None:
    demo = [{"deviceId": f"d{i % 4}", "v": i} for i in range(8)]
    devices = [{"id": "d0", "name": "zero"}, {"id": "d1", "name": "one"}, {"id": "d2", "name": "two"}]
    paths, out = _root(
        tmp_path, {"demo.jsonl": demo, "devices.jsonl": devices},
        'CREATE STREAM demo (deviceId string, v bigint) '
        'WITH (DATASOURCE="demo.jsonl", TYPE="file", FORMAT="json");\n'
        'CREATE TABLE devices (id string, name string) '
        'WITH (DATASOURCE="devices.jsonl", TYPE="file", FORMAT="json");\n',
        {"id": "t", "sql": "SELECT demo.v, devices.name FROM demo LEFT JOIN devices "
                           "ON demo.deviceId = devices.id"})
    metrics = run_paths(paths, str(tmp_path))["t"]
    names = {d["id"]: d["name"] for d in devices}
    want = [[{"v": r["v"], **({"name": names[r["deviceId"]]} if r["deviceId"] in names else {})}]
            for r in demo]
    assert _emissions(out) == want
    assert metrics["status"] == "stopped"
    assert metrics["op_2_join_0_table_devices_rows"] == 3


def test_stream_joins_a_memory_lookup_table(tmp_path: Path) -> None:
    from kuiper.io.pubsub import BUS
    from kuiper.io.sources.memory import memory_table

    memory_table("e2e/devices", "id")  # the table memory sinks keep up to date
    BUS.publish("e2e/devices", [{"id": "d0", "name": "zero"}, {"id": "d1", "name": "one"}])
    demo = [{"deviceId": f"d{i % 3}", "v": i} for i in range(6)]
    paths, out = _root(
        tmp_path, {"demo.jsonl": demo},
        'CREATE STREAM demo (deviceId string, v bigint) '
        'WITH (DATASOURCE="demo.jsonl", TYPE="file", FORMAT="json");\n'
        'CREATE TABLE devices () '
        'WITH (DATASOURCE="e2e/devices", TYPE="memory", KIND="lookup", KEY="id");\n',
        {"id": "l", "sql": "SELECT demo.v, devices.name FROM demo INNER JOIN devices "
                           "ON demo.deviceId = devices.id"})
    metrics = run_paths(paths, str(tmp_path))["l"]
    names = {"d0": "zero", "d1": "one"}
    rows = [r for em in _emissions(out) for r in em]
    assert rows == [{"v": r["v"], "name": names[r["deviceId"]]} for r in demo
                    if r["deviceId"] in names]
    assert metrics["status"] == "stopped"
    calls = metrics["op_2_lookupjoin_0_lookup_calls_total"]
    assert calls >= 1 and calls <= 6  # one call per batch, never one per row
