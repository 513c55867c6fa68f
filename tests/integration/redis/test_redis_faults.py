"""Faults: a private redis-server stopped and started again under the sink and the lookup."""
from __future__ import annotations

import asyncio
import json

import pytest
import redis
from redis_support import BackgroundRules, runtime_has_sink_cache
from services import simulator_rule_files, wait_for

from kuiper.errors import ConnectorError
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
    total = 60
    paths = simulator_rule_files(tmp_path, total, {"redis": {
        "addr": f"127.0.0.1:{private_redis.port}", "field": "id", "sendSingle": True,
        "enableCache": True, "resendInterval": 0}})
    client = redis.Redis(port=private_redis.port)
    rules = BackgroundRules(paths, str(tmp_path))
    try:
        wait_for(lambda: client.dbsize() >= 5, 10, "the first deliveries")
        private_redis.stop()
        wait_for(lambda: rules.metric("_exceptions_total") >= 3, 10,
                 "deliveries to fail while Redis is down")
        private_redis.start()
        client = redis.Redis(port=private_redis.port)
        rules.join(60)
        wait_for(lambda: client.dbsize() >= total, 30, "every row to arrive")
    finally:
        rules.stop()
    stored = {json.loads(client.get(f"k{i:03d}"))["n"] for i in range(total)}
    assert stored == set(range(total))
