"""httppull and httppush against real HTTP on 127.0.0.1: pulls on the rule's clock (incremental,
time-window templates, responseType body), pushes through the shared data server."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from http_helpers import Request, Target, free_port, until

from kuiper.cli.run import build_runners
from kuiper.io.pubsub import BUS
from kuiper.runtime.clock import ManualClock
from kuiper.runtime.loop import run
from kuiper.runtime.rule import RuleRunner

pytestmark = pytest.mark.integration


def rule_dir(root: Path, name: str, stream_sql: str, sql: str, topic: str) -> Path:
    ex = root / name
    ex.mkdir()
    (ex / "streams.sql").write_text(stream_sql)
    (ex / "rule.json").write_text(json.dumps({"id": name, "sql": sql,
                                              "actions": [{"memory": {"topic": topic}}]}))
    return ex


class Collected:
    """Rows a rule publishes on a memory topic."""

    def __init__(self, topic: str) -> None:
        self.rows: list[dict[str, Any]] = []
        self._token = BUS.subscribe(topic, lambda _t, rows: self.rows.extend(rows))

    def close(self) -> None:
        BUS.unsubscribe(self._token)


async def start(paths: list[Path], root: Path, clock: ManualClock | None = None
                ) -> list[RuleRunner]:
    runners = build_runners([str(p) for p in paths], str(root), clock)
    for r in runners:
        await r.start()
    return runners


def test_httppull_interval_incremental_and_time_window(target: Target, root: Path) -> None:
    answers = [{"v": 1}, {"v": 1}, [{"v": 2}, {"v": 3}]]

    def respond(req: Request) -> tuple[int, str]:
        n = sum(1 for r in target.received() if r.path == "/pull")
        return 200, json.dumps(answers[min(n, len(answers)) - 1])

    target.responder = respond
    (root / "etc" / "sources" / "httppull.yaml").write_text(
        "default:\n  interval: 1000\n  incremental: true\n"
        f"  url: \"{target.url}\"\n  headers:\n    X-Window: \"{{{{.LastPullTime}}}}\"\n")
    ex = rule_dir(root, "pull", 'CREATE STREAM s () WITH (TYPE="httppull", '
                  'DATASOURCE="/pull?start={{.LastPullTime}}&end={{.PullTime}}", FORMAT="json");',
                  "SELECT v FROM s", "out/pull")
    clock = ManualClock()
    out = Collected("out/pull")

    async def main() -> None:
        (runner,) = await start([ex], root, clock)
        await until(lambda: len(target.received()) == 1)
        await until(lambda: len(out.rows) == 1)
        for n in (2, 3):
            clock.advance(1000)
            await until(lambda n=n: len(target.received()) == n)
        await until(lambda: len(out.rows) == 3)
        await runner.stop()

    try:
        run(main())
    finally:
        out.close()
    assert out.rows == [{"v": 1}, {"v": 2}, {"v": 3}]  # the repeated answer was skipped
    reqs = target.received()
    assert all(r.method == "GET" for r in reqs)
    starts = [int(r.query["start"]) for r in reqs]
    ends = [int(r.query["end"]) for r in reqs]
    assert starts[1:] == ends[:-1], "each pull starts where the last one ended"
    assert all(s <= e for s, e in zip(starts, ends))
    assert [int(r.headers["X-Window"]) for r in reqs] == starts


def test_httppull_post_body_and_response_type_body(target: Target, root: Path) -> None:
    target.responder = lambda r: (200, json.dumps({"code": 500 if b"bad" in r.body else 200,
                                                   "temp": 21.5}))
    (root / "etc" / "sources" / "httppull.yaml").write_text(
        f"default:\n  url: \"{target.url}\"\n  interval: 1000\n  responseType: body\n"
        "  method: post\n  body: '{\"q\": \"ok\"}'\n"
        "bad:\n  body: '{\"q\": \"bad\"}'\n")
    ok = rule_dir(root, "okpull", 'CREATE STREAM s1 () WITH (TYPE="httppull", DATASOURCE="/a", '
                  'FORMAT="json");', "SELECT temp FROM s1", "out/ok")
    bad = rule_dir(root, "badpull", 'CREATE STREAM s2 () WITH (TYPE="httppull", DATASOURCE="/b", '
                   'CONF_KEY="bad", FORMAT="json");', "SELECT temp FROM s2", "out/bad")
    out = Collected("out/ok")

    async def main() -> dict[str, Any]:
        runners = await start([ok, bad], root, ManualClock())
        await until(lambda: len(out.rows) == 1 and len(target.received()) == 2)
        await until(lambda: runners[1].metrics()["source_s2_0_exceptions_total"] == 1)
        m = runners[1].metrics()
        for r in runners:
            await r.stop()
        return m

    try:
        m = run(main())
    finally:
        out.close()
    assert out.rows == [{"temp": 21.5}]
    assert {r.path: orjson.loads(r.body) for r in target.received()} == {
        "/a": {"q": "ok"}, "/b": {"q": "bad"}}
    assert all(r.headers["Content-Type"] == "application/json" for r in target.received())
    assert "response code error" in m["source_s2_0_last_exception"]


def test_httppull_unreachable_target_is_counted(root: Path) -> None:
    port = free_port()  # nothing listens there
    (root / "etc" / "sources" / "httppull.yaml").write_text(
        f"default:\n  url: \"http://127.0.0.1:{port}\"\n  interval: 1000\n")
    ex = rule_dir(root, "down", 'CREATE STREAM s () WITH (TYPE="httppull", FORMAT="json");',
                  "SELECT * FROM s", "out/down")

    async def main() -> tuple[dict[str, Any], str]:
        (runner,) = await start([ex], root, ManualClock())
        await until(lambda: runner.metrics()["source_s_0_exceptions_total"] == 1)
        m, state = runner.metrics(), runner.state
        await runner.stop()
        return m, state

    m, state = run(main())
    assert "io error" in m["source_s_0_last_exception"]
    assert state == "running"  # a failed pull is counted; the rule goes on


def test_httppush_rows_in_shared_server(root: Path) -> None:
    port = free_port()
    (root / "etc" / "sources" / "httppush.yaml").write_text(
        f"source:\n  httpServerIp: 127.0.0.1\n  httpServerPort: {port}\n"
        "put:\n  method: PUT\n")
    a = rule_dir(root, "pusha", 'CREATE STREAM pa (id BIGINT, name STRING) WITH '
                 '(TYPE="httppush", DATASOURCE="/api/a", FORMAT="json");',
                 "SELECT id, upper(name) AS name FROM pa WHERE id > 0", "out/a")
    b = rule_dir(root, "pushb", 'CREATE STREAM pb () WITH (TYPE="httppush", DATASOURCE="/api/b", '
                 'CONF_KEY="put", FORMAT="json");', "SELECT * FROM pb", "out/b")
    out_a, out_b = Collected("out/a"), Collected("out/b")
    base = f"http://127.0.0.1:{port}"

    async def main() -> dict[str, int]:
        runners = await start([a, b], root)
        statuses: dict[str, int] = {}
        async with aiohttp.ClientSession() as http:
            async def send(method: str, path: str, body: Any) -> int:
                data = body if isinstance(body, bytes) else orjson.dumps(body)
                async with http.request(method, base + path, data=data) as resp:
                    await resp.read()
                    return resp.status

            for _ in range(400):  # the server starts when the first stream opens
                try:
                    statuses["a1"] = await send("POST", "/api/a", {"id": 1, "name": "x"})
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.005)
            statuses["a2"] = await send("POST", "/api/a", [{"id": 2, "name": "y"},
                                                            {"id": 0, "name": "skip"}])
            statuses["b"] = await send("PUT", "/api/b", {"k": "v"})
            statuses["wrong_method"] = await send("POST", "/api/b", {"k": "v"})
            statuses["unknown"] = await send("POST", "/nope", {})
            statuses["bad_json"] = await send("POST", "/api/a", b'{"id": ')
        await until(lambda: len(out_a.rows) == 2 and len(out_b.rows) == 1)
        for r in runners:
            await r.stop()
        async with aiohttp.ClientSession() as http:  # the last stream stopped the server
            try:
                async with http.post(base + "/api/a", data=b"{}") as resp:
                    statuses["after_stop"] = resp.status
            except aiohttp.ClientConnectionError:
                statuses["after_stop"] = -1
        return statuses

    try:
        statuses = run(main())
    finally:
        out_a.close()
        out_b.close()
    assert out_a.rows == [{"id": 1, "name": "X"}, {"id": 2, "name": "Y"}]
    assert out_b.rows == [{"k": "v"}]
    assert statuses == {"a1": 200, "a2": 200, "b": 200, "wrong_method": 405, "unknown": 404,
                        "bad_json": 400, "after_stop": -1}
