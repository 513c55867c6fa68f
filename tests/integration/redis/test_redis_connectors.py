"""The redis sink through rules (file source -> redis) and the redis lookup table."""
from __future__ import annotations

import asyncio
import json

import pytest
import redis
from services import rule_files

from kuiper.cli.run import run_paths
from kuiper.errors import ConfigError, KuiperError
from kuiper.io.sinks.redis import RedisSink
from kuiper.io.sources.redis_lookup import RedisLookupSource
from kuiper.runtime.context import NodeContext

ROWS = [{"id": f"d{i}", "temperature": 20 + i, "humidity": 50.5 + i} for i in range(5)]


def run(tmp_path, sql, action, rows=ROWS):
    status = run_paths(rule_files(tmp_path, rows, sql, [{"redis": action}]), str(tmp_path))["r1"]
    return status


def test_string_keyed_by_field(tmp_path, rdb, prefix):
    sql = f"SELECT concat('{prefix}', id) AS k, temperature, humidity FROM src"
    status = run(tmp_path, sql, {"addr": "127.0.0.1:6379", "field": "k"})
    assert status["sink_redis_0_0_records_out_total"] == 5
    for i in range(5):
        stored = json.loads(rdb.get(f"{prefix}d{i}"))
        assert stored == {"k": f"{prefix}d{i}", "temperature": 20 + i, "humidity": 50.5 + i}
        assert rdb.ttl(f"{prefix}d{i}") == -1


def test_fixed_key_list_and_expiration(tmp_path, rdb, prefix):
    run(tmp_path, "SELECT id FROM src", {"addr": "127.0.0.1:6379", "key": prefix + "list",
                                         "dataType": "list", "sendSingle": True})
    assert [json.loads(v)["id"] for v in rdb.lrange(prefix + "list", 0, -1)] == \
        ["d4", "d3", "d2", "d1", "d0"]  # LPUSH: newest first
    run(tmp_path, "SELECT id FROM src", {"addr": "127.0.0.1:6379", "key": prefix + "last",
                                         "expiration": 100})
    assert json.loads(rdb.get(prefix + "last")) == {"id": "d4"}
    assert 0 < rdb.ttl(prefix + "last") <= 100


def test_multiple_keys(tmp_path, rdb, prefix):
    sql = (f"SELECT temperature AS `{prefix}t`, humidity AS `{prefix}h` FROM src "
           "WHERE id = 'd2'")
    run(tmp_path, sql, {"addr": "127.0.0.1:6379", "keyType": "multiple"})
    assert rdb.get(prefix + "t") == "22"
    assert rdb.get(prefix + "h") == "52.5"


def test_rowkind_upsert_and_delete(tmp_path, rdb, prefix):
    rows = [{"id": "a", "v": 1, "action": "insert"}, {"id": "b", "v": 2, "action": "upsert"},
            {"id": "a", "v": 3, "action": "update"}, {"id": "b", "action": "delete"},
            {"id": "c", "v": 4}]
    sql = f"SELECT concat('{prefix}', id) AS id, v, action FROM src"
    status = run(tmp_path, sql, {"addr": "127.0.0.1:6379", "field": "id",
                                 "rowkindField": "action", "sendSingle": True}, rows)
    assert status["sink_redis_0_0_exceptions_total"] == 0
    assert json.loads(rdb.get(prefix + "a")) == {"id": prefix + "a", "v": 3, "action": "update"}
    assert rdb.get(prefix + "b") is None
    assert json.loads(rdb.get(prefix + "c"))["v"] == 4


def test_rows_without_the_key_field_are_counted_not_written(tmp_path, rdb, prefix):
    rows = [{"id": prefix + "x", "v": 1}, {"v": 2}]
    status = run(tmp_path, "SELECT * FROM src", {"addr": "127.0.0.1:6379", "field": "id"}, rows)
    assert json.loads(rdb.get(prefix + "x"))["v"] == 1
    assert status["sink_redis_0_0_exceptions_total"] == 1


@pytest.mark.parametrize("conf, message", [
    ({}, "addr"),
    ({"addr": "127.0.0.1:6379"}, "'key' or 'field'"),
    ({"addr": "127.0.0.1:6379", "key": "k", "db": 16}, "0-15"),
    ({"addr": "127.0.0.1:6379", "key": "k", "dataType": "hash"}, "string or list"),
    ({"addr": "127.0.0.1:6379", "key": "k", "keyType": "many"}, "single or multiple"),
])
def test_sink_configuration_errors(conf, message):
    with pytest.raises(ConfigError, match=message):
        RedisSink().configure(conf)


