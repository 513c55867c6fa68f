"""The rest sink against a real local HTTP server: bodies, headers, templated URLs, bodyType,
batchSize/lingerInterval, status handling, and the fault test (target down mid-stream with
enableCache: every result arrives once it is back)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from http_helpers import Request, Target, until

from kuiper.cli.run import build_runners, run_paths
from kuiper.io.pubsub import BUS
from kuiper.runtime.clock import ManualClock
from kuiper.runtime.loop import run
from kuiper.runtime.rule import RuleRunner

pytestmark = pytest.mark.integration

EVENTS = [{"id": i, "deviceId": f"dev{i % 2}", "temperature": 20.0 + i} for i in range(4)]


def file_rule(root: Path, actions: list[dict[str, Any]]) -> Path:
    (root / "etc" / "sources" / "file.yaml").write_text("default:\n  fileType: lines\n  path: in\n")
    (root / "in").mkdir()
    (root / "in" / "events.jsonl").write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    ex = root / "rule"
    ex.mkdir()
    (ex / "streams.sql").write_text(
        'CREATE STREAM demo (id BIGINT, deviceId STRING, temperature FLOAT)\n'
        '  WITH (TYPE="file", DATASOURCE="events.jsonl", FORMAT="json");\n')
    (ex / "rule.json").write_text(json.dumps({"id": "r", "sql": "SELECT * FROM demo",
                                              "actions": actions}))
    return ex


def memory_rule(root: Path, topic: str, actions: list[dict[str, Any]], rule_id: str = "r") -> Path:
    ex = root / f"rule_{rule_id}"
    ex.mkdir()
    (ex / "streams.sql").write_text(
        f'CREATE STREAM demo () WITH (TYPE="memory", DATASOURCE="{topic}", FORMAT="json");\n')
    (ex / "rule.json").write_text(json.dumps({"id": rule_id, "sql": "SELECT * FROM demo",
                                              "actions": actions}))
    return ex


def test_templated_url_headers_and_body(target: Target, root: Path) -> None:
    ex = file_rule(root, [{"rest": {
        "url": target.url + "/devices/{{.deviceId}}",
        "sendSingle": True,
        "headers": {"X-Device": "{{.deviceId}}", "Authorization": "Bearer t0k"},
        "dataTemplate": '{"device": "{{.deviceId}}", "t": {{printf "%.1f" .temperature}}}',
    }}])
    status = run_paths([str(ex)], str(root))["r"]
    got = target.received()
    assert len(got) == 4
    assert [r.path for r in got] == ["/devices/dev0", "/devices/dev1", "/devices/dev0",
                                     "/devices/dev1"]
    assert all(r.method == "POST" for r in got)
    assert [r.headers["X-Device"] for r in got] == ["dev0", "dev1", "dev0", "dev1"]
    assert all(r.headers["Authorization"] == "Bearer t0k" for r in got)
    assert all(r.headers["Content-Type"] == "application/json" for r in got)
    assert [orjson.loads(r.body) for r in got] == [
        {"device": f"dev{i % 2}", "t": 20.0 + i} for i in range(4)]
    assert status["sink_rest_0_0_records_out_total"] == 4


def test_list_bodies_text_and_form(target: Target, root: Path) -> None:
    ex = file_rule(root, [
        {"rest": {"url": target.url + "/list", "method": "put"}},
        {"rest": {"url": target.url + "/text", "bodyType": "text", "sendSingle": True,
                  "dataTemplate": "insert into t values ({{.id}}, {{.temperature}})"}},
        {"rest": {"url": target.url + "/form", "bodyType": "form", "sendSingle": True,
                  "fields": ["id", "deviceId"]}},
    ])
    run_paths([str(ex)], str(root))
    by_path: dict[str, list[Request]] = {}
    for r in target.received():
        by_path.setdefault(r.path, []).append(r)
    lists = by_path["/list"]
    assert all(r.method == "PUT" for r in lists)
    assert [orjson.loads(r.body) for r in lists] == [[e] for e in EVENTS]  # one list per result
    texts = by_path["/text"]
    assert [r.body.decode() for r in texts] == [f"insert into t values ({i}, {20 + i})"
                                                for i in range(4)]
    assert texts[0].headers["Content-Type"] == "text/plain"
    forms = by_path["/form"]
    assert [r.body.decode() for r in forms] == [f"id={i}&deviceId=dev{i % 2}" for i in range(4)]
    assert forms[0].headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_status_codes_4xx_dropped_5xx_recoverable(target: Target, root: Path) -> None:
    target.responder = lambda r: (400, "bad") if r.path == "/bad" else (503, "busy")
    ex = file_rule(root, [{"rest": {"url": target.url + "/bad", "sendSingle": True}},
                          {"rest": {"url": target.url + "/busy", "sendSingle": True,
                                    "retryCount": 1, "retryInterval": 1}}])
    status = run_paths([str(ex)], str(root))["r"]
    paths = Counter(r.path for r in target.received())
    assert paths["/bad"] == 4  # not retried
    assert paths["/busy"] == 8  # each retried once
    assert status["sink_rest_0_0_exceptions_total"] == 4
    assert status["sink_rest_1_0_exceptions_total"] == 8
    assert "response code error: 400" in status["sink_rest_0_0_last_exception"]
    assert "io error" in status["sink_rest_1_0_last_exception"]
    assert status["sink_rest_0_0_records_out_total"] == 0


async def start_rules(paths: list[Path], root: Path, clock: ManualClock) -> list[RuleRunner]:
    runners = build_runners([str(p) for p in paths], str(root), clock)
    for r in runners:
        await r.start()
        assert r.topology is not None
        for node in r.topology.sinks:
            node.clock = clock  # the topology builds sink nodes on the system clock
    return runners


def test_batch_size_and_linger_interval(target: Target, root: Path) -> None:
    clock = ManualClock(1_000_000)
    ex = memory_rule(root, "in/batch", [{"rest": {"url": target.url + "/b", "batchSize": 3,
                                                  "lingerInterval": 500}}])

    async def main() -> None:
        (runner,) = await start_rules([ex], root, clock)
        await subscribed("in/batch")
        BUS.publish("in/batch", [{"n": i} for i in range(7)])
        await until(lambda: len(target.received()) == 2)
        assert len(target.received()) == 2
        clock.advance(500)
        await until(lambda: len(target.received()) == 3)
        await runner.stop()

    run(main())
    assert [[x["n"] for x in orjson.loads(r.body)] for r in target.received()] == [
        [0, 1, 2], [3, 4, 5], [6]]


async def subscribed(topic: str) -> None:
    """Wait until the rule's memory source listens on `topic` (an empty publish is a no-op)."""
    await until(lambda: BUS.publish(topic, []) > 0)


