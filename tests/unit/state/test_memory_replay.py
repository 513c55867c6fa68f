"""A memory-source window rule restarted in the same process from its checkpoint: the window
rows come back from the checkpoint, the publishes after it from the bus's history, and the
file sink resumes at the checkpoint's size: the results of an uninterrupted run, once."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import kuiper.io  # noqa: F401  (registers the built-in connectors)
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.io.pubsub import BUS
from kuiper.planner import plan_rule
from kuiper.runtime.loop import run
from kuiper.runtime.rule import RuleRunner
from kuiper.sql import parse
from kuiper.state import checkpoint
from kuiper.state.kv import SqliteKV

TOPIC = "ckpt/replay/m"


async def _until(cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_memory_window_rule_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    cat = Catalog()
    cat.add_stream(parse(f'CREATE STREAM m (v bigint) WITH (TYPE="memory", '
                         f'DATASOURCE="{TOPIC}", FORMAT="json")').definition)
    out = tmp_path / "out.lines"
    rule = RuleDef.from_json({
        "id": "memck", "sql": "SELECT count(*) AS c, sum(v) AS s FROM m GROUP BY COUNTWINDOW(4)",
        "options": {"qos": 1, "checkpointInterval": 20},
        "actions": [{"file": {"path": str(out), "sendSingle": True}}]})
    checkpoint.forget("memck", tmp_path)
    store = SqliteKV(tmp_path / "kv.db")

    def publish(values: range) -> None:
        for v in values:
            BUS.publish(TOPIC, [{"v": v}])

    async def main() -> None:
        runner = RuleRunner(plan_rule(rule, cat), str(tmp_path), store=store)
        await runner.start()
        await _until(lambda: BUS.publish(TOPIC, []) > 0)
        publish(range(6))  # one window out, rows 4 and 5 wait in the next
        cp = runner.checkpointer
        assert cp is not None
        await _until(lambda: cp.offsets.get("m") == BUS.seq and bool(cp.op_state))
        publish(range(6, 7))  # processed after the checkpoint, then the rule stops
        await _until(lambda: runner.metrics()["source_m_0_records_in_total"] >= 7)
        await runner.stop()
        publish(range(7, 10))  # while the rule is down
        await runner.start()  # restores rows 4, 5; replays 6..9 from the bus
        await _until(lambda: BUS.publish(TOPIC, []) > 0)
        publish(range(10, 12))
        await _until(lambda: out.exists() and len(out.read_text().splitlines()) >= 3)
        await runner.stop()

    run(main())
    store.close()
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows == [{"c": 4, "s": 6}, {"c": 4, "s": 22}, {"c": 4, "s": 38}]
