"""Shared sources: many rules on one stream share one connector and decoder, and each rule's
results equal what the rule produces alone."""
from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest
from runtime_helpers import RESULTS, wait_until

from kuiper import planner, sql
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.io.pubsub import BUS
from kuiper.runtime.loop import run
from kuiper.runtime.rule import RuleRunner
from kuiper.runtime.shared_source import SourceTap, condition_key, shared_sources

COLUMNS = "(deviceId string, temperature float, humidity bigint, ts bigint)"


@pytest.fixture(autouse=True)
def _clean():
    RESULTS.clear()


def varied_sql(k: int) -> str:
    """50 different rules: thresholds, string tests, arithmetic, functions, `*`, row errors."""
    shapes = [
        f"SELECT deviceId, temperature FROM demo WHERE temperature > {k % 40}",
        f"SELECT deviceId, humidity AS h FROM demo WHERE humidity < {k * 2}",
        f"SELECT temperature * 1.8 + 32 AS tf, ts FROM demo WHERE deviceId = 'dev-{k % 7}'",
        f"SELECT * FROM demo WHERE humidity >= {k} AND temperature < {10 + k % 30}",
        f"SELECT upper(deviceId) AS d, humidity FROM demo WHERE deviceId IN ('dev-1', 'dev-{k % 5}')",
        f"SELECT ts, humidity / (humidity - {k}) AS r FROM demo WHERE temperature BETWEEN {k % 20} AND {20 + k % 20}",
        f"SELECT deviceId FROM demo WHERE deviceId LIKE 'dev-{k % 3}%' OR humidity > {90 - k}",
        "SELECT CASE WHEN temperature > 20 THEN 'hot' ELSE 'cold' END AS c, abs(humidity - 50) AS x "
        f"FROM demo WHERE ts % {k + 2} = 0",
        f"SELECT count(*) AS n FROM demo GROUP BY TUMBLINGWINDOW(ss, 1) HAVING count(*) > {k}",
        f"SELECT deviceId, temperature FROM demo WHERE NOT (temperature > {k % 35})",
    ]
    return shapes[k % len(shapes)]


def write_events(path: Path, n: int) -> None:
    rnd = random.Random(7)
    with path.open("w") as f:
        for i in range(n):
            row: dict[str, Any] = {"deviceId": f"dev-{rnd.randrange(8)}",
                                   "temperature": round(rnd.uniform(0, 40), 1),
                                   "humidity": rnd.randrange(101), "ts": i}
            if i % 97 == 0:
                row["humidity"] = None  # some nulls
            f.write(json.dumps(row) + "\n")


def plan_of(catalog: Catalog, rule_id: str, query: str, options: dict[str, Any] | None = None):
    rule = RuleDef.from_json({"id": rule_id, "sql": query, "options": options or {},
                              "actions": [{"test_collect": {"key": rule_id}}]})
    return planner.plan_rule(rule, catalog)


def catalog_with(statement: str) -> Catalog:
    catalog = Catalog()
    catalog.add_stream(sql.parse(statement).definition)
    return catalog


def flat(messages: list[Any]) -> list[Any]:
    out: list[Any] = []
    for m in messages:
        out.extend(m if isinstance(m, list) else [m])
    return out


def test_fifty_rules_on_one_file_each_equal_to_the_rule_alone(tmp_path):
    data = tmp_path / "events.jsonl"
    write_events(data, 3000)
    catalog = catalog_with(f'CREATE STREAM demo {COLUMNS} WITH (DATASOURCE="{data}", '
                           'TYPE="file", FORMAT="json")')
    opts = {"maxBatchSize": 500}  # several hand-offs
    queries = [varied_sql(k) for k in range(50)]

    async def together() -> list[RuleRunner]:
        runners = [RuleRunner(plan_of(catalog, f"s{k}", q, opts), str(tmp_path))
                   for k, q in enumerate(queries)]
        with shared_sources().hold():
            for r in runners:
                await r.start()
        assert len(shared_sources().by_key) == 1
        (shared,) = shared_sources().by_key.values()
        assert shared.subscribers == 50
        for r in runners:
            assert await r.wait(20)
        assert not shared_sources().by_key  # the last rule leaving closed the connector
        return runners

    async def alone(k: int, query: str) -> None:
        runner = RuleRunner(plan_of(catalog, f"a{k}", query, {**opts, "sharedSource": False}),
                            str(tmp_path))
        await runner.start()
        assert not isinstance(runner.topology.sources[0], SourceTap)
        assert await runner.wait(20)

    runners = run(together())
    for k, q in enumerate(queries):
        run(alone(k, q))
    fused = sum(r.topology.fused for r in runners)
    assert fused >= 40  # the windowed rules keep their operator tasks
    for k in range(50):
        assert flat(RESULTS[f"s{k}"]) == flat(RESULTS[f"a{k}"]), varied_sql(k)
    assert sum(len(flat(RESULTS[f"s{k}"])) for k in range(50)) > 10_000
    # the row errors (division by zero) are counted per rule as when it runs alone
    errs = runners[5].metrics()["op_3_project_0_exceptions_total"]
    assert errs > 0


