"""The REST app in process (aiohttp's test server over a real Engine, no mocks): tables,
schemas, updates, validation, explain, plugins installed over REST, external services."""
from __future__ import annotations

import json
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from server_support import FILE_STREAM, REPO, ROWS

from kuiper.manage.engine import Engine
from kuiper.plugins.build import build_plugin
from kuiper.runtime.loop import run
from kuiper.server.app import create_app

Client = TestClient[Any, Any]


def with_client(root: Path, body: Callable[[Client, Engine], Awaitable[None]]) -> None:
    """Run `body(client, engine)` against an app on a fresh engine of `root`."""
    async def main() -> None:
        engine = await Engine(root).open()
        try:
            async with TestClient(TestServer(create_app(engine))) as client:
                await body(client, engine)
        finally:
            await engine.close()

    run(main())


async def ok(resp: Any, status: int = 200) -> Any:
    text = await resp.text()
    assert resp.status == status, f"{resp.status}: {text}"
    return json.loads(text) if resp.content_type == "application/json" else text


async def wait_stopped(client: Client, rule_id: str) -> dict[str, Any]:
    import asyncio

    for _ in range(500):
        status = await ok(await client.get(f"/rules/{rule_id}/status"))
        if status["status"] != "running":
            return status
        await asyncio.sleep(0.01)
    raise AssertionError(f"rule {rule_id} still running")


