"""The sql sink, source and lookup table on PostgreSQL, MariaDB and SQLite."""
from __future__ import annotations

import asyncio
import json

import pytest
from services import rule_files
from sql_support import CollectContext

from kuiper.cli.run import build_runners, run_paths
from kuiper.errors import ConfigError, ConnectorError
from kuiper.io.sinks.sql import SqlSink
from kuiper.io.sources.sql import SqlLookupSource, SqlSource
from kuiper.io.sqldb import parse_url
from kuiper.runtime.context import NodeContext


def test_urls():
    u = parse_url("postgres://user:p%40ss@db.local:5433/test?sslmode=disable")
    assert (u.driver, u.host, u.port, u.user, u.password, u.database) == \
        ("postgres", "db.local", 5433, "user", "p@ss", "test")
    assert u.params == {"sslmode": "disable"}
    m = parse_url("mysql://root@127.0.0.1:3306/test?parseTime=true")
    assert (m.driver, m.user, m.password, m.database) == ("mysql", "root", "", "test")
    assert parse_url("sqlite:/tmp/x.db").path == "/tmp/x.db"
    assert parse_url("sqlite://test.db").path == "test.db"
    assert parse_url("sqlite3:///abs/x.db").path == "/abs/x.db"
    assert "p@ss" not in parse_url("postgres://u:p%40ss@h/d").redacted()
    for bad in ("", "oracle://x/y", "sqlite:"):
        with pytest.raises(ConfigError):
            parse_url(bad)


def test_sink_configuration_errors():
    with pytest.raises(ConfigError, match="table"):
        SqlSink().configure({"url": "sqlite:/tmp/x.db"})
    with pytest.raises(ConfigError, match="keyField"):
        SqlSink().configure({"url": "sqlite:/tmp/x.db", "table": "t", "rowkindField": "a"})


def test_sink_inserts_whole_batches(tmp_path, db):
    table = db.table("id VARCHAR(20), temperature FLOAT, humidity INT")
    rows = [{"id": f"d{i}", "temperature": 20.5 + i, "humidity": i} for i in range(300)]
    status = run_paths(rule_files(tmp_path, rows, "SELECT * FROM src WHERE humidity >= 0",
                                  [{"sql": {"url": db.url, "table": table}}]), str(tmp_path))["r1"]
    assert status["sink_sql_0_0_records_out_total"] == 300
    assert status["sink_sql_0_0_exceptions_total"] == 0
    got = db.run(f"SELECT id, temperature, humidity FROM {table} ORDER BY humidity")
    assert [(r[0], float(r[1]), r[2]) for r in got] == \
        [(f"d{i}", 20.5 + i, i) for i in range(300)]


def test_sink_fields_and_nested_values(tmp_path, db):
    table = db.table("id VARCHAR(20), info TEXT")
    rows = [{"id": "a", "info": {"x": [1, 2]}, "skip": 1}, {"id": "b", "skip": 2}]
    status = run_paths(rule_files(tmp_path, rows, "SELECT * FROM src", [{"sql": {
        "url": db.url, "table": table, "fields": ["id", "info"]}}]), str(tmp_path))["r1"]
    assert status["sink_sql_0_0_exceptions_total"] == 0
    got = db.run(f"SELECT id, info FROM {table} ORDER BY id")
    assert [(r[0], json.loads(r[1]) if r[1] else None) for r in got] == \
        [("a", {"x": [1, 2]}), ("b", None)]


def test_sink_rowkinds(tmp_path, db):
    table = db.table("id VARCHAR(20) PRIMARY KEY, v INT")
    rows = [{"id": "a", "v": 1, "op": "insert"}, {"id": "b", "v": 2},
            {"id": "a", "v": 3, "op": "update"}, {"id": "c", "v": 4, "op": "upsert"},
            {"id": "b", "v": 5, "op": "upsert"}, {"id": "b", "op": "delete"},
            {"id": "d", "v": 6, "op": "upsert"}, {"id": "d", "v": 6, "op": "upsert"}]
    status = run_paths(rule_files(tmp_path, rows, "SELECT id, v, op FROM src", [{"sql": {
        "url": db.url, "table": table, "rowkindField": "op", "keyField": "id",
        "sendSingle": True}}]), str(tmp_path))["r1"]
    assert status["sink_sql_0_0_exceptions_total"] == 0, status
    assert db.run(f"SELECT id, v FROM {table} ORDER BY id") == [("a", 3), ("c", 4), ("d", 6)]