def test_live_rules_join_and_leave_without_disturbing_the_others(tmp_path):
    topic = f"fan/{tmp_path.name}"
    catalog = catalog_with(f'CREATE STREAM demo () WITH (DATASOURCE="{topic}", TYPE="memory")')

    async def main() -> None:
        ra = RuleRunner(plan_of(catalog, "ra", "SELECT a FROM demo WHERE a > 0"), str(tmp_path))
        rb = RuleRunner(plan_of(catalog, "rb", "SELECT a FROM demo"), str(tmp_path))
        await ra.start()
        await rb.start()
        shared = ra.topology.sources[0].shared
        assert rb.topology.sources[0].shared is shared
        await wait_until(lambda: shared.opened and BUS._subs)
        await asyncio.sleep(0.05)
        BUS.publish(topic, [{"a": i, "b": 10 * i} for i in range(4)])
        await wait_until(lambda: len(flat(RESULTS["rb"])) == 4 and len(flat(RESULTS["ra"])) == 3)
        await ra.stop()  # one rule stops: the source goes on for the other
        BUS.publish(topic, [{"a": 4, "b": 40}])
        await wait_until(lambda: len(flat(RESULTS["rb"])) == 5)
        # a later rule reading a column nobody decoded yet: the shared decoder widens
        rc = RuleRunner(plan_of(catalog, "rc", "SELECT b FROM demo"), str(tmp_path))
        await rc.start()
        assert rc.topology.sources[0].shared is shared
        BUS.publish(topic, [{"a": 5, "b": 50}])
        await wait_until(lambda: len(flat(RESULTS["rb"])) == 6 and RESULTS["rc"])
        assert shared.subscribers == 2
        await rb.stop()
        await rc.stop()
        assert shared.closed and not shared_sources().by_key
        assert ra.state == rb.state == rc.state == "stopped"

    run(main())
    assert flat(RESULTS["ra"]) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert flat(RESULTS["rb"]) == [{"a": i} for i in range(6)]
    assert flat(RESULTS["rc"]) == [{"b": 50}]  # only what came after it started


def test_idle_rules_cost_no_wakeups(tmp_path):
    topic = f"idle/{tmp_path.name}"
    catalog = catalog_with(f'CREATE STREAM demo () WITH (DATASOURCE="{topic}", TYPE="memory")')

    async def main() -> int:
        runners = [RuleRunner(plan_of(catalog, f"i{k}", varied_sql(k)), str(tmp_path))
                   for k in range(50) if "WINDOW" not in varied_sql(k)]
        for r in runners:
            await r.start()
        await asyncio.sleep(0.1)  # every node is now waiting
        loop = asyncio.get_running_loop()
        iterations = 0
        original = loop._run_once  # type: ignore[attr-defined]

        def counting() -> None:
            nonlocal iterations
            iterations += 1
            original()

        loop._run_once = counting  # type: ignore[attr-defined]
        try:
            await asyncio.sleep(0.5)
        finally:
            del loop._run_once  # type: ignore[attr-defined]
        BUS.publish(topic, [{"deviceId": "dev-1", "temperature": 30.5, "humidity": 70, "ts": 2}])
        await wait_until(lambda: RESULTS)
        for r in runners:
            await r.stop()
        return iterations

    # on asyncio's own loop (its iterations can be counted): the sleep of this test itself
    # takes a few loop iterations, the 45 idle rules none
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        assert runner.run(main()) <= 3


def test_opting_out_and_rules_that_never_share(tmp_path):
    topic = f"opt/{tmp_path.name}"
    shared = catalog_with(f'CREATE STREAM demo () WITH (DATASOURCE="{topic}", TYPE="memory")')
    unshared = catalog_with(f'CREATE STREAM demo () WITH (DATASOURCE="{topic}", TYPE="memory", '
                            'SHARED="false")')

    async def main() -> list[bool]:
        runners = [
            RuleRunner(plan_of(shared, "o1", "SELECT a FROM demo"), str(tmp_path)),
            RuleRunner(plan_of(unshared, "o2", "SELECT a FROM demo"), str(tmp_path)),
            RuleRunner(plan_of(shared, "o3", "SELECT a FROM demo", {"sharedSource": False}),
                       str(tmp_path)),
            RuleRunner(plan_of(shared, "o4", "SELECT a FROM demo", {"qos": 1}), str(tmp_path)),
        ]
        for r in runners:
            await r.start()
        kinds = [isinstance(r.topology.sources[0], SourceTap) for r in runners]
        await wait_until(lambda: len(BUS._subs) >= 4)
        BUS.publish(topic, [{"a": 1}])
        await wait_until(lambda: all(RESULTS[f"o{i}"] for i in range(1, 5)))
        for r in runners:
            await r.stop()
        return kinds

    assert run(main()) == [True, False, False, False]
    assert all(flat(RESULTS[f"o{i}"]) == [{"a": 1}] for i in range(1, 5))


