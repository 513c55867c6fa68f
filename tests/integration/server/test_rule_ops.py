"""The eKuiper routes for scripts, against the real app on a real Engine (no mocks): rule
tags, bulk start/stop, reset_state, CPU usage, /batch/req, ruleset export/import."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from server_support import FILE_STREAM, SIM_STREAM
from test_app import Client, ok, with_client

from kuiper.manage.engine import Engine
from kuiper.state import checkpoint

SIM_RULE = {"sql": "SELECT temperature FROM sim", "actions": [{"nop": {}}]}


async def make_rule(client: Client, rule_id: str, **extra: Any) -> None:
    await ok(await client.post("/rules", json={"id": rule_id, **SIM_RULE, **extra}), 201)


async def state_of(client: Client, rule_id: str) -> str:
    return str((await ok(await client.get(f"/rules/{rule_id}/status")))["status"])


async def wait_state(client: Client, rule_id: str, state: str) -> None:
    for _ in range(500):
        if await state_of(client, rule_id) == state:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"rule {rule_id} not {state}")


def test_rule_tags_are_set_matched_and_persisted(root: Path) -> None:
    async def body(client: Client, _engine: Engine) -> None:
        await ok(await client.post("/streams", json={"sql": SIM_STREAM}), 201)
        await make_rule(client, "r1", triggered=False, tags=["edge"])
        await make_rule(client, "r2", triggered=False)
        assert await ok(await client.put("/rules/r1/tags", json={"tags": ["a", "b"]})) == ""
        assert (await ok(await client.get("/rules/r1")))["tags"] == ["a", "b"]
        await ok(await client.patch("/rules/r1/tags", json={"tags": ["b", "c"]}))
        await ok(await client.patch("/rules/r2/tags", json={"tags": ["a"]}))
        assert (await ok(await client.get("/rules/r1")))["tags"] == ["a", "b", "c"]
        match = await ok(await client.get("/rules/tags/match", json={"tags": ["a"]}))
        assert match == {"rules": ["r1", "r2"]}
        match = await ok(await client.get("/rules/tags/match", json={"tags": ["a", "c"]}))
        assert match == {"rules": ["r1"]}
        assert await ok(await client.get("/rules/tags/match?tags=a,b")) == {"rules": ["r1"]}
        await ok(await client.delete("/rules/r1/tags", json={"keys": ["a", "zzz"]}))
        assert (await ok(await client.get("/rules/r1")))["tags"] == ["b", "c"]
        listed = {r["id"]: r["tags"] for r in await ok(await client.get("/rules"))}
        assert listed == {"r1": ["b", "c"], "r2": ["a"]}
        resp = await client.put("/rules/nope/tags", json={"tags": ["x"]})
        assert resp.status == 404
        resp = await client.put("/rules/r1/tags", json={"tags": "x"})
        assert resp.status == 400 and (await resp.json())["error"] == 1000
        assert await state_of(client, "r1") == "stopped"  # tagging does not start a rule

    with_client(root, body)

    async def reopened(client: Client, _engine: Engine) -> None:
        assert (await ok(await client.get("/rules/r1")))["tags"] == ["b", "c"]
        assert await ok(await client.get("/rules/tags/match", json={"tags": ["a"]})) == \
            {"rules": ["r2"]}

    with_client(root, reopened)


def test_bulk_start_and_stop(root: Path) -> None:
    async def body(client: Client, _engine: Engine) -> None:
        await ok(await client.post("/streams", json={"sql": SIM_STREAM}), 201)
        await make_rule(client, "b1", triggered=False, tags=["grp"])
        await make_rule(client, "b2", triggered=False, tags=["grp"])
        answer = await ok(await client.post("/rules/bulkstart",
                                            json=[{"id": "b1"}, {"id": "b2"}, {"id": "nope"}]))
        assert answer[:2] == [{"ruleId": "b1", "success": True},
                              {"ruleId": "b2", "success": True}]
        assert answer[2]["ruleId"] == "nope" and answer[2]["success"] is False
        assert "not found" in answer[2]["error"]
        assert await state_of(client, "b1") == "running"
        assert await state_of(client, "b2") == "running"
        answer = await ok(await client.post("/rules/bulkstop", json={"tags": ["grp"]}))
        assert answer == [{"ruleId": "b1", "success": True}, {"ruleId": "b2", "success": True}]
        assert await state_of(client, "b1") == "stopped"
        assert (await ok(await client.get("/rules/b2")))["triggered"] is False
        resp = await client.post("/rules/bulkstart", json={"ids": ["b1"]})
        assert resp.status == 400 and (await resp.json())["error"] == 1000

    with_client(root, body)


def test_reset_state_forgets_checkpoints_and_restarts(root: Path) -> None:
    async def body(client: Client, engine: Engine) -> None:
        await ok(await client.post("/streams", json={"sql": SIM_STREAM}), 201)
        await make_rule(client, "st", triggered=False)
        checkpoint.rule_state("st", engine.root)
        engine.store.set(checkpoint.CHECKPOINT_NAMESPACE, "st", "{}")
        engine.store.set(checkpoint.DATA_NAMESPACE, "st/1", b"window rows")  # operator state
        engine.store.set(checkpoint.DATA_NAMESPACE, "st2/1", b"another rule's")
        assert await ok(await client.put("/rules/st/reset_state", json={})) == "success"
        assert engine.store.get(checkpoint.CHECKPOINT_NAMESPACE, "st") is None
        assert engine.store.keys(checkpoint.DATA_NAMESPACE) == ["st2/1"]
        assert checkpoint.rule_state("st", engine.root)[1] is True  # a fresh live state
        assert await state_of(client, "st") == "stopped"  # a stopped rule stays stopped
        await ok(await client.post("/rules/st/start"))
        await wait_state(client, "st", "running")
        engine.store.set(checkpoint.CHECKPOINT_NAMESPACE, "st", "{}")
        await ok(await client.put("/rules/st/reset_state"))
        assert engine.store.get(checkpoint.CHECKPOINT_NAMESPACE, "st") is None
        assert await state_of(client, "st") == "running"  # restarted
        assert (await client.put("/rules/nope/reset_state")).status == 404
        # CPU usage: running rules only, integer milliseconds
        for _ in range(200):
            usage = await ok(await client.get("/rules/usage/cpu"))
            if usage.get("st") is not None:
                break
            await asyncio.sleep(0.01)
        assert set(usage) == {"st"} and isinstance(usage["st"], int) and usage["st"] >= 0

    with_client(root, body)


def test_batch_requests_run_in_order(root: Path) -> None:
    async def body(client: Client, _engine: Engine) -> None:
        batch = [
            {"method": "POST", "path": "/streams", "body": json.dumps({"sql": FILE_STREAM})},
            {"method": "GET", "path": "/streams/demo"},
            {"method": "POST", "path": "/rules",
             "body": {"id": "br", "sql": "SELECT a FROM demo", "actions": [{"nop": {}}],
                      "triggered": False}},
            {"method": "PUT", "path": "/rules/br/tags", "body": '{"tags": ["x"]}'},
            {"method": "GET", "path": "/rules/nope"},
            {"method": "DELETE", "path": "/streams/demo?force=true"},
            {"method": "GET", "path": "/no/such/route"},
            {"method": "BREW", "path": "/"},
        ]
        answer = await ok(await client.post("/batch/req", json=batch))
        assert [a["code"] for a in answer] == [201, 200, 201, 200, 404, 200, 404, 0]
        assert answer[0]["response"] == "Stream demo is created."
        assert json.loads(answer[1]["response"])["Name"] == "demo"
        assert answer[2]["response"] == "Rule br was created successfully."
        assert json.loads(answer[4]["response"])["error"] == 1003
        assert answer[5]["response"] == "Stream demo is dropped."
        assert "error" in answer[7]
        assert (await ok(await client.get("/rules/br")))["tags"] == ["x"]
        resp = await client.post("/batch/req", json={"method": "GET"})
        assert resp.status == 400

    with_client(root, body)


def test_ruleset_export_then_import_into_another_root(root: Path, tmp_path: Path) -> None:
    exported: dict[str, Any] = {}
    table = ('CREATE TABLE lut (k string) WITH (DATASOURCE="lut.json", TYPE="file")')

    async def source(client: Client, _engine: Engine) -> None:
        await ok(await client.post("/streams", json={"sql": SIM_STREAM}), 201)
        await ok(await client.post("/tables", json={"sql": table}), 201)
        await make_rule(client, "e1", tags=["t"])
        await make_rule(client, "e2", triggered=False)
        resp = await client.post("/ruleset/export")
        assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
        exported.update(json.loads(await resp.read()))

    with_client(root, source)
    assert set(exported) == {"streams", "tables", "rules"}
    assert exported["streams"]["sim"].startswith("CREATE STREAM sim")
    assert set(exported["tables"]) == {"lut"}
    assert json.loads(exported["rules"]["e1"])["tags"] == ["t"]
    assert json.loads(exported["rules"]["e2"])["triggered"] is False

    other = tmp_path / "other"
    (other / "etc").mkdir(parents=True)
    (other / "etc" / "sources").symlink_to(root / "etc" / "sources")
    path = tmp_path / "ruleset.json"
    path.write_text(json.dumps(exported))

    async def target(client: Client, _engine: Engine) -> None:
        answer = await ok(await client.post("/ruleset/import",
                                            json={"content": json.dumps(exported)}))
        assert answer == "imported 1 streams, 1 tables and 2 rules"
        await wait_state(client, "e1", "running")
        assert await state_of(client, "e2") == "stopped"
        assert (await ok(await client.get("/rules/e1")))["tags"] == ["t"]
        answer = await ok(await client.post("/ruleset/import", json={"file": f"file://{path}"}))
        assert answer == "imported 0 streams, 0 tables and 0 rules"  # all exist already
        resp = await client.post("/ruleset/import", json={})
        assert resp.status == 400 and "content or file" in (await resp.json())["message"]
        resp = await client.post("/ruleset/import", json={"content": "[1]"})
        assert resp.status == 400

    with_client(other, target)
