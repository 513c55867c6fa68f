"""Acceptance through the `kuiper` command in subprocesses: plugin verbs, `kuiper run` with
plugins, and the word counter's state across process restarts (qos 1, enableSaveStateBeforeStop,
and a killed process restored from its last periodic checkpoint)."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from plugin_env import (
    WORDS,
    file_action,
    kuiper_cli,
    kuiper_popen,
    read_lines,
    write_inputs,
    write_rules,
)

from kuiper.state.kv import SqliteKV

PER_RUN = sum(len(r["text"].split(" ")) for r in WORDS)
RUNNING = [sum(len(r["text"].split(" ")) for r in WORDS[: i + 1]) for i in range(len(WORDS))]


def test_plugin_verbs_and_kuiper_run(tmp_path: Path, example_zips: dict[str, Path]) -> None:
    root = tmp_path / "root"
    echo_zip = example_zips["echo"]
    proc = kuiper_cli("plugin", "install", "function", "echo", str(echo_zip), "--root", str(root),
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Plugin echo is installed." in proc.stdout
    url = example_zips["dictLookup"].resolve().as_uri()
    proc = kuiper_cli("create", "plugin", "function", "dictLookup", json.dumps({"file": url}),
                      "--root", str(root), cwd=tmp_path)
    assert proc.returncode == 0 and "Plugin dictLookup is created." in proc.stdout, proc.stderr
    proc = kuiper_cli("show", "plugins", "function", "--root", str(root), cwd=tmp_path)
    assert proc.stdout.split() == ["dictLookup", "echo"]
    proc = kuiper_cli("describe", "plugin", "function", "echo", "--root", str(root), cwd=tmp_path)
    info = json.loads(proc.stdout)
    assert info["version"] == "1.0.0" and info["compiled"] and info["functions"] == ["echo"]
    proc = kuiper_cli("plugin", "install", "function", "echo", str(echo_zip), "--root", str(root),
                      cwd=tmp_path)
    assert proc.returncode == 2 and "already installed" in proc.stderr

    write_inputs(root)
    out = tmp_path / "echo.lines"
    rules = write_rules(tmp_path / "rules", [{
        "id": "echo", "sql": "SELECT echo(n) AS n, dictLookup(k) AS place FROM words",
        "actions": [file_action(out)]}])
    proc = kuiper_cli("run", str(rules), "--root", str(root), "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "rule echo: stopped" in proc.stdout
    assert [r["n"] for r in read_lines(out)] == [r["n"] for r in WORDS]
    assert read_lines(out)[1] == {"n": 1, "place": "kitchen"}

    proc = kuiper_cli("drop", "plugin", "function", "echo", "--root", str(root), cwd=tmp_path)
    assert proc.returncode == 0 and "Plugin echo is dropped." in proc.stdout
    proc = kuiper_cli("run", str(rules), "--root", str(root), "-q", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown function echo" in proc.stderr


@pytest.mark.parametrize("options", [{"qos": 1}, {"enableSaveStateBeforeStop": True}],
                         ids=["qos1", "saveBeforeStop"])
def test_word_count_survives_a_process_restart(root: Path, tmp_path: Path,
                                               options: dict) -> None:
    totals: list[int] = []
    for run in (1, 2):
        out = tmp_path / f"wc{run}.lines"
        rules = write_rules(tmp_path / "rules", [{
            "id": "wcp", "sql": "SELECT accumulateWordCount(text, ' ') AS total FROM words",
            "options": options, "actions": [file_action(out)]}])
        proc = kuiper_cli("run", str(rules), "--root", str(root), "-q", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        totals += [r["total"] for r in read_lines(out)]
    assert totals == RUNNING + [PER_RUN + t for t in RUNNING]
    store = SqliteKV(root / "data" / "sqliteKV.db")
    assert json.loads(store.get("checkpoint", "wcp"))["id"] > 0
    store.close()


def test_qos0_does_not_persist_across_processes(root: Path, tmp_path: Path) -> None:
    for run in (1, 2):
        out = tmp_path / f"q0_{run}.lines"
        rules = write_rules(tmp_path / "rules", [{
            "id": "wc0", "sql": "SELECT accumulateWordCount(text, ' ') AS total FROM words",
            "actions": [file_action(out)]}])
        assert kuiper_cli("run", str(rules), "--root", str(root), "-q",
                          cwd=tmp_path).returncode == 0
        assert [r["total"] for r in read_lines(out)] == RUNNING


def _checkpointed(root: Path, rule_id: str) -> int:
    db = root / "data" / "sqliteKV.db"
    if not db.exists():
        return 0
    store = SqliteKV(db)
    try:
        meta = store.get("checkpoint", rule_id)
        return json.loads(meta)["id"] if meta else 0
    finally:
        store.close()


def test_killed_process_restarts_from_its_last_checkpoint(root: Path, tmp_path: Path) -> None:
    """qos 1 with a 50 ms checkpointInterval: SIGKILL (no clean stop), then a new process
    counts on from the last periodic checkpoint; SIGTERM then stops it cleanly."""
    def rules(out: Path) -> Path:
        return write_rules(tmp_path / "rules", [{
            "id": "kill", "sql": "SELECT accumulateWordCount(label, ' ') AS total FROM rnd",
            "options": {"qos": 1, "checkpointInterval": 50}, "actions": [file_action(out)]}],
            streams='CREATE STREAM rnd () WITH (TYPE="random", CONF_KEY="fast");\n')

    out1, out2 = tmp_path / "k1.lines", tmp_path / "k2.lines"
    proc = kuiper_popen("run", str(rules(out1)), "--root", str(root), "-q", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        first_cp = 0
        while time.monotonic() < deadline:
            cp = _checkpointed(root, "kill")
            first_cp = first_cp or cp
            if first_cp and cp > first_cp:  # at least two periodic checkpoints written
                break
            time.sleep(0.05)
        else:
            pytest.fail("no periodic checkpoint within 60 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    proc = kuiper_popen("run", str(rules(out2)), "--root", str(root), "-q", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while _checkpointed(root, "kill") <= cp and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "rule kill: stopped" in stdout
    second = [r["total"] for r in read_lines(out2)]
    # restored from a checkpoint: the count goes on from a positive total (2 words a row)
    assert second and second[0] > 2 and second[0] % 2 == 0
    assert second == list(range(second[0], second[-1] + 1, 2))
