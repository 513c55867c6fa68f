"""Faults: a private redis-server stopped and started again under the sink and the lookup."""
from __future__ import annotations

import asyncio
import json

import pytest
import redis
from redis_support import BackgroundRules, runtime_has_sink_cache
from services import wait_for

from kuiper.errors import ConnectorError
from kuiper.io.pubsub import BUS
from kuiper.io.sinks.redis import RedisSink
from kuiper.io.sources.redis_lookup import RedisLookupSource
from kuiper.runtime.context import NodeContext


def test_sink_and_lookup_fail_recoverably_and_recover(private_redis):
    addr = f"127.0.0.1:{private_redis.port}"
    sink = RedisSink()
    sink.configure({"addr": addr, "field": "id"})
    table = RedisLookupSource()
    table.configure("0", {"addr": addr})
    ctx = NodeContext("fault", "redis")

    async def scenario() -> None:
        await sink.open(ctx)
        await table.open(ctx)
        await sink.collect(ctx, {"id": "a", "v": 1})
        assert await table.lookup(ctx, [], ["id"], ["a"]) == [{"id": "a", "v": 1}]
        private_redis.stop()
        with pytest.raises(ConnectorError, match="io error"):
            await sink.collect(ctx, {"id": "b", "v": 2})
        with pytest.raises(ConnectorError, match="io error"):
            await table.lookup(ctx, [], ["id"], ["a"])
        private_redis.start()
        await sink.collect(ctx, [{"id": "b", "v": 2}, {"id": "c", "v": 3}])
        assert await table.lookup_batch(ctx, ["v"], ["id"], [["a"], ["b"], ["c"]]) == \
            [[{"v": 1}], [{"v": 2}], [{"v": 3}]]
        await sink.close(ctx)
        await table.close(ctx)

    asyncio.run(scenario())


@pytest.mark.skipif(not runtime_has_sink_cache(), reason="the sink node has no enableCache yet")
def test_enable_cache_delivers_what_was_produced_while_redis_was_down(tmp_path, private_redis):
    """memory -> rule -> redis (enableCache): the test publishes the rows itself, so the outage
    is mid-stream whatever the machine's load, and every row arrives once Redis is back."""
    total, topic = 60, "redis/cached"
    (tmp_path / "streams.sql").write_text(
        f'CREATE STREAM mem () WITH (TYPE="memory", DATASOURCE="{topic}", FORMAT="json");\n')
    (tmp_path / "rule.json").write_text(json.dumps({
        "id": "cached", "sql": "SELECT id, n FROM mem", "actions": [{"redis": {
            "addr": f"127.0.0.1:{private_redis.port}", "field": "id", "sendSingle": True,
            "enableCache": True, "resendInterval": 0}}]}))
    paths = [str(tmp_path / "streams.sql"), str(tmp_path / "rule.json")]
    client = redis.Redis(port=private_redis.port)
    rules = BackgroundRules(paths, str(tmp_path))

    def publish(first: int, count: int) -> int:
        """Publish on the rules' loop (the bus is theirs); the number of subscribers."""
        async def on_loop() -> int:
            return BUS.publish(topic, [{"id": f"k{i:03d}", "n": i}
                                       for i in range(first, first + count)])
        return asyncio.run_coroutine_threadsafe(on_loop(), rules._loop).result(10)

    try:
        wait_for(lambda: publish(0, 0) > 0, 10, "the memory source to listen")
        publish(0, 5)
        wait_for(lambda: client.dbsize() >= 5, 10, "the first deliveries")
        private_redis.stop()
        publish(5, 30)  # produced while Redis is down
        wait_for(lambda: rules.metric("_exceptions_total") >= 3, 10,
                 "deliveries to fail while Redis is down")
        private_redis.start()
        client = redis.Redis(port=private_redis.port)
        publish(35, total - 35)
        wait_for(lambda: client.dbsize() >= total, 60, "every row to arrive")
    finally:
        rules.stop()
    stored = {json.loads(client.get(f"k{i:03d}"))["n"] for i in range(total)}
    assert stored == set(range(total))