def test_a_bounded_source_already_read_is_read_again_for_a_later_rule(tmp_path):
    data = tmp_path / "e.jsonl"
    write_events(data, 50)
    catalog = catalog_with(f'CREATE STREAM demo {COLUMNS} WITH (DATASOURCE="{data}", '
                           'TYPE="file", FORMAT="json")')

    async def main() -> None:
        first = RuleRunner(plan_of(catalog, "f1", "SELECT ts FROM demo"), str(tmp_path))
        await first.start()
        await wait_until(lambda: first.topology.sources[0].shared.opened)
        second = RuleRunner(plan_of(catalog, "f2", "SELECT ts FROM demo"), str(tmp_path))
        await second.start()
        assert second.topology.sources[0].shared is not first.topology.sources[0].shared
        assert await first.wait(10) and await second.wait(10)

    run(main())
    assert flat(RESULTS["f1"]) == flat(RESULTS["f2"]) == [{"ts": i} for i in range(50)]


def test_a_failing_plugin_fails_only_its_rule(tmp_path):
    from runtime_helpers import CONTEXTS, MapOp, make_plan, stream

    from kuiper.errors import PluginError

    def boom(batch):
        raise PluginError("plugin function f crashed")

    src = stream(source_type="test_push", datasource=f"p-{tmp_path.name}")
    good = make_plan(src, [MapOp()], [{"test_collect": {"key": "good"}}], rule_id="good")
    bad = make_plan(src, [MapOp(fn=boom)], [{"test_collect": {"key": "bad"}}], rule_id="bad")

    async def main() -> tuple[str, str]:
        rg, rb = RuleRunner(good, str(tmp_path)), RuleRunner(bad, str(tmp_path))
        await rg.start()
        await rb.start()
        assert rg.topology.fused and rb.topology.fused
        await wait_until(lambda: src.datasource in CONTEXTS)
        CONTEXTS[src.datasource].emit({"a": 1})
        await wait_until(lambda: rb.state == "error")
        CONTEXTS[src.datasource].emit({"a": 2})
        await wait_until(lambda: len(flat(RESULTS["good"])) == 2)
        state = rg.state
        message = rb.status().message
        await rg.stop()
        return state, message

    state, message = run(main())
    assert state == "running"
    assert message == "op 2_project: plugin function f crashed"
    assert not RESULTS["bad"]


def test_rules_with_one_condition_share_its_mask_and_each_count_their_row_errors(tmp_path):
    data = tmp_path / "events.jsonl"
    write_events(data, 1200)
    catalog = catalog_with(f'CREATE STREAM demo {COLUMNS} WITH (DATASOURCE="{data}", '
                           'TYPE="file", FORMAT="json")')
    opts = {"maxBatchSize": 300}
    queries = [
        "SELECT deviceId FROM demo WHERE temperature > 20",
        "SELECT humidity, ts FROM demo WHERE temperature > 20",
        "SELECT * FROM demo WHERE temperature > 20.0",  # a float constant: its own key
        "SELECT ts FROM demo WHERE humidity / (humidity - 50) > 0",  # row errors
        "SELECT deviceId, ts FROM demo WHERE humidity / (humidity - 50) > 0",
    ]
    keys = [condition_key(plan_of(catalog, "k", q).operators[0].condition) for q in queries]
    assert keys[0] == keys[1] != keys[2] and keys[3] == keys[4] is not None

    async def together() -> list[RuleRunner]:
        runners = [RuleRunner(plan_of(catalog, f"m{k}", q, opts), str(tmp_path))
                   for k, q in enumerate(queries)]
        with shared_sources().hold():
            for r in runners:
                await r.start()
        for r in runners:
            assert await r.wait(20)
        return runners

    async def alone(k: int, query: str) -> RuleRunner:
        runner = RuleRunner(plan_of(catalog, f"n{k}", query, {**opts, "sharedSource": False}),
                            str(tmp_path))
        await runner.start()
        assert await runner.wait(20)
        return runner

    runners = run(together())
    assert all(r.topology.fused for r in runners)
    for k, q in enumerate(queries):
        single = run(alone(k, q))
        assert flat(RESULTS[f"m{k}"]) == flat(RESULTS[f"n{k}"]), q
        shared_m, alone_m = runners[k].metrics(), single.metrics()
        for name in ("op_2_filter_0_records_in_total", "op_2_filter_0_records_out_total",
                     "op_2_filter_0_exceptions_total"):
            assert shared_m[name] == alone_m[name], (q, name)
    assert runners[3].metrics()["op_2_filter_0_exceptions_total"] > 0