def _source(db, cfg_name: str, cfg: dict, datasource: str = "") -> SqlSource:
    src = SqlSource()
    src.configure(datasource, {"url": db.url, "interval": 50, cfg_name: cfg})
    return src


async def _pulls(src, ctx, before_each):
    await src.open(ctx)
    counts = []
    try:
        for step in before_each:
            step()
            n = len(ctx.rows)
            await src.pull(ctx)
            counts.append(len(ctx.rows) - n)
    finally:
        await src.close(ctx)
    return counts


def test_source_reads_incrementally(db):
    table = db.table(f"id {db.serial()}, name VARCHAR(20), score FLOAT")
    for i in range(5):
        db.run(f"INSERT INTO {table} (name, score) VALUES (%s, %s)", (f"n{i}", i + 0.5))
    src = _source(db, "internalSqlQueryCfg",
                  {"table": table, "limit": 2, "indexField": "id", "indexValue": 0})
    ctx = CollectContext()

    def add() -> None:
        db.run(f"INSERT INTO {table} (name, score) VALUES (%s, %s)", ("late", 9.0))

    counts = asyncio.run(_pulls(src, ctx, [lambda: None] * 4 + [add, lambda: None]))
    assert counts == [2, 2, 1, 0, 1, 0]
    assert [r["name"] for r in ctx.rows] == ["n0", "n1", "n2", "n3", "n4", "late"]
    assert ctx.rows[0] == {"id": 1, "name": "n0", "score": 0.5}
    assert src.get_offset() == {"id": 6} and ctx.get_state("index") == {"id": 6}
    # a restarted source resumes after the saved index
    again = _source(db, "internalSqlQueryCfg", {"table": table, "indexField": "id"})
    ctx2 = CollectContext()
    ctx2.put_state("index", {"id": 4})
    assert asyncio.run(_pulls(again, ctx2, [lambda: None])) == [2]


def test_source_template_query(db):
    table = db.table(f"id {db.serial()}, name VARCHAR(20)")
    for i in range(4):
        db.run(f"INSERT INTO {table} (name) VALUES (%s)", (f"n{i}",))
    src = _source(db, "templateSqlQueryCfg", {
        "TemplateSql": f"SELECT * FROM {table} WHERE id > {{{{.id}}}} ORDER BY id LIMIT 3",
        "indexField": "id", "indexValue": 1})
    ctx = CollectContext()
    assert asyncio.run(_pulls(src, ctx, [lambda: None] * 3)) == [3, 0, 0]
    assert [r["id"] for r in ctx.rows] == [2, 3, 4]


def test_source_to_sink_rule(tmp_path, db):
    src_table = db.table(f"id {db.serial()}, name VARCHAR(20), v INT")
    out_table = db.table("id INT, upper_name VARCHAR(20), v2 INT")
    for i in range(5):
        db.run(f"INSERT INTO {src_table} (name, v) VALUES (%s, %s)", (f"n{i}", i))
    (tmp_path / "etc" / "sources").mkdir(parents=True)
    (tmp_path / "etc" / "sources" / "sql.yaml").write_text(json.dumps({"default": {
        "url": db.url, "interval": 30,
        "internalSqlQueryCfg": {"table": src_table, "indexField": "id", "limit": 3}}}))
    (tmp_path / "streams.sql").write_text(
        f'CREATE STREAM rows () WITH (DATASOURCE="{src_table}", TYPE="sql", FORMAT="json");\n')
    (tmp_path / "rule.json").write_text(json.dumps({
        "id": "copy", "sql": "SELECT id, upper(name) AS upper_name, v * 2 AS v2 FROM rows",
        "actions": [{"sql": {"url": db.url, "table": out_table}}]}))

    def count() -> int:
        return db.run(f"SELECT count(*) FROM {out_table}")[0][0]

    async def main() -> None:
        runners = build_runners([str(tmp_path / "streams.sql"), str(tmp_path / "rule.json")],
                                str(tmp_path), None)
        await runners[0].start()
        try:
            for _ in range(400):
                if count() >= 5:
                    break
                await asyncio.sleep(0.025)
            db.run(f"INSERT INTO {src_table} (name, v) VALUES (%s, %s)", ("late", 10))
            for _ in range(400):
                if count() >= 6:
                    break
                await asyncio.sleep(0.025)
        finally:
            await runners[0].stop()

    asyncio.run(main())
    assert db.run(f"SELECT id, upper_name, v2 FROM {out_table} ORDER BY id") == \
        [(i + 1, f"N{i}", 2 * i) for i in range(5)] + [(6, "LATE", 20)]


