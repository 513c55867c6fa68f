"""`kuiper server` as a real process, driven over HTTP: streams, rules, their lifecycle, the
status metrics, eKuiper's error bodies, and persistence across a restart."""
from __future__ import annotations

import json
from pathlib import Path

from server_support import FILE_STREAM, ROWS, SIM_STREAM, ServerProcess, wait_until

NODE_METRICS = ("records_in_total", "records_out_total", "process_latency_us", "buffer_length",
                "last_invocation", "exceptions_total", "last_exception", "last_exception_time")


def file_rule(rule_id: str, out: str, sql: str = "SELECT a * 10 AS b, name FROM demo WHERE a > 2",
              **extra: object) -> dict[str, object]:
    return {"id": rule_id, "sql": sql, "actions": [{"file": {"path": out}}], **extra}


def read_lines(path: Path) -> list[object]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_info_and_ping(server: ServerProcess) -> None:
    info = server.api.ok("GET", "/")
    assert info["version"] and info["os"] and info["upTimeSeconds"] >= 0
    assert server.api.get("/ping")[0] == 200


def test_file_stream_to_file_sink(server: ServerProcess, root: Path) -> None:
    api = server.api
    assert api.post("/streams", {"sql": FILE_STREAM}) == (201, "Stream demo is created.")
    assert api.ok("GET", "/streams") == ["demo"]
    assert api.post("/rules", file_rule("r1", "out/r1.txt")) == \
        (201, "Rule r1 was created successfully.")
    status = api.wait_status("r1", "stopped")  # the file is read once: the rule ends
    rows = [row for batch in read_lines(root / "out/r1.txt") for row in batch]
    assert rows == [{"b": r["a"] * 10, "name": r["name"]} for r in ROWS if r["a"] > 2]
    for key in ("lastStartTimestamp", "lastStopTimestamp"):
        assert status[key] > 0
    for node in ("source_demo_0_", "op_2_filter_0_", "op_3_project_0_", "sink_file_0_0_"):
        for metric in NODE_METRICS:
            assert node + metric in status, node + metric
    assert status["source_demo_0_records_in_total"] == len(ROWS)
    assert status["op_2_filter_0_records_out_total"] == 4
    assert status["sink_file_0_0_records_in_total"] == 4
    assert api.ok("GET", "/rules") == [{"id": "r1", "name": "r1", "tags": [],
                                        "status": "stopped"}]
    assert set(api.ok("GET", "/rules/status/all")) == {"r1"}


def test_stop_start_restart_update_delete(server: ServerProcess, root: Path) -> None:
    api = server.api
    api.ok("POST", "/streams", {"sql": SIM_STREAM})
    rule = {"id": "hot", "sql": "SELECT temperature FROM sim WHERE temperature > 25",
            "actions": [{"file": {"path": "hot.txt"}}]}
    api.ok("POST", "/rules", rule)
    api.wait_records("hot", "sink_file_0_0_records_in_total", 3)
    assert api.status("hot")["status"] == "running"
    assert api.post("/rules/hot/stop") == (200, "Rule hot was stopped.")
    stopped = api.status("hot")
    assert stopped["status"] == "stopped" and stopped["message"] == "canceled manually"
    assert api.ok("GET", "/rules")[0]["status"] == "stopped: canceled manually"
    assert {"temperature": 30.5} in [r for b in read_lines(root / "hot.txt") for r in b]

    assert api.post("/rules/hot/start") == (200, "Rule hot was started")
    api.wait_records("hot", "source_sim_0_records_in_total", 2)
    first_start = api.status("hot")["lastStartTimestamp"]
    assert api.post("/rules/hot/restart") == (200, "Rule hot was restarted")
    restarted = api.wait_records("hot", "source_sim_0_records_in_total", 1)
    assert restarted["status"] == "running" and restarted["lastStartTimestamp"] >= first_start

    # update: the running rule restarts with the new SQL (every row now passes)
    new = {**rule, "sql": "SELECT humidity FROM sim", "actions": [{"file": {"path": "all.txt"}}]}
    assert api.put("/rules/hot", new) == (200, "Rule hot was updated successfully.")
    assert api.ok("GET", "/rules/hot")["sql"] == "SELECT humidity FROM sim"
    api.wait_records("hot", "sink_file_0_0_records_in_total", 4)
    assert "op_2_filter_0_records_in_total" not in api.status("hot")
    topo = api.ok("GET", "/rules/hot/topo")
    assert topo == {"sources": ["source_sim"],
                    "edges": {"source_sim": ["op_2_project"], "op_2_project": ["sink_file_0"]}}

    # a stream read by a rule is not dropped unless forced
    status, body = api.delete("/streams/sim")
    assert status == 400 and "referenced" in body["message"]
    assert api.delete("/rules/hot") == (200, "Rule hot is dropped.")
    assert api.get("/rules/hot")[0] == 404
    assert api.delete("/streams/sim") == (200, "Stream sim is dropped.")
    assert [r for b in read_lines(root / "all.txt") for r in b][0] in (
        {"humidity": 40}, {"humidity": 60})


