"""End to end: a rule run by `kuiper.cli.run.run_paths` whose SQL calls the gRPC AI service."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from ai_services import AI_PROTO, GrpcAI, ai_descriptor, feature, free_port, write_root

from kuiper.external.manager import ServiceManager
from kuiper.functions.registry import default_registry

run_mod = pytest.importorskip("kuiper.cli.run")
EVENTS = [{"payload": [float(i), 2.0 * i], "device": f"d{i}", "seq": i} for i in range(30)]


def make_rule(root: Path, sql: str, grpc_port: int) -> list[str]:
    write_root(root, {"ai": ai_descriptor(grpc_port, free_port(), free_port())})
    (root / "etc" / "sources").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "sources" / "file.yaml").write_text("default:\n  fileType: lines\n  path: data\n")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "ev.jsonl").write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    (root / "streams.sql").write_text(
        'CREATE STREAM demo () WITH (TYPE="file", DATASOURCE="ev.jsonl", FORMAT="json");\n')
    (root / "rule.json").write_text(json.dumps({
        "id": "ai", "sql": sql,
        "actions": [{"file": {"path": str(root / "out.lines"), "sendSingle": True}}]}))
    return [str(root / "streams.sql"), str(root / "rule.json")]


def run_rule(root: Path, sql: str, grpc_port: int) -> tuple[dict, list[dict]]:
    paths = make_rule(root, sql, grpc_port)
    mgr = ServiceManager(root, default_registry)  # what `kuiper run` / the server do at start
    try:
        assert mgr.load_all() == ["ai"], mgr.load_errors
        status = run_mod.run_paths(paths, str(root))["ai"]
    finally:
        mgr.close()
    out = root / "out.lines"
    rows = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return status, rows


@pytest.fixture
def grpc_ai(tmp_path: Path):
    (tmp_path / "ai.proto").write_text(AI_PROTO)
    server = GrpcAI(tmp_path / "ai.proto").start()
    yield server
    server.stop()


def test_rule_calls_grpc_with_positional_args_and_arrow(tmp_path: Path, grpc_ai: GrpcAI) -> None:
    sql = ("SELECT seq, getFeature(payload, device, seq)->label AS label, "
           "getFeature(payload, device, seq)->vector AS v FROM demo")
    status, rows = run_rule(tmp_path / "root", sql, grpc_ai.port)
    assert status["status"] == "stopped"
    assert [r["seq"] for r in rows] == [e["seq"] for e in EVENTS]
    for r, e in zip(rows, EVENTS):
        vec, label, _ = feature(e["payload"])
        assert r["label"] == label and r["v"] == vec


def test_rule_get_feature_of_self(tmp_path: Path, grpc_ai: GrpcAI) -> None:
    status, rows = run_rule(tmp_path / "root", "SELECT getFeature(self) AS f FROM demo",
                            grpc_ai.port)
    assert [r["f"]["seq"] for r in rows] == [e["seq"] for e in EVENTS]
    assert rows[3]["f"]["vector"] == feature(EVENTS[3]["payload"])[0]


def test_rule_with_service_down_counts_errors_and_finishes(tmp_path: Path) -> None:
    status, rows = run_rule(tmp_path / "root",
                            "SELECT seq, getFeature(payload, device, seq) AS f FROM demo",
                            free_port())
    assert status["status"] == "stopped"
    assert rows == []
    assert status["op_2_project_0_exceptions_total"] >= 1
    assert "UNAVAILABLE" in status["op_2_project_0_last_exception"]