def test_lookup_table(db):
    table = db.table("id INT PRIMARY KEY, name VARCHAR(20), lim FLOAT")
    for i in range(1, 4):
        db.run(f"INSERT INTO {table} (id, name, lim) VALUES (%s, %s, %s)", (i, f"dev{i}", i * 1.5))
    src = SqlLookupSource()
    src.configure(table, {"url": db.url})
    ctx = NodeContext("t", "lookup")

    async def main():
        await src.open(ctx)
        try:
            one = await src.lookup(ctx, [], ["id"], [2])
            picked = await src.lookup(ctx, ["name"], ["id"], [3])
            two_keys = await src.lookup(ctx, ["id"], ["id", "name"], [1, "dev1"])
            many = await src.lookup_batch(ctx, ["id"], ["id"], [[3], [9], [1], [None], [3]])
            db.run(f"INSERT INTO {table} (id, name, lim) VALUES (%s, %s, %s)", (9, "new", 1.0))
            fresh = await src.lookup(ctx, [], ["id"], [9])
            return one, picked, two_keys, many, fresh
        finally:
            await src.close(ctx)

    one, picked, two_keys, many, fresh = asyncio.run(main())
    assert one == [{"id": 2, "name": "dev2", "lim": 3.0}]
    assert picked == [{"name": "dev3"}]
    assert two_keys == [{"id": 1}]
    assert many == [[{"id": 3}], [], [{"id": 1}], [], [{"id": 3}]]
    assert fresh == [{"id": 9, "name": "new", "lim": 1.0}]


def test_connection_killed_under_the_sink_is_recoverable(server_db):
    """The server drops the sink's connection (as when the database restarts): the next
    delivery fails with a recoverable ConnectorError, the one after reconnects."""
    db = server_db
    table = db.table("id INT, v INT")
    sink = SqlSink()
    sink.configure({"url": db.url, "table": table})
    ctx = NodeContext("t", "sql")

    def kill() -> None:
        conn = sink._db._conn  # the sink's own connection, and no other
        if db.kind == "postgres":
            db.run("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        else:
            db.run(f"KILL {int(conn.thread_id())}")

    async def main() -> None:
        await sink.open(ctx)
        try:
            await sink.collect(ctx, [{"id": 1, "v": 1}])
            kill()
            with pytest.raises(ConnectorError, match="io error"):
                for _ in range(3):  # the kill reaches the server asynchronously
                    await sink.collect(ctx, [{"id": 2, "v": 2}])
                    await asyncio.sleep(0.1)
            await sink.collect(ctx, [{"id": 3, "v": 3}])
        finally:
            await sink.close(ctx)

    asyncio.run(main())
    ids = [r[0] for r in db.run(f"SELECT id FROM {table} ORDER BY id")]
    assert ids[0] == 1 and ids[-1] == 3


def test_stream_joins_the_lookup_table_in_a_rule(tmp_path, db):
    table = db.table("id INT PRIMARY KEY, name VARCHAR(20)")
    for i in (1, 2):
        db.run(f"INSERT INTO {table} (id, name) VALUES (%s, %s)", (i, f"dev{i}"))
    rows = [{"dev": i % 3, "v": i} for i in range(6)]
    paths = rule_files(tmp_path, rows, "SELECT src.v, t.name FROM src LEFT JOIN t "
                       "ON src.dev = t.id", [{"file": {"path": str(tmp_path / "out.jsonl"),
                                                      "sendSingle": True}}])
    (tmp_path / "etc" / "sources" / "sql.yaml").write_text(json.dumps({"default": {
        "url": db.url, "lookup": {"cache": True}}}))
    with open(paths[0], "a") as f:
        f.write(f'CREATE TABLE t () WITH (DATASOURCE="{table}", TYPE="sql", KIND="lookup");\n')
    status = run_paths(paths, str(tmp_path))["r1"]
    assert status["status"] == "stopped", status
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out == [{"v": 0}, {"v": 1, "name": "dev1"}, {"v": 2, "name": "dev2"},
                   {"v": 3}, {"v": 4, "name": "dev1"}, {"v": 5, "name": "dev2"}]
