"""Acceptance (b): the word counter plugin (accumulateWordCount, put_state per call site)
resumes from its checkpointed total after `kill -9` of `kuiper server`.

(tests/integration/plugins/test_accept_process.py kills `kuiper run`; this kills the server.)
The rule reads a lines file at QoS 1 with 50 ms checkpoints; the plugin's state, the file
offset and the file sink's size are saved together at each checkpoint, so after the restart
the output holds the running total of every input line exactly once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from example_plugins import build_examples
from plugin_env import install_all
from server_support import ServerProcess, wait_until

from kuiper.state.kv import SqliteKV

pytestmark = pytest.mark.integration

LINES = ["a b c" if i % 2 else "x y" for i in range(300)]
RUNNING = [sum(len(t.split(" ")) for t in LINES[: i + 1]) for i in range(len(LINES))]


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
        return int((json.loads(meta).get("offsets") or {}).get("texts", {}).get("line", 0)) \
            if meta else 0
    finally:
        store.close()


def test_word_count_resumes_after_the_server_is_killed(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    zips = build_examples(tmp_path_factory.mktemp("zips"), workers=2)
    root = tmp_path / "root"
    root.mkdir()
    install_all(root, zips)
    (root / "etc" / "sources").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "sources" / "file.yaml").write_text(
        "default:\n  fileType: lines\n  path: data\n  sendInterval: 8\n")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "texts.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in LINES))
    out = tmp_path / "totals.lines"
    server = ServerProcess(root).start()
    try:
        server.api.ok("POST", "/streams", {"sql": (
            'CREATE STREAM texts (text STRING) WITH (TYPE="file", DATASOURCE="texts.jsonl", '
            'FORMAT="json")')})
        server.api.ok("POST", "/rules", {
            "id": "wc", "sql": "SELECT accumulateWordCount(text, ' ') AS total FROM texts",
            "options": {"qos": 1, "checkpointInterval": 50},
            "actions": [{"file": {"path": str(out), "sendSingle": True}}]})
        wait_until(lambda: _checkpointed_line(root) >= 60, 60, what="a checkpoint mid-file")
    finally:
        assert server.proc is not None
        server.proc.kill()
        server.proc.wait(10)
    cut = _checkpointed_line(root)
    assert 0 < cut < len(LINES), "the server must be killed mid-file"
    assert _totals(out)[:cut] == RUNNING[:cut]  # what the checkpoint covers was written

    server = ServerProcess(root, server.port).start()
    try:
        wait_until(lambda: len(_totals(out)) >= len(LINES)
                   and server.api.status("wc")["status"] == "stopped", 60,
                   what="the restarted rule to read the rest of the file")
    finally:
        server.stop()
    # the count went on from the checkpointed total: every line's running total, once
    assert _totals(out) == RUNNING
