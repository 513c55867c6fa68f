"""RuleRunner end to end with hand-built plans: ordering, batching, back-pressure, EOF, errors."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
from runtime_helpers import CONTEXTS, RESULTS, SOURCE_DATA, MapOp, make_plan, stream, wait_until

from kuiper.api import Batch, Column
from kuiper.runtime.clock import ManualClock
from kuiper.runtime.loop import run
from kuiper.runtime.rule import RuleRunner


@pytest.fixture(autouse=True)
def _clean():
    RESULTS.clear()
    SOURCE_DATA.clear()
    CONTEXTS.clear()


def rows(n: int) -> list[dict]:
    return [{"a": i} for i in range(n)]


def test_bounded_rule_keeps_order_and_completes():
    SOURCE_DATA["d"] = rows(100)
    op = MapOp()
    plan = make_plan(stream(), [op], [{"test_collect": {"key": "out"}}])

    async def main():
        runner = RuleRunner(plan)
        await runner.start()
        assert await runner.wait(5)
        return runner

    runner = run(main())
    assert RESULTS["out"] == [[{"a": i}] for i in range(100)]
    assert op.finished
    status = runner.status().to_json()
    assert status["status"] == "stopped"
    assert status["source_demo_0_records_in_total"] == 100
    assert status["source_demo_0_records_out_total"] == 100
    assert status["op_2_project_0_records_in_total"] == 100
    assert status["op_2_project_0_records_out_total"] == 100
    assert status["sink_test_collect_0_0_records_in_total"] == 100
    assert status["sink_test_collect_0_0_records_out_total"] == 100
    assert status["sink_test_collect_0_0_exceptions_total"] == 0


def test_one_event_at_low_rate_flows_alone():
    op = MapOp()
    plan = make_plan(stream(source_type="test_push"), [op], [{"test_collect": {"key": "out"}}])

    async def main():
        runner = RuleRunner(plan)
        await runner.start()
        await wait_until(lambda: "d" in CONTEXTS)
        for i in range(3):
            CONTEXTS["d"].emit({"a": i})
            await wait_until(lambda i=i: len(RESULTS["out"]) == i + 1)
        await runner.stop()

    run(main())
    assert op.sizes == [1, 1, 1]
    assert RESULTS["out"] == [[{"a": 0}], [{"a": 1}], [{"a": 2}]]


@pytest.mark.parametrize(("max_batch", "expected"), [(8192, [8192, 1808]), (4000, [4000, 4000, 2000])])
def test_burst_flows_as_large_batches(max_batch, expected):
    op = MapOp()
    plan = make_plan(stream(source_type="test_push"), [op], [{"test_collect": {"key": "out"}}],
                     {"maxBatchSize": max_batch, "bufferLength": 100_000})

    async def main():
        runner = RuleRunner(plan)
        await runner.start()
        await wait_until(lambda: "d" in CONTEXTS)
        for i in range(10_000):  # a burst: nothing yields to the loop in between
            CONTEXTS["d"].emit({"a": i})
        await wait_until(lambda: len(RESULTS["out"]) == 10_000)
        await runner.stop()

    run(main())
    assert op.sizes == expected
    assert [m[0]["a"] for m in RESULTS["out"]] == list(range(10_000))


def test_slow_sink_blocks_the_source():
    gate = asyncio.Event()
    plan = make_plan(stream(source_type="test_push"), [MapOp()],
                     [{"test_collect": {"key": "out", "gate": gate}}],
                     {"bufferLength": 10, "maxBatchSize": 5})
    emitted = 0

    async def producer():
        nonlocal emitted
        ctx = CONTEXTS["d"]
        for i in range(2000):
            ctx.emit({"a": i})
            emitted += 1
            await ctx.drain()

    async def main():
        runner = RuleRunner(plan)
        await runner.start()
        await wait_until(lambda: "d" in CONTEXTS)
        task = asyncio.create_task(producer())
        for _ in range(200):
            await asyncio.sleep(0)
        stalled_at = emitted
        assert stalled_at < 100, "the source kept going while the sink was blocked"
        gate.set()
        await task
        await wait_until(lambda: len(RESULTS["out"]) == 2000)
        status = runner.status().to_json()
        await runner.stop()
        return status

    status = run(main())
    assert [m[0]["a"] for m in RESULTS["out"]] == list(range(2000))
    assert "sink_test_collect_0_0_dropped_total" not in status


def test_drop_oldest_counts_every_lost_row():
    gate = asyncio.Event()
    SOURCE_DATA["d"] = rows(3000)
    plan = make_plan(stream(), [MapOp()], [{"test_collect": {"key": "out", "gate": gate}}],
                     {"bufferLength": 10, "maxBatchSize": 5, "bufferFullPolicy": "dropOldest"})

    async def main():
        runner = RuleRunner(plan)
        await runner.start()
        await wait_until(lambda: runner.status().metrics()["source_demo_0_records_out_total"] == 3000)
        gate.set()
        assert await runner.wait(5)
        return runner.status().metrics()

    metrics = run(main())
    got = [m[0]["a"] for m in RESULTS["out"]]
    dropped = sum(v for k, v in metrics.items() if k.endswith("dropped_total"))
    assert dropped > 0
    assert len(got) + dropped == 3000
    assert got == sorted(got) and got[-1] == 2999
    assert metrics["sink_test_collect_0_0_records_out_total"] == len(got)


def test_finish_output_is_flushed_before_the_rule_ends():
    SOURCE_DATA["d"] = rows(3)

    class Holding(MapOp):
        def process(self, batch):
            self.sizes.append(batch.n)
            return None

        def finish(self):
            return Batch({"total": Column.from_values([sum(self.sizes)])}, 1)

    plan = make_plan(stream(), [Holding()], [{"test_collect": {"key": "out"}}])

    async def main():
        runner = RuleRunner(plan)
        await runner.start()
        assert await runner.wait(5)

    run(main())
    assert RESULTS["out"] == [[{"total": 3}]]


@pytest.mark.parametrize("send_error", [False, True])
def test_operator_error_is_counted_and_the_rule_goes_on(send_error):
    SOURCE_DATA["d"] = rows(5)

    def fail_on_3(batch):
        if 3 in batch.columns["a"].values.tolist():
            raise ValueError("bad row 3")
        return batch

    plan = make_plan(stream(), [MapOp(fn=fail_on_3)], [{"test_collect": {"key": "out"}}],
                     {"maxBatchSize": 1, "sendError": send_error})

    async def main():
        runner = RuleRunner(plan)
        await runner.start()
        assert await runner.wait(5)
        return runner.status().to_json()

    status = run(main())
    expected = [[{"a": 0}], [{"a": 1}], [{"a": 2}], [{"a": 4}]]
    if send_error:
        expected.insert(3, {"error": "bad row 3"})
    assert RESULTS["out"] == expected
    assert status["op_2_project_0_exceptions_total"] == 1
    assert status["op_2_project_0_last_exception"] == "bad row 3"
    assert status["op_2_project_0_last_exception_time"] != 0
    assert status["status"] == "stopped"


def test_two_sinks_each_get_every_result_and_metrics_keys():
    SOURCE_DATA["d"] = rows(4)
    plan = make_plan(stream(), [MapOp("2_filter", lambda b: b.filter(b.columns["a"].values % 2 == 0))],
                     [{"test_collect": {"key": "x"}}, {"nop": {}}])

    async def main():
        runner = RuleRunner(plan)
        await runner.start()
        assert await runner.wait(5)
        return runner.metrics()

    m = run(main())
    assert RESULTS["x"] == [[{"a": 0}], [{"a": 2}]]
    assert m["op_2_filter_0_records_in_total"] == 4
    assert m["op_2_filter_0_records_out_total"] == 2
    assert m["sink_nop_1_0_records_in_total"] == 2
    for key in ("process_latency_us", "buffer_length", "last_invocation", "last_exception",
                "last_exception_time", "exceptions_total"):
        assert f"source_demo_0_{key}" in m


def test_simulator_on_a_manual_clock():
    sim = stream(source_type="simulator")
    clock = ManualClock(1_000)
    plan = make_plan(sim, [MapOp()], [{"test_collect": {"key": "out"}}])
    data = [{"t": 1}, {"t": 2}, {"t": 3}]

    async def main():
        from kuiper.runtime import registry
        registry.set_conf_loader(lambda root, t, k: {"data": data, "interval": 1000, "loop": False})
        try:
            runner = RuleRunner(plan, clock=clock)
            await runner.start()
            await wait_until(lambda: len(RESULTS["out"]) == 1)
            await wait_until(lambda: clock.sleepers > 0)
            assert len(RESULTS["out"]) == 1
            clock.advance(1000)
            await wait_until(lambda: len(RESULTS["out"]) == 2)
            await wait_until(lambda: clock.sleepers > 0)
            clock.advance(1000)
            assert await runner.wait(5)
        finally:
            from kuiper.io.config import load_source_conf
            registry.set_conf_loader(load_source_conf)

    run(main())
    assert RESULTS["out"] == [[{"t": 1}], [{"t": 2}], [{"t": 3}]]


def test_event_time_without_windows_is_accepted():
    plan = make_plan(stream(), [MapOp()], [{"nop": {}}], {"isEventTime": True})
    assert RuleRunner(plan).options.is_event_time


def test_stop_an_unbounded_rule():
    plan = make_plan(stream(source_type="test_push"), [MapOp()], [{"test_collect": {"key": "o"}}])

    async def main():
        runner = RuleRunner(plan)
        await runner.start()
        assert runner.status().status == "running"
        await wait_until(lambda: "d" in CONTEXTS)
        assert not await runner.wait(0.01)
        await runner.stop()
        return runner.status()

    status = run(main())
    assert status.status == "stopped"
    assert status.last_stop_ms >= status.last_start_ms > 0


def test_declared_schema_converts_and_drops_bad_rows():
    from kuiper.catalog.defs import FieldDef

    SOURCE_DATA["d"] = [{"a": 1, "b": "x"}, {"a": "oops"}, {"a": 2, "extra": 1}]
    s = stream(fields=(FieldDef("a", "bigint"), FieldDef("b", "string")))
    plan = make_plan(s, [MapOp()], [{"test_collect": {"key": "out"}}], {"maxBatchSize": 10})

    async def main():
        runner = RuleRunner(plan)
        await runner.start()
        assert await runner.wait(5)
        return runner.metrics()

    m = run(main())
    assert RESULTS["out"] == [[{"a": 1, "b": "x"}], [{"a": 2}]]
    assert m["source_demo_0_exceptions_total"] == 1
    assert "field a type mismatch" in m["source_demo_0_last_exception"]
    assert m["source_demo_0_records_in_total"] == 3


def test_timestamps_come_from_the_clock():
    SOURCE_DATA["d"] = rows(2)
    seen = []
    plan = make_plan(stream(), [MapOp(fn=lambda b: seen.append(b.timestamps.copy()) or b)],
                     [{"nop": {}}])

    async def main():
        runner = RuleRunner(plan, clock=ManualClock(42))
        await runner.start()
        assert await runner.wait(5)

    run(main())
    assert np.concatenate(seen).tolist() == [42, 42]
