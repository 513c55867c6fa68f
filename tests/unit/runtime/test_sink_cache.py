"""The sink pipeline: the failure cache (memory + SQLite pages), resending, retries, and the
common sink properties around it (dataTemplate, fields after it, dynamic props, batchSize +
lingerInterval) through a real rule with in-process sinks."""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from runtime_helpers import CONTEXTS, RESULTS, MapOp, make_plan, stream, wait_until

from kuiper.api import Context, Sink
from kuiper.errors import ConnectorError, KuiperError
from kuiper.runtime.clock import ManualClock
from kuiper.runtime.loop import run
from kuiper.runtime.registry import register_sink
from kuiper.runtime.rule import RuleRunner
from kuiper.runtime.sink_cache import CacheConf, SinkCache, decode_page, encode_page


@pytest.fixture(autouse=True)
def _clean():
    RESULTS.clear()
    CONTEXTS.clear()
    FLAKY.update(down=False, calls=0, reject=set())


# --- SinkCache -----------------------------------------------------------------------------------
def make_cache(tmp_path: Path, **conf: Any) -> SinkCache:
    c = SinkCache(str(tmp_path / "data" / "cache.db"), "cache_r1__rest_0", CacheConf(**conf))
    c.open()
    return c


def drain(c: SinkCache) -> list[Any]:
    out = []
    while (e := c.peek()) is not None:
        out.append(e[0])
        c.pop()
    return out


def test_memory_then_disk_pages_keep_fifo_order(tmp_path: Path) -> None:
    c = make_cache(tmp_path, memory_threshold=3, page_size=2)
    for i in range(10):
        c.add(({"i": i}, None))
    assert len(c) == 10
    assert len(c.memory) == 3 and c.disk_count == 6 and len(c.write_page) == 1
    assert [m["i"] for m in drain(c)] == list(range(10))
    assert len(c) == 0
    c.close()


def test_new_messages_queue_behind_the_disk(tmp_path: Path) -> None:
    c = make_cache(tmp_path, memory_threshold=2, page_size=2)
    for i in range(6):
        c.add((i, None))
    assert [drain_one(c) for _ in range(3)] == [0, 1, 2]  # memory empties, a page loads
    c.add((6, None))  # memory has room, but older messages are on disk: it goes to the tail
    assert drain(c) == [3, 4, 5, 6]
    c.close()


def drain_one(c: SinkCache) -> Any:
    e = c.peek()
    c.pop()
    return e[0] if e else None


def test_close_keeps_everything_for_the_next_start(tmp_path: Path) -> None:
    c = make_cache(tmp_path, memory_threshold=3, page_size=2)
    for i in range(8):
        c.add((b"payload-%d" % i, {"url": f"u{i}"}))
    drain_one(c)
    c.close()
    again = make_cache(tmp_path, memory_threshold=3, page_size=2)
    assert len(again) == 7
    first = again.peek()
    assert first == (b"payload-1", {"url": "u1"})
    assert [d for d in drain(again)] == [b"payload-%d" % i for i in range(1, 8)]
    again.close()
    db = sqlite3.connect(tmp_path / "data" / "cache.db")
    assert db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall() == []


def test_clean_cache_at_stop_drops_the_table(tmp_path: Path) -> None:
    c = make_cache(tmp_path, memory_threshold=1, page_size=1, clean_at_stop=True)
    for i in range(4):
        c.add((i, None))
    c.close()
    again = make_cache(tmp_path)
    assert len(again) == 0
    again.close()


def test_full_disk_drops_the_oldest(tmp_path: Path) -> None:
    c = make_cache(tmp_path, memory_threshold=2, page_size=2, max_disk=4)
    for i in range(12):
        c.add((i, None))
    kept = drain(c)
    assert c.dropped == 12 - len(kept) > 0
    assert kept == sorted(kept) and kept[-1] == 11  # the newest survive, still in order
    c.close()


def test_no_disk_keeps_the_newest_in_memory(tmp_path: Path) -> None:
    c = make_cache(tmp_path, memory_threshold=3, max_disk=0)
    for i in range(5):
        c.add((i, None))
    assert drain(c) == [2, 3, 4] and c.dropped == 2
    c.close()


