"""Acceptance (issue 10 (b)): the word counter plugin (accumulateWordCount, put_state per call
site) resumes from its checkpointed total after `kill -9` of `kuiper server`.

(test_accept_process.py kills `kuiper run`; this kills the server.) The rule reads a lines
file at QoS 1 with 50 ms checkpoints; the plugin's state, the file offset and the file sink's
size are saved together at each checkpoint, so after the restart the output holds the running
total of every input line exactly once."""
from __future__ import annotations

import json
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from plugin_env import kuiper_popen
from services import free_port, wait_for

from kuiper.state.kv import SqliteKV

pytestmark = pytest.mark.integration

LINES = ["a b c" if i % 2 else "x y" for i in range(300)]
RUNNING = [sum(len(t.split(" ")) for t in LINES[: i + 1]) for i in range(len(LINES))]


def _call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            json_body = resp.headers.get_content_type() == "application/json" and raw
            return resp.status, json.loads(raw) if json_body else raw.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, None  # not up (yet)


def _server(root: Path, port: int) -> subprocess.Popen:
    proc = kuiper_popen("server", "--root", str(root), "--port", str(port), "--host",
                        "127.0.0.1", cwd=root)
    wait_for(lambda: proc.poll() is not None or _call(port, "GET", "/ping")[0] == 200, 30,
             "the kuiper server")
    assert proc.poll() is None, proc.communicate()[1]
    return proc


def _totals(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [json.loads(x)["total"] for x in path.read_text().splitlines() if x.strip()]


def _checkpointed_line(root: Path) -> int:
    db = root / "data" / "sqliteKV.db"
    if not db.exists():
        return 0
    store = SqliteKV(db)
    try:
        meta = store.get("checkpoint", "wc")
        offsets = (json.loads(meta).get("offsets") or {}) if meta else {}
        return int(offsets.get("texts", {}).get("line", 0))
    finally:
        store.close()


def test_word_count_resumes_after_the_server_is_killed(root: Path, tmp_path: Path) -> None:
    (root / "etc" / "sources" / "file.yaml").write_text(
        "default:\n  fileType: lines\n  path: data\n  sendInterval: 8\n")
    (root / "data" / "texts.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in LINES))
    out = tmp_path / "totals.lines"
    port = free_port()
    proc = _server(root, port)
    try:
        assert _call(port, "POST", "/streams", {"sql": (
            'CREATE STREAM texts (text STRING) WITH (TYPE="file", DATASOURCE="texts.jsonl", '
            'FORMAT="json")')})[0] == 201
        assert _call(port, "POST", "/rules", {
            "id": "wc", "sql": "SELECT accumulateWordCount(text, ' ') AS total FROM texts",
            "options": {"qos": 1, "checkpointInterval": 50},
            "actions": [{"file": {"path": str(out), "sendSingle": True}}]})[0] == 201
        wait_for(lambda: _checkpointed_line(root) >= 60, 60, "a checkpoint mid-file")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    cut = _checkpointed_line(root)
    assert 0 < cut < len(LINES), "the server must be killed mid-file"
    assert _totals(out)[:cut] == RUNNING[:cut]  # what the checkpoint covers was written

    proc = _server(root, port)  # the rule was running: it starts again, from the checkpoint
    try:
        wait_for(lambda: len(_totals(out)) >= len(LINES)
                 and _call(port, "GET", "/rules/wc/status")[1]["status"] == "stopped", 60,
                 "the restarted rule to read the rest of the file")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    # the count went on from the checkpointed total: every line's running total, once
    assert _totals(out) == RUNNING
