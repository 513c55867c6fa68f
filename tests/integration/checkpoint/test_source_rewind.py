"""QoS 1 across a killed process: the file source resumes from the checkpointed offset.

`kuiper run` reads a lines file one row every `sendInterval` with 50 ms checkpoints; SIGKILL
mid-file, then a second run: every input row is in the union of both runs' outputs (at least
once) and the second run starts after the beginning (it rewound)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kuiper.state.kv import SqliteKV

REPO = Path(__file__).resolve().parents[3]
ROWS = 400


def _kuiper(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("KUIPER_ROOT", None)
    return subprocess.Popen([sys.executable, "-m", "kuiper.cli.main", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _offset(root: Path) -> dict | None:
    db = root / "data" / "sqliteKV.db"
    if not db.exists():
        return None
    store = SqliteKV(db)
    try:
        meta = store.get("checkpoint", "resume")
        return json.loads(meta).get("offsets", {}).get("rows") if meta else None
    finally:
        store.close()


def _ids(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [json.loads(x)["id"] for x in path.read_text().splitlines() if x.strip()]


def _rules(folder: Path, out: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "streams.sql").write_text(
        'CREATE STREAM rows (id BIGINT, v STRING) WITH (TYPE="file", DATASOURCE="rows.jsonl", '
        'FORMAT="json");\n')
    (folder / "rules.json").write_text(json.dumps([{
        "id": "resume", "sql": "SELECT id FROM rows",
        "options": {"qos": 1, "checkpointInterval": 50},
        "actions": [{"file": {"path": str(out), "sendSingle": True}}]}]))
    return folder


def test_killed_run_resumes_from_the_checkpointed_offset(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc" / "sources").mkdir(parents=True)
    (root / "etc" / "sources" / "file.yaml").write_text(
        "default:\n  fileType: lines\n  path: data\n  sendInterval: 3\n")
    (root / "data").mkdir()
    (root / "data" / "rows.jsonl").write_text(
        "".join(json.dumps({"id": i, "v": "x" * (i % 7)}) + "\n" for i in range(ROWS)))
    out1, out2 = tmp_path / "run1.lines", tmp_path / "run2.lines"

    proc = _kuiper("run", str(_rules(tmp_path / "r1", out1)), "--root", str(root), "-q",
                   cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            offset = _offset(root)
            if offset and offset["pos"] > 0 and offset["line"] >= 30:
                break
            time.sleep(0.02)
        else:
            pytest.fail("no checkpoint with a source offset within 60 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    first = _ids(out1)
    assert len(first) < ROWS, "the first run must be killed mid-file"
    saved = _offset(root)
    assert saved is not None and saved["line"] < ROWS
    # the checkpoint only covers rows the sink had written (flushed) before the kill
    assert set(range(saved["line"])) <= set(first)

    proc = _kuiper("run", str(_rules(tmp_path / "r2", out2)), "--root", str(root), "-q",
                   cwd=tmp_path)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 0, stderr
    assert "rule resume: stopped" in stdout
    second = _ids(out2)
    assert second and second[0] == saved["line"]  # resumed at the checkpointed line
    assert second == list(range(saved["line"], ROWS))
    assert len(second) < ROWS
    assert set(first) | set(second) == set(range(ROWS))  # at least once
    # the input ended: no offsets kept, a third run reads the file from its start
    assert _offset(root) in (None, {})