def test_error_bodies(server: ServerProcess) -> None:
    api = server.api
    status, body = api.post("/streams", {"sql": "CREATE STREAM bad (a bigint WITH (TYPE=\"file\")"})
    assert status == 400 and body["error"] == 1001
    assert "line 1, column" in body["message"] and "WITH" in body["message"]
    api.ok("POST", "/streams", {"sql": FILE_STREAM})
    status, body = api.post("/streams", {"sql": FILE_STREAM})
    assert status == 400 and body["error"] == 1004 and "already exists" in body["message"]
    status, body = api.get("/rules/nope/status")
    assert status == 404 and body == {"error": 1003, "message": "Rule nope is not found"}
    assert api.get("/streams/nope")[0] == 404
    assert api.post("/rules/nope/start")[0] == 404
    status, body = api.post("/rules", {"id": "q", "sql": "SELEC a FROM demo",
                                       "actions": [{"log": {}}]})
    assert status == 400 and body["error"] == 1001 and "line 1" in body["message"]
    status, body = api.post("/rules", {"id": "q", "sql": "SELECT a FROM nowhere",
                                       "actions": [{"log": {}}]})
    assert status == 400 and "nowhere" in body["message"]
    status, body = api.post("/rules", {"id": "q", "sql": "SELECT a FROM demo",
                                       "actions": [{"nosuchsink": {}}]})
    assert status == 400 and "nosuchsink" in body["message"]
    assert api.get("/rules")[1] == []  # nothing invalid was stored
    api.ok("POST", "/rules", file_rule("dup", "dup.txt", triggered=False))
    status, body = api.post("/rules", file_rule("dup", "dup.txt"))
    assert status == 400 and body["error"] == 1004 and "already exists" in body["message"]
    status, body = api.request("POST", "/rules", raw=b"{not json")
    assert status == 400 and "invalid rule json" in body["message"]


def test_definitions_and_running_rules_survive_a_restart(root: Path) -> None:
    first = ServerProcess(root).start()
    try:
        api = first.api
        api.ok("POST", "/streams", {"sql": SIM_STREAM})
        api.ok("POST", "/tables", {"sql": 'CREATE TABLE lut (k string, v bigint) '
                                          'WITH (DATASOURCE="lut.json", TYPE="file")'})
        api.ok("POST", "/rules", {"id": "live", "sql": "SELECT * FROM sim",
                                  "actions": [{"file": {"path": "live.txt"}}]})
        api.ok("POST", "/rules", {"id": "idle", "sql": "SELECT humidity FROM sim",
                                  "actions": [{"log": {}}]})
        api.ok("POST", "/rules/idle/stop")
        api.wait_records("live", "sink_file_0_0_records_in_total", 2)
    finally:
        assert first.stop() == 0  # Ctrl-C: graceful, the rules are stopped
    assert read_lines(root / "live.txt"), "the file sink was flushed when the server stopped"
    assert (root / "data" / "sqliteKV.db").is_file()

    second = ServerProcess(root).start()
    try:
        api = second.api
        assert api.ok("GET", "/streams") == ["sim"]
        assert api.ok("GET", "/tables") == ["lut"]
        assert api.ok("GET", "/streams/sim")["Statement"] == SIM_STREAM
        states = {r["id"]: r["status"] for r in api.ok("GET", "/rules")}
        assert states == {"idle": "stopped", "live": "running"}
        api.wait_records("live", "source_sim_0_records_in_total", 2)
        assert api.ok("GET", "/rules/idle")["sql"] == "SELECT humidity FROM sim"
    finally:
        assert second.stop() == 0
    wait_until(lambda: second.proc is not None and second.proc.returncode == 0)