def test_page_codec_round_trip() -> None:
    entries = [(b"\x00\xffbin", None), ({"a": [1, 2.5, None]}, {"h": {"X": "1"}}), ("text", {})]
    assert decode_page(encode_page(entries)) == entries


# --- the sink pipeline in a rule -----------------------------------------------------------
FLAKY: dict[str, Any] = {"down": False, "calls": 0, "reject": set()}


@register_sink("test_flaky")
class FlakySink(Sink):
    """Raises ConnectorError while FLAKY['down']; a plain error for ids in FLAKY['reject']."""

    def configure(self, conf: dict[str, Any]) -> None:
        self.key = conf.get("key", "flaky")

    async def collect(self, ctx: Context, data: Any) -> None:
        FLAKY["calls"] += 1
        await asyncio.sleep(0)
        if FLAKY["down"]:
            raise ConnectorError("io error: target down")
        if isinstance(data, dict) and data.get("id") in FLAKY["reject"]:
            raise KuiperError("bad request")
        RESULTS[self.key].append((data, dict(getattr(ctx, "dynamic_props", {}))))


def push_plan(actions: list[dict[str, Any]], rule_id: str = "r1") -> Any:
    return make_plan(stream(source_type="test_push", datasource="p"), [MapOp()], actions,
                     rule_id=rule_id)


async def start(plan: Any, root: Path, clock: ManualClock) -> RuleRunner:
    runner = RuleRunner(plan, str(root), clock=clock)
    await runner.start()
    assert runner.topology is not None
    for node in runner.topology.sinks:  # the topology builds sink nodes on the system clock
        node.clock = clock
    await wait_until(lambda: "p" in CONTEXTS)
    return runner


def emit(*ids: int) -> None:
    for i in ids:
        CONTEXTS["p"].emit({"id": i, "dev": f"d{i % 2}"})


def ids_of(key: str) -> list[int]:
    return [d["id"] for d, _ in RESULTS[key]]


def test_enable_cache_delivers_what_failed_in_order(tmp_path: Path) -> None:
    clock = ManualClock()
    plan = push_plan([{"test_flaky": {"key": "out", "sendSingle": True, "enableCache": True,
                                      "memoryCacheThreshold": 2, "bufferPageSize": 2,
                                      "retryInterval": 100}}])

    async def main() -> dict[str, Any]:
        runner = await start(plan, tmp_path, clock)
        emit(0, 1)
        await wait_until(lambda: ids_of("out") == [0, 1])
        FLAKY["down"] = True
        emit(*range(2, 12))
        node = runner.topology.sinks[0]
        await wait_until(lambda: node.cache is not None and len(node.cache) == 10)
        assert node.cache.disk_count > 0  # past memoryCacheThreshold: on disk
        FLAKY["down"] = False
        # once the resender waits for its next probe, the probe succeeds and the cache drains
        await wait_until(lambda: clock.sleepers > 0)
        clock.advance(100)
        await wait_until(lambda: len(ids_of("out")) == 12)
        emit(12)
        await wait_until(lambda: len(ids_of("out")) == 13)
        m = runner.metrics()
        await runner.stop()
        return m

    m = run(main())
    assert ids_of("out") == list(range(13))
    assert m["sink_test_flaky_0_0_records_out_total"] == 13
    assert m["sink_test_flaky_0_0_exceptions_total"] >= 1


def test_cache_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    plan = push_plan([{"test_flaky": {"key": "out", "sendSingle": True, "enableCache": True}}])

    async def first() -> None:
        runner = await start(plan, tmp_path, clock)
        FLAKY["down"] = True
        emit(1, 2, 3)
        node = runner.topology.sinks[0]
        await wait_until(lambda: len(node.cache) == 3)
        await runner.stop()

    async def second() -> None:
        CONTEXTS.clear()
        runner = await start(plan, tmp_path, clock)
        await wait_until(lambda: len(ids_of("out")) == 3)
        await runner.stop()

    run(first())
    assert (tmp_path / "data" / "cache.db").exists()
    FLAKY["down"] = False
    run(second())
    assert ids_of("out") == [1, 2, 3]