def test_target_down_mid_stream_nothing_lost(target: Target, root: Path) -> None:
    """QoS 1 end to end: the target stops for a while, results produced meanwhile are cached
    (memory, then disk pages) and all arrive when it is back; duplicates are allowed and
    counted."""
    clock = ManualClock(1_000_000)
    ex = memory_rule(root, "in/fault", [{"rest": {
        "url": target.url + "/ingest", "sendSingle": True, "enableCache": True,
        "memoryCacheThreshold": 5, "bufferPageSize": 4, "retryInterval": 200, "timeout": 2000}}])
    total = 60

    async def main() -> dict[str, Any]:
        (runner,) = await start_rules([ex], root, clock)
        node = runner.topology.sinks[0]
        await subscribed("in/fault")
        BUS.publish("in/fault", [{"id": i} for i in range(20)])
        await until(lambda: len(target.received()) >= 20)
        target.stop()  # the target goes down mid-stream
        BUS.publish("in/fault", [{"id": i} for i in range(20, 50)])
        await until(lambda: node.cache is not None and len(node.cache) == 30)
        assert node.cache.disk_count > 0  # past memoryCacheThreshold: pages on disk
        assert (root / "data" / "cache.db").exists()
        target.start()  # back on the same port
        await until(lambda: len(node.cache) == 0, tick=lambda: clock.advance(200))
        BUS.publish("in/fault", [{"id": i} for i in range(50, total)])
        await until(lambda: len({orjson.loads(r.body)["id"] for r in target.received()}) == total)
        m = runner.metrics()
        await runner.stop()
        return m

    m = run(main())
    ids = [orjson.loads(r.body)["id"] for r in target.received()]
    counts = Counter(ids)
    duplicates = sum(c - 1 for c in counts.values())
    assert set(counts) == set(range(total)), "a result was lost"
    assert duplicates == len(ids) - total
    first = {i: ids.index(i) for i in range(total)}
    assert sorted(first, key=first.get) == list(range(total)), "resent out of order"
    assert m["sink_rest_0_0_records_out_total"] >= total
    assert m["sink_rest_0_0_exceptions_total"] >= 1
    print(f"fault test: {len(ids)} requests for {total} results, {duplicates} duplicate(s)")
