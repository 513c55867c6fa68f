"""`kuiper run`: a tiny example through the real CLI (subprocess) and run_paths in-process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EVENTS = [{"deviceId": f"dev-{i % 3}", "temperature": 25.0 + i, "humidity": i} for i in range(10)]


def make_example(root: Path, *, rule_sql: str | None = None) -> Path:
    (root / "etc" / "sources").mkdir(parents=True)
    (root / "etc" / "sources" / "file.yaml").write_text(
        "default:\n  fileType: json\n  path: data\njsonlines:\n  fileType: lines\n")
    (root / "data").mkdir()
    (root / "data" / "events.jsonl").write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    ex = root / "example"
    ex.mkdir()
    (ex / "streams.sql").write_text(
        'CREATE STREAM demo (deviceId STRING, temperature FLOAT, humidity BIGINT)\n'
        '  WITH (TYPE="file", DATASOURCE="events.jsonl", FORMAT="json", CONF_KEY="jsonlines");\n')
    (ex / "rule.json").write_text(json.dumps({
        "id": "hot",
        "sql": rule_sql or "SELECT deviceId, temperature * 1.8 + 32 AS tf FROM demo WHERE temperature > 30",
        "actions": [{"file": {"path": "out/hot.lines", "sendSingle": True}}],
    }))
    return ex


def kuiper(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("KUIPER_ROOT", None)
    return subprocess.run([sys.executable, "-m", "kuiper.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_kuiper_run_a_folder(tmp_path):
    ex = make_example(tmp_path)
    proc = kuiper("run", str(ex), "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "out" / "hot.lines").read_text().splitlines()
    expected = [{"deviceId": e["deviceId"], "tf": round(e["temperature"] * 1.8 + 32, 10)}
                for e in EVENTS if e["temperature"] > 30]
    got = [json.loads(x) for x in lines]
    assert [g["deviceId"] for g in got] == [e["deviceId"] for e in expected]
    assert [g["tf"] for g in got] == pytest.approx([e["tf"] for e in expected])
    assert "rule hot: stopped" in proc.stdout
    assert "source_demo_0" in proc.stdout and "sink_file_0_0" in proc.stdout


def test_kuiper_run_reports_a_sql_error_with_its_position(tmp_path):
    ex = make_example(tmp_path)
    (ex / "streams.sql").write_text("CREATE STREAM demo (a BIGINT\n  WITH (TYPE=\"file\");\n")
    proc = kuiper("run", str(ex), "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode != 0
    assert "streams.sql" in proc.stderr and "line" in proc.stderr


def test_kuiper_run_reports_a_bad_rule_file(tmp_path):
    ex = make_example(tmp_path)
    (ex / "rule.json").write_text('{"sql": "SELECT * FROM demo"}')
    proc = kuiper("run", str(ex), "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "rule.json" in proc.stderr and "id" in proc.stderr


def test_run_paths_in_process(tmp_path):
    from kuiper.cli.run import format_metrics, run_paths

    ex = make_example(tmp_path, rule_sql="SELECT * FROM demo")
    results = run_paths([str(ex / "streams.sql"), str(ex / "rule.json")], str(tmp_path))
    status = results["hot"]
    assert status["status"] == "stopped"
    assert status["source_demo_0_records_in_total"] == 10
    assert status["sink_file_0_0_records_out_total"] == 10
    assert "sink_file_0_0" in format_metrics(results)
    first = json.loads((tmp_path / "out" / "hot.lines").read_text().splitlines()[0])
    assert first == {"deviceId": "dev-0", "temperature": 25, "humidity": 0}
