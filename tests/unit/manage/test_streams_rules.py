"""The service layer without a server: streams and rules on an in-memory KV store."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import kuiper.io  # noqa: F401  (connectors)
from kuiper.catalog.catalog import Catalog
from kuiper.errors import ConfigError, ConflictError, NotFoundError, ParseError, PlanError
from kuiper.manage.rules import RuleManager, parse_rule
from kuiper.manage.streams import StreamManager
from kuiper.manage.topo import topo
from kuiper.runtime.loop import run
from kuiper.state.kv import SqliteKV

SIM = 'CREATE STREAM sim (t float, h bigint) WITH (DATASOURCE="s", TYPE="simulator")'


def managers(tmp_path: Path) -> tuple[StreamManager, RuleManager, SqliteKV]:
    store = SqliteKV(":memory:")
    catalog = Catalog()
    rules = RuleManager(catalog, store, str(tmp_path))
    return StreamManager(catalog, store, rules.referenced_by), rules, store


def test_stream_statements_and_persistence(tmp_path: Path) -> None:
    streams, _rules, store = managers(tmp_path)
    assert streams.exec_sql(SIM) == "Stream sim is created."
    assert streams.exec_sql("SHOW STREAMS") == "sim"
    assert streams.exec_sql("SHOW TABLES") == "No table definitions are found."
    text = streams.exec_sql("DESCRIBE STREAM sim")
    assert text.startswith("Fields\n") and "t\tfloat" in text and "TYPE: simulator" in text
    with pytest.raises(ConflictError, match="Create table fails: Item sim already exists"):
        streams.create(SIM.replace("STREAM", "TABLE"))
    with pytest.raises(ParseError, match="line 1, column"):
        streams.create("CREATE STREAM x (a bigint WITH ()")
    with pytest.raises(ConfigError, match="TIMESTAMP field zz"):
        streams.create('CREATE STREAM y (a bigint) WITH (DATASOURCE="y", TYPE="simulator", '
                       'TIMESTAMP="zz")')
    with pytest.raises(ConfigError, match="expected a CREATE TABLE"):
        streams.create(SIM, is_table=True)
    with pytest.raises(ConfigError, match="Invalid stream statement"):
        streams.exec_sql("SELECT * FROM sim")
    assert json.loads(store.get("stream", "sim") or b"{}")["statement"] == SIM

    catalog = Catalog()
    again = StreamManager(catalog, store)
    assert again.load() == ["sim"] and again.list() == ["sim"]
    assert again.exec_sql("DROP STREAM sim") == "Stream sim is dropped."
    assert store.get("stream", "sim") is None
    with pytest.raises(NotFoundError):
        again.describe("sim")


def test_parse_rule() -> None:
    rule = parse_rule('{"sql": "SELECT 1 FROM s", "actions": [{"log": {}}]}', "r1")
    assert rule.id == "r1" and rule.triggered
    with pytest.raises(ConfigError, match="differs"):
        parse_rule({"id": "a", "sql": "SELECT 1 FROM s", "actions": [{"log": {}}]}, "b")
    with pytest.raises(ConfigError, match="no actions"):
        parse_rule({"id": "a", "sql": "SELECT 1 FROM s"})
    with pytest.raises(ConfigError, match="graph rules"):
        parse_rule({"id": "a", "graph": {}})
    with pytest.raises(ConfigError, match="invalid rule json"):
        parse_rule(b"[1")


def test_rule_lifecycle_and_stored_triggered_flag(tmp_path: Path) -> None:
    streams, rules, store = managers(tmp_path)
    streams.create(SIM)

    async def main() -> None:
        await rules.create({"id": "r", "sql": "SELECT t FROM sim WHERE h > 1",
                            "actions": [{"nop": {}}]})
        assert rules.status("r")["status"] == "running"
        assert streams.referenced_by("sim") == ["r"]
        assert json.loads(store.get("rule", "r") or b"{}")["triggered"] is True
        await rules.stop("r")
        assert json.loads(store.get("rule", "r") or b"{}")["triggered"] is False
        assert rules.list() == [{"id": "r", "name": "r", "tags": [],
                                 "status": "stopped: canceled manually"}]
        with pytest.raises(ConflictError):
            await rules.create({"id": "r", "sql": "SELECT t FROM sim", "actions": [{"nop": {}}]})
        with pytest.raises(PlanError, match="nowhere"):
            await rules.create({"id": "x", "sql": "SELECT t FROM nowhere",
                                "actions": [{"nop": {}}]})
        assert rules.ids() == ["r"]
        await rules.update("r", {"sql": "SELECT h FROM sim", "actions": [{"nop": {}}]})
        assert rules.status("r")["status"] == "stopped"  # stopped stays stopped
        await rules.update("r", {"sql": "SELECT h FROM sim", "actions": [{"nop": {}}],
                                 "triggered": True})
        assert rules.status("r")["status"] == "running"
        assert topo(rules.runner("r").plan) == {  # type: ignore[union-attr]
            "sources": ["source_sim"],
            "edges": {"source_sim": ["op_2_project"], "op_2_project": ["sink_nop_0"]}}
        await rules.close()
        assert json.loads(store.get("rule", "r") or b"{}")["triggered"] is True
        assert rules.load() == ["r"]
        await rules.delete("r")
        assert store.get("rule", "r") is None and rules.ids() == []
        with pytest.raises(NotFoundError, match="Rule r is not found"):
            rules.status("r")

    run(main())
