"""eKuiper's CLI verbs against a `kuiper server` subprocess."""
from __future__ import annotations

import json
from pathlib import Path

from server_support import ServerProcess, cli


def test_stream_and_rule_verbs(server: ServerProcess, tmp_path: Path) -> None:
    port = server.port
    r = cli(port, "create", "stream", "sim",
            '(temperature float, humidity bigint) WITH (DATASOURCE="sim", TYPE="simulator", '
            'CONF_KEY="fast")')
    assert r.returncode == 0 and r.stdout.strip() == "Stream sim is created.", r.stderr
    table_file = tmp_path / "lut.sql"
    table_file.write_text('lut (k string, v bigint) WITH (DATASOURCE="lut.json", TYPE="file");')
    r = cli(port, "create", "table", "-f", str(table_file))
    assert r.stdout.strip() == "Table lut is created.", r.stderr
    assert cli(port, "show", "streams").stdout.split() == ["sim"]
    assert cli(port, "show", "tables").stdout.split() == ["lut"]
    described = cli(port, "describe", "stream", "sim").stdout
    assert described.startswith("Fields\n" + "-" * 80)
    assert "temperature\tfloat" in described and "DATASOURCE: sim" in described
    assert json.loads(cli(port, "describe", "stream", "sim", "--json").stdout)["Name"] == "sim"

    r = cli(port, "create", "rule", "r1",
            '{"sql": "SELECT temperature FROM sim", "actions": [{"nop": {}}]}')
    assert r.stdout.strip() == "Rule r1 was created successfully.", r.stderr
    rule_file = tmp_path / "r2.json"
    rule_file.write_text(json.dumps({"sql": "SELECT humidity FROM sim", "actions": [{"nop": {}}],
                                     "triggered": False}))
    assert cli(port, "create", "rule", "r2", "-f", str(rule_file)).returncode == 0
    rules = json.loads(cli(port, "show", "rules").stdout)
    assert [(x["id"], x["status"]) for x in rules] == [("r1", "running"), ("r2", "stopped")]
    assert json.loads(cli(port, "describe", "rule", "r2").stdout)["sql"] == \
        "SELECT humidity FROM sim"
    status = json.loads(cli(port, "getstatus", "rule", "r1").stdout)
    assert status["status"] == "running" and "source_sim_0_records_in_total" in status
    topo = json.loads(cli(port, "gettopo", "rule", "r1").stdout)
    assert topo["sources"] == ["source_sim"]
    assert "DataSourcePlan" in cli(port, "explain", "rule", "r1").stdout
    assert cli(port, "stop", "rule", "r1").stdout.strip() == "Rule r1 was stopped."
    assert cli(port, "start", "rule", "r2").stdout.strip() == "Rule r2 was started"
    assert cli(port, "restart", "rule", "r2").stdout.strip() == "Rule r2 was restarted"
    assert json.loads(cli(port, "getstatus", "rule", "r1").stdout)["status"] == "stopped"
    r = cli(port, "validate", "rule", "v", '{"sql": "SELECT * FROM sim", "actions": [{"log": {}}]}')
    assert "successfully validated" in r.stdout

    assert cli(port, "drop", "rule", "r1").stdout.strip() == "Rule r1 is dropped."
    assert cli(port, "drop", "rule", "r2").returncode == 0
    assert cli(port, "drop", "stream", "sim").stdout.strip() == "Stream sim is dropped."
    assert cli(port, "drop", "table", "lut").stdout.strip() == "Table lut is dropped."
    assert cli(port, "show", "streams").stdout.strip() == "No stream definitions are found."


def test_cli_errors(server: ServerProcess) -> None:
    port = server.port
    r = cli(port, "create", "stream", "bad", "(a bigint WITH (TYPE=\"file\")")
    assert r.returncode != 0 and "line 1, column" in r.stderr
    r = cli(port, "getstatus", "rule", "nope")
    assert r.returncode != 0 and "Rule nope is not found" in r.stderr
    r = cli(port, "validate", "rule", "v", '{"sql": "SELECT * FROM nowhere", "actions": [{"log": {}}]}')
    assert r.returncode != 0 and "nowhere" in r.stderr
    r = cli(port + 1 if port < 65535 else port - 1, "show", "streams")
    assert r.returncode != 0 and "cannot reach the kuiper server" in r.stderr


def test_ruleset_import_and_export_verbs(server: ServerProcess, tmp_path: Path) -> None:
    port = server.port
    ruleset = {"streams": {"sim": 'CREATE STREAM sim (temperature float) WITH '
                                  '(DATASOURCE="sim", TYPE="simulator", CONF_KEY="fast")'},
               "tables": {},
               "rules": {"rs1": json.dumps({"id": "rs1", "sql": "SELECT * FROM sim",
                                            "actions": [{"nop": {}}], "triggered": False})}}
    src = tmp_path / "in.json"
    src.write_text(json.dumps(ruleset))
    r = cli(port, "import", "ruleset", "-f", str(src))
    assert r.stdout.strip() == "imported 1 streams, 0 tables and 1 rules", r.stderr
    out = tmp_path / "out.json"
    r = cli(port, "export", "ruleset", "-f", str(out))
    assert r.returncode == 0 and str(out) in r.stdout, r.stderr
    exported = json.loads(out.read_text())
    assert set(exported["streams"]) == {"sim"} and set(exported["rules"]) == {"rs1"}
    assert json.loads(cli(port, "export", "ruleset").stdout)["rules"].keys() == {"rs1"}