# --- lookup table -----------------------------------------------------------------------
def lookup_source(datasource: str, **conf) -> RedisLookupSource:
    src = RedisLookupSource()
    src.configure(datasource, {"addr": "127.0.0.1:6379", **conf})
    return src


async def _lookups(src: RedisLookupSource, calls):
    ctx = NodeContext("t", "lookup")
    await src.open(ctx)
    try:
        return [await call(src, ctx) for call in calls]
    finally:
        await src.close(ctx)


def test_lookup_string(rdb, prefix):
    db3 = redis.Redis(port=6379, db=3)
    db3.set(prefix + "1", json.dumps({"id": 1, "name": "pump", "limit": 30.5}))
    db3.set(prefix + "2", json.dumps({"id": 2, "name": "fan"}))
    src = lookup_source("3")
    one, names, batch, missing = asyncio.run(_lookups(src, [
        lambda s, c: s.lookup(c, [], ["id"], [prefix + "1"]),
        lambda s, c: s.lookup(c, ["name"], ["id"], [prefix + "2"]),
        lambda s, c: s.lookup_batch(c, [], ["id"], [[prefix + "2"], [None], [prefix + "9"],
                                                     [prefix + "1"]]),
        lambda s, c: s.lookup(c, [], ["id"], [prefix + "404"]),
    ]))
    assert one == [{"id": 1, "name": "pump", "limit": 30.5}]
    assert names == [{"name": "fan"}]
    assert [[r["id"] for r in rows] for rows in batch] == [[2], [], [], [1]]
    assert missing == []
    assert rdb.get(prefix + "1") is None  # db 3, not db 0


def test_lookup_list_and_bad_values(rdb, prefix):
    rdb.rpush(prefix + "L", json.dumps({"n": 1}), json.dumps({"n": 2}))
    rdb.set(prefix + "bad", "not json")
    src = lookup_source("0", datatype="list")
    (rows,) = asyncio.run(_lookups(src, [lambda s, c: s.lookup(c, [], ["k"], [prefix + "L"])]))
    assert rows == [{"n": 1}, {"n": 2}]
    with pytest.raises(KuiperError, match="not JSON"):
        asyncio.run(_lookups(lookup_source("0"), [
            lambda s, c: s.lookup(c, [], ["k"], [prefix + "bad"])]))
    with pytest.raises(KuiperError, match="one key"):
        asyncio.run(_lookups(lookup_source("0"), [
            lambda s, c: s.lookup(c, [], ["a", "b"], [1, 2])]))


def test_lookup_configuration_errors():
    with pytest.raises(ConfigError, match="database number"):
        RedisLookupSource().configure("users", {"addr": "127.0.0.1:6379"})
    with pytest.raises(ConfigError, match="string or list"):
        RedisLookupSource().configure("0", {"addr": "127.0.0.1:6379", "datatype": "set"})


def test_stream_joins_the_lookup_table_in_a_rule(tmp_path, prefix):
    db3 = redis.Redis(port=6379, db=3)
    for i in (1, 2):
        db3.set(f"{prefix}{i}", json.dumps({"id": f"{prefix}{i}", "name": f"dev{i}"}))
    rows = [{"dev": f"{prefix}{i % 3}", "v": i} for i in range(6)]
    paths = rule_files(tmp_path, rows, "SELECT src.v, t.name FROM src INNER JOIN t "
                       "ON src.dev = t.id", [{"file": {"path": str(tmp_path / "out.jsonl"),
                                                      "sendSingle": True}}])
    (tmp_path / "etc" / "sources" / "redis.yaml").write_text(
        "default:\n  addr: 127.0.0.1:6379\n  datatype: string\n")
    with open(paths[0], "a") as f:
        f.write('CREATE TABLE t () WITH (DATASOURCE="3", TYPE="redis", KIND="lookup");\n')
    status = run_paths(paths, str(tmp_path))["r1"]
    assert status["status"] == "stopped", status
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out == [{"v": 1, "name": "dev1"}, {"v": 2, "name": "dev2"},
                   {"v": 4, "name": "dev1"}, {"v": 5, "name": "dev2"}]
