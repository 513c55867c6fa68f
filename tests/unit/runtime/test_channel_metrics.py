"""Channel capacity/drop accounting, clocks and metric keys."""
from __future__ import annotations

import asyncio

from kuiper.api import Batch, Column
from kuiper.runtime.channel import Channel, EndOfInput
from kuiper.runtime.clock import ManualClock
from kuiper.runtime.loop import run
from kuiper.runtime.metrics import NodeMetrics, RuleStatus
from kuiper.runtime.options import DROP_OLDEST


def batch(n: int) -> Batch:
    return Batch({"a": Column.from_values(list(range(n)))}, n)


def test_drop_oldest_keeps_control_items_and_counts_rows():
    dropped = []

    async def main():
        ch = Channel(4, DROP_OLDEST, dropped.append)
        await ch.put(batch(3))
        ch.put_control(EndOfInput())
        await ch.put(batch(2))  # 3 < 4: accepted, now 5 rows
        await ch.put(batch(1))  # full: the oldest (3 rows) goes, the control item stays
        return [await ch.get() for _ in range(3)], ch.rows

    items, left = run(main())
    assert dropped == [3]
    assert isinstance(items[0], EndOfInput)
    assert [i.n for i in items[1:]] == [2, 1] and left == 0


def test_block_waits_for_room():
    async def main():
        ch = Channel(2)
        await ch.put(batch(2))
        put = asyncio.create_task(ch.put(batch(1)))
        await asyncio.sleep(0)
        assert not put.done()
        await ch.get()
        await asyncio.wait_for(put, 1)
        return ch.rows

    assert run(main()) == 1


def test_manual_clock_wakes_due_sleepers():
    clock = ManualClock(100)
    woke = []

    async def sleeper(s):
        await clock.sleep(s)
        woke.append(s)

    async def main():
        tasks = [asyncio.create_task(sleeper(s)) for s in (1.0, 2.0)]
        await asyncio.sleep(0)
        clock.advance(1000)
        await asyncio.sleep(0)
        assert woke == [1.0] and clock.now_ms() == 1100
        clock.advance(1000)
        await asyncio.gather(*tasks)

    run(main())
    assert woke == [1.0, 2.0]


def test_metric_keys_and_status_shape():
    src = NodeMetrics("source", "demo")
    op = NodeMetrics("op", "2_filter")
    sink = NodeMetrics("sink", "log_0", track_drops=True)
    src.records_in_total = 5
    op.exception(ValueError("boom"))
    doc = RuleStatus("running", [src, op, sink], last_start_ms=7).to_json()
    assert list(doc)[:6] == ["status", "message", "lastStartTimestamp", "lastStopTimestamp",
                             "nextStartTimestamp", "nextStopTimestamp"]
    assert doc["source_demo_0_records_in_total"] == 5
    assert doc["op_2_filter_0_exceptions_total"] == 1
    assert doc["op_2_filter_0_last_exception"] == "boom"
    assert doc["sink_log_0_0_dropped_total"] == 0
    assert "source_demo_0_dropped_total" not in doc