def test_without_cache_a_recoverable_failure_is_retried_then_counted(tmp_path: Path) -> None:
    clock = ManualClock()
    plan = push_plan([{"test_flaky": {"key": "out", "sendSingle": True, "retryCount": 2,
                                      "retryInterval": 50}}])

    async def main() -> dict[str, Any]:
        runner = await start(plan, tmp_path, clock)
        FLAKY["down"] = True
        emit(1)
        await wait_until(lambda: FLAKY["calls"] == 1)
        clock.advance(50)
        await wait_until(lambda: FLAKY["calls"] == 2)
        FLAKY["down"] = False  # the second retry succeeds
        clock.advance(50)
        await wait_until(lambda: ids_of("out") == [1])
        FLAKY["reject"].add(2)  # a non-recoverable error: dropped at once, no retry
        emit(2, 3)
        await wait_until(lambda: ids_of("out") == [1, 3])
        m = runner.metrics()
        await runner.stop()
        return m

    m = run(main())
    assert FLAKY["calls"] == 5
    assert m["sink_test_flaky_0_0_exceptions_total"] == 3


def test_data_template_fields_and_dynamic_props(tmp_path: Path) -> None:
    clock = ManualClock()
    plan = push_plan([
        {"test_flaky": {"key": "single", "sendSingle": True, "url": "http://h/{{.dev}}",
                        "headers": {"X-Id": "{{.id}}", "Fixed": "f"},
                        "dataTemplate": '{"n": {{.id}}, "dev": "{{.dev}}", "x": 1}',
                        "fields": ["n", "dev"]}},
        {"test_flaky": {"key": "list", "topic": "t/{{index . 0 \"dev\"}}",
                        "dataTemplate": "{{range .}}{{.id}};{{end}}"}},
    ])

    async def main() -> None:
        runner = await start(plan, tmp_path, clock)
        emit(1, 2)
        await wait_until(lambda: len(RESULTS["single"]) == 2 and len(RESULTS["list"]) == 2)
        await runner.stop()

    run(main())
    assert RESULTS["single"] == [
        ({"n": 1, "dev": "d1"}, {"url": "http://h/d1", "headers": {"X-Id": "1", "Fixed": "f"}}),
        ({"n": 2, "dev": "d0"}, {"url": "http://h/d0", "headers": {"X-Id": "2", "Fixed": "f"}}),
    ]
    assert RESULTS["list"] == [("1;", {"topic": "t/d1"}), ("2;", {"topic": "t/d0"})]


def test_batch_size_and_linger_interval(tmp_path: Path) -> None:
    clock = ManualClock()
    plan = push_plan([{"test_flaky": {"key": "out", "batchSize": 3, "lingerInterval": 1000}}])

    async def main() -> None:
        runner = await start(plan, tmp_path, clock)
        emit(*range(7))
        await wait_until(lambda: len(RESULTS["out"]) == 2)  # two full batches at once
        await asyncio.sleep(0.01)
        assert len(RESULTS["out"]) == 2  # the last row waits for the linger time
        clock.advance(999)
        await asyncio.sleep(0.01)
        assert len(RESULTS["out"]) == 2
        clock.advance(1)
        await wait_until(lambda: len(RESULTS["out"]) == 3)
        await runner.stop()

    run(main())
    assert [[r["id"] for r in d] for d, _ in RESULTS["out"]] == [[0, 1, 2], [3, 4, 5], [6]]


def test_end_of_input_flushes_batched_rows_and_global_cache_defaults(tmp_path: Path) -> None:
    from runtime_helpers import SOURCE_DATA

    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "kuiper.yaml").write_text(
        "sink:\n  enableCache: true\n  memoryCacheThreshold: 7\n")
    SOURCE_DATA["b"] = [{"id": i} for i in range(7)]
    plan = make_plan(stream(datasource="b"), [MapOp()],
                     [{"test_flaky": {"key": "out", "batchSize": 3}}])

    async def main() -> Any:
        runner = RuleRunner(plan, str(tmp_path))
        await runner.start()
        node = runner.topology.sinks[0]
        assert await runner.wait(5)
        return node

    node = run(main())
    assert [[r["id"] for r in d] for d, _ in RESULTS["out"]] == [[0, 1, 2], [3, 4, 5], [6]]
    assert node.props.cache == CacheConf(memory_threshold=7)  # from etc/kuiper.yaml
