"""Operator state in checkpoints: a plan's operators snapshotted mid-stream and restored into a
fresh plan give the same results as the uninterrupted plan; the store keeps 3 checkpoints."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from kuiper.api.batch import BIGINT, STRING, Batch, Column
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.planner import plan_rule
from kuiper.runtime.sink_cache import CacheConf, SinkCache
from kuiper.sql import parse
from kuiper.state import opstate
from kuiper.state.checkpoint import (
    CHECKPOINT_NAMESPACE,
    DATA_NAMESPACE,
    KEEP,
    Checkpointer,
    CheckpointPolicy,
)
from kuiper.state.extension_state import RuleExtensionState
from kuiper.state.kv import SqliteKV

DEVICES = np.array(["a", "b", "c"], dtype=object)


def _plan(sql: str, options: dict[str, Any] | None = None) -> list[Any]:
    cat = Catalog()
    cat.add_stream(parse('CREATE STREAM demo (dev string, v bigint, ts bigint) '
                         'WITH (DATASOURCE="d", TIMESTAMP="ts")').definition)
    return plan_rule(RuleDef("r", sql, options=options or {}), cat).operators


def _batches(count: int, rows: int = 50) -> list[Batch]:
    rng = np.random.default_rng(7)
    out = []
    for k in range(count):
        ts = 1_000_000 + k * rows * 100 + np.arange(rows, dtype=np.int64) * 100
        out.append(Batch({"dev": Column(STRING, rng.integers(0, 3, rows).astype(np.int32), None,
                                        DEVICES),
                          "v": Column(BIGINT, rng.integers(0, 100, rows)),
                          "ts": Column(BIGINT, ts)}, rows, ts))
    return out


def _run(ops: list[Any], batches: list[Batch], finish: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    outs = [op.process(b) for b in batches for op in ops[:1]]
    if finish:
        outs.append(ops[0].finish())
    for out in outs:
        for op in ops[1:]:
            out = op.process(out) if out is not None else None
        if out is not None:
            rows += out.to_rows()
    return rows


def _resume(sql: str, options: dict[str, Any] | None = None) -> None:
    batches = _batches(12)
    whole = _run(_plan(sql, options), batches, finish=True)
    before = _plan(sql, options)
    head = _run(before, batches[:5], finish=False)
    blob = opstate.dumps(opstate.snapshot_nodes([(op.name, op) for op in before]))
    after = _plan(sql, options)
    assert opstate.restore_nodes([(op.name, op) for op in after], opstate.loads(blob)) >= 1
    tail = _run(after, batches[5:], finish=True)
    assert head + tail == whole
    assert head and tail


def test_tumbling_window_in_event_time_resumes() -> None:
    _resume("SELECT dev, count(*) AS c, sum(v) AS s, window_end() AS we FROM demo "
            "GROUP BY dev, TUMBLINGWINDOW(ss, 7)", {"isEventTime": True})


def test_hopping_and_count_and_state_windows_resume() -> None:
    _resume("SELECT count(*) AS c, window_end() AS we FROM demo GROUP BY HOPPINGWINDOW(ss, 6, 2)",
            {"isEventTime": True})
    _resume("SELECT count(*) AS c, sum(v) AS s FROM demo GROUP BY COUNTWINDOW(45, 20)")
    _resume("SELECT count(*) AS c, sum(v) AS s FROM demo "
            "GROUP BY STATEWINDOW(v > 90, v < 5) OVER (PARTITION BY dev)")


def test_sliding_and_session_windows_resume() -> None:
    _resume("SELECT count(*) AS c, sum(v) AS s FROM demo GROUP BY SLIDINGWINDOW(ss, 3) "
            "OVER (WHEN v > 95)", {"isEventTime": True})
    _resume("SELECT count(*) AS c, window_end() AS we FROM demo "
            "GROUP BY SESSIONWINDOW(ss, 10, 1)", {"isEventTime": True})


def test_analytic_state_resumes() -> None:
    _resume("SELECT dev, lag(v) OVER (PARTITION BY dev) AS prev, "
            "acc_sum(v) OVER (PARTITION BY dev) AS total, latest(v) AS last, "
            "changed_col(true, dev) AS ch FROM demo")


def test_snapshots_are_columnar() -> None:
    ops = _plan("SELECT count(*) AS c FROM demo GROUP BY TUMBLINGWINDOW(ss, 60)",
                {"isEventTime": True})
    _run(ops, _batches(4), finish=False)
    state = ops[0].snapshot_state()
    buffered = state["buffer"]
    assert buffered["n"] == 200
    kind, values, _valid, dictionary = buffered["columns"]["v"]
    assert kind == BIGINT and values.dtype == np.int64 and len(values) == 200
    assert buffered["columns"]["dev"][1].dtype == np.int32  # dictionary codes, not strings
    assert state["watermark"]["value"] > 0


def test_the_store_keeps_the_last_three_checkpoints(tmp_path: Path) -> None:
    store = SqliteKV(tmp_path / "kv.db")
    cp = Checkpointer(RuleExtensionState("r"), CheckpointPolicy(qos=1), store)
    blob = os.urandom(20_000)
    sizes = []
    for i in range(60):
        assert cp.checkpoint({"s": {"pos": i}}, blob)
        assert len(store.keys(DATA_NAMESPACE)) == min(i + 1, KEEP)
        sizes.append(sum(len(v) for ns in (DATA_NAMESPACE, CHECKPOINT_NAMESPACE)
                         for v in store.items(ns).values()))
    assert max(sizes[KEEP:]) - min(sizes[KEEP:]) < 10  # no growth (ids get a digit longer)
    assert max(sizes) <= KEEP * len(blob) + 500
    again = Checkpointer(RuleExtensionState("r"), CheckpointPolicy(qos=1), store)
    again.restore()
    assert again.op_state == blob and again.offsets == {"s": {"pos": 59}}
    assert len(again.kept) == KEEP and again.kept[-1] == again.last_id
    # the input ended: no offsets and no operator state for the next run
    assert cp.checkpoint({}) and cp.op_state == b""
    store.close()


def test_write_through_cache_drops_pages_written_after_the_checkpoint(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.db")
    cache = SinkCache(path, "t", CacheConf(page_size=4))
    cache.write_through = True
    cache.open()
    for i in range(10):
        cache.add(({"i": i}, None))
    assert cache.peek() == ({"i": 0}, None)
    cache.pop()  # delivered before the checkpoint
    marker = cache.sync()  # the checkpoint: everything pending is on disk
    cache.pop()  # delivered after the checkpoint: sent again after a crash
    for i in range(10, 15):  # one more page on disk, one message in the page being filled
        cache.add(({"i": i}, None))
    cache._db.close()  # noqa: SLF001 - a crash: no close()
    restarted = SinkCache(path, "t", CacheConf(page_size=4))
    restarted.write_through = True
    restarted.truncate_after(marker)
    restarted.open()
    got = []
    while (entry := restarted.peek()) is not None:
        got.append(entry[0]["i"])
        restarted.pop()
    assert got == list(range(1, 10))  # 10..14 come again from the replayed input
    restarted.add(({"i": 99}, None))
    restarted.sync()
    assert restarted.high_seq > marker  # page numbers are never reused
    restarted.close()