def test_tables_schema_update_and_details(root: Path) -> None:
    async def body(client: Client, _engine: Engine) -> None:
        sql = ('CREATE TABLE lut (k string, v bigint, tags array(string), '
               'pos struct(x float, y float)) WITH (DATASOURCE="lut.json", TYPE="file", '
               'VERSION="1")')
        assert await ok(await client.post("/tables", json={"sql": sql}), 201) == \
            "Table lut is created."
        assert await ok(await client.get("/tables")) == ["lut"]
        assert await ok(await client.get("/tables?kind=lookup")) == []
        assert await ok(await client.get("/tabledetails")) == \
            [{"name": "lut", "type": "file", "format": "json"}]
        assert await ok(await client.get("/tables/lut/schema")) == {
            "k": {"type": "string"}, "v": {"type": "bigint"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "pos": {"type": "struct", "properties": {"x": {"type": "float"},
                                                      "y": {"type": "float"}}}}
        described = await ok(await client.get("/tables/lut"))
        assert described["Name"] == "lut" and described["StreamType"] == 1
        assert (await client.get("/streams/lut")).status == 404  # a table is not a stream
        newer = sql.replace('VERSION="1"', 'VERSION="2"').replace("v bigint", "v float")
        assert await ok(await client.put("/tables/lut", json={"sql": newer})) == \
            "Table lut is replaced."
        assert (await ok(await client.get("/tables/lut/schema")))["v"] == {"type": "float"}
        resp = await client.put("/tables/lut", json={"sql": sql})  # VERSION 1 < 2
        assert resp.status == 400 and "not newer" in (await resp.json())["message"]
        resp = await client.put("/tables/lut", json={"sql": newer.replace("lut", "other", 1)})
        assert resp.status == 400 and "must update the lut source" in (await resp.json())["message"]
        resp = await client.post("/streams", json={"sql": sql.replace("TABLE", "STREAM")})
        assert resp.status == 400 and "already exists" in (await resp.json())["message"]
        resp = await client.post("/streams", json={"nosql": 1})
        assert resp.status == 400 and (await resp.json())["error"] == 1000
        text = await ok(await client.post("/streams", json={"sql": "SHOW STREAMS"}), 201)
        assert text == "No stream definitions are found."
        resp = await client.post("/streams", json={
            "sql": 'CREATE STREAM s (a bigint) WITH (DATASOURCE="x", TYPE="nosuch")'})
        assert resp.status == 400 and "source type 'nosuch'" in (await resp.json())["message"]
        assert await ok(await client.delete("/tables/lut")) == "Table lut is dropped."

    with_client(root, body)


def test_validate_explain_and_forced_drop(root: Path) -> None:
    async def body(client: Client, _engine: Engine) -> None:
        await ok(await client.post("/streams", json={"sql": FILE_STREAM}), 201)
        rule = {"id": "v", "sql": "SELECT a FROM demo WHERE a > 1", "actions": [{"log": {}}]}
        assert await ok(await client.post("/rules/validate", json=rule)) == \
            {"valid": True, "sources": ["demo"]}
        bad = {**rule, "sql": "SELECT a FROM demo WHERE"}
        resp = await client.post("/rules/validate", json=bad)
        assert resp.status == 422 and (await resp.json())["error"] == 1001
        assert (await client.get("/rules/v")).status == 404  # validate stores nothing
        await ok(await client.post("/rules", json={**rule, "triggered": False}), 201)
        assert (await ok(await client.get("/rules/v/status")))["status"] == "stopped"
        explain = await ok(await client.get("/rules/v/explain"))
        lines = explain.splitlines()
        assert json.loads(lines[0])["op"] == "3_project"
        assert "StreamName: demo" in lines[-1]
        resp = await client.delete("/streams/demo")
        assert resp.status == 400 and "referenced" in (await resp.json())["message"]
        assert await ok(await client.delete("/streams/demo?force=true")) == \
            "Stream demo is dropped."
        resp = await client.post("/rules/v/start")  # its stream is gone
        assert resp.status == 400 and "demo" in (await resp.json())["message"]
        assert (await ok(await client.get("/rules/v/status")))["status"] == "stopped by error"
        resp = await client.put("/rules/v", json={**rule, "id": "other"})
        assert resp.status == 400 and "differs" in (await resp.json())["message"]

    with_client(root, body)


def test_plugin_installed_over_rest_and_used_in_a_rule(root: Path, tmp_path: Path) -> None:
    src = REPO / "plugins" / "functions" / "dictLookup.py"
    zpath = build_plugin(src, "functions", "dictLookup", "1.0.0", None,
                         tmp_path / "dictLookup.zip", compile=False)
    (root / "devices.jsonl").write_text("".join(
        json.dumps({"dev": f"dev{i}", "n": i}) + "\n" for i in (1, 2, 3, 4)))

    async def body(client: Client, _engine: Engine) -> None:
        resp = await client.post("/plugins/functions",
                                 json={"name": "dictLookup", "file": f"file://{zpath}"})
        assert await ok(resp, 201) == "function plugin dictLookup is created"
        assert await ok(await client.get("/plugins/functions")) == ["dictLookup"]
        info = await ok(await client.get("/plugins/functions/dictLookup"))
        assert info["name"] == "dictLookup" and info["version"] == "1.0.0"
        assert "dictLookup" in await ok(await client.get("/plugins/udfs"))
        assert await ok(await client.get("/plugins/udfs/dictLookup")) == \
            {"name": "dictLookup", "plugin": "dictLookup"}
        resp = await client.post("/plugins/functions",
                                 json={"name": "dictLookup", "file": f"file://{zpath}"})
        assert resp.status == 400 and (await resp.json())["error"] == 1004
        assert (await client.get("/plugins/sources/nope")).status == 404
        await ok(await client.post("/streams", json={
            "sql": 'CREATE STREAM devices (dev string, n bigint) '
                   'WITH (DATASOURCE="devices.jsonl", TYPE="file")'}), 201)
        rule = {"id": "where", "sql": "SELECT dev, dictLookup(dev) AS place FROM devices",
                "actions": [{"file": {"path": "places.txt"}}]}
        await ok(await client.post("/rules", json=rule), 201)
        status = await wait_stopped(client, "where")
        assert status["status"] == "stopped", status
        rows = [r for line in (root / "places.txt").read_text().splitlines()
                for r in json.loads(line)]
        assert rows == [{"dev": "dev1", "place": "kitchen"}, {"dev": "dev2", "place": "garage"},
                        {"dev": "dev3", "place": "roof"}, {"dev": "dev4"}]  # nil fields dropped
        await ok(await client.delete("/rules/where"))
        assert await ok(await client.delete("/plugins/functions/dictLookup")) == \
            "function plugin dictLookup is deleted"
        assert await ok(await client.get("/plugins/functions")) == []
        resp = await client.post("/rules/validate", json=rule)
        assert resp.status == 422  # the function is gone

    with_client(root, body)


TINY = {"about": {"description": {"en_US": "one grpc interface"}},
        "interfaces": {"tiny": {"address": "tcp://127.0.0.1:1", "protocol": "grpc",
                                "schemaType": "protobuf", "schemaFile": "tiny.proto"}}}
TINY_PROTO = ('syntax = "proto3";\npackage tiny;\nservice T { rpc hello(Name) returns (Name) {} }\n'
              'message Name { string name = 1; }\n')


def test_services_over_rest_from_a_downloaded_zip(root: Path, tmp_path: Path) -> None:
    zpath = tmp_path / "files" / "tiny.zip"
    zpath.parent.mkdir()
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("tiny.json", json.dumps(TINY))
        zf.writestr("schemas/tiny.proto", TINY_PROTO)

    async def body(client: Client, _engine: Engine) -> None:
        files = web.Application()
        files.router.add_static("/files", zpath.parent)
        async with TestServer(files) as file_server:
            url = str(file_server.make_url("/files/tiny.zip"))
            resp = await client.post("/services", json={"name": "tiny", "file": url})
            assert await ok(resp, 201) == "service tiny is created"
            missing = str(file_server.make_url("/files/gone.zip"))
            resp = await client.post("/services", json={"name": "gone", "file": missing})
            assert resp.status == 400 and "HTTP 404" in (await resp.json())["message"]
        assert (root / "etc/services/tiny.json").is_file()
        assert await ok(await client.get("/services")) == ["tiny"]
        desc = await ok(await client.get("/services/tiny"))
        assert desc["Interfaces"]["tiny"]["Functions"] == ["hello"]
        funcs = await ok(await client.get("/services/functions"))
        assert [(f["Name"], f["ServiceName"]) for f in funcs] == [("hello", "tiny")]
        assert (await ok(await client.get("/services/functions/hello")))["InterfaceName"] == "tiny"
        resp = await client.post("/services", json={"name": "tiny", "file": f"file://{zpath}"})
        assert resp.status == 400 and "already exists" in (await resp.json())["message"]
        assert await ok(await client.put("/services/tiny", json={"file": str(zpath)})) == \
            "service tiny is updated"
        assert await ok(await client.delete("/services/tiny")) == "service tiny is deleted"
        assert (await client.get("/services/tiny")).status == 404
        assert (await client.get("/services/functions/hello")).status == 404

    with_client(root, body)


def test_engine_restores_rules_in_process(root: Path) -> None:
    async def first(client: Client, _engine: Engine) -> None:
        await ok(await client.post("/streams", json={"sql": FILE_STREAM}), 201)
        rule = {"id": "again", "sql": "SELECT a FROM demo", "actions": [{"file": {"path": "a.txt"}}]}
        await ok(await client.post("/rules", json=rule), 201)
        await wait_stopped(client, "again")

    async def second(client: Client, engine: Engine) -> None:
        # the rule's stored `triggered` is true: the new engine ran it again over the file
        status = await wait_stopped(client, "again")
        assert status["source_demo_0_records_in_total"] == len(ROWS)
        assert engine.rules.ids() == ["again"]

    with_client(root, first)
    (root / "a.txt").unlink()
    with_client(root, second)
    assert len((root / "a.txt").read_text().splitlines()) == len(ROWS)
