"""Checkpoints of extension state: the live registry, the policy, save/restore through the KV store."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from kuiper.state import checkpoint
from kuiper.state.checkpoint import CHECKPOINT_NAMESPACE, Checkpointer, CheckpointPolicy
from kuiper.state.kv import SqliteKV


def test_live_state_is_per_root_and_rule(tmp_path: Path) -> None:
    a, fresh = checkpoint.rule_state("r1", tmp_path)
    assert fresh and a.rule_id == "r1"
    again, fresh = checkpoint.rule_state("r1", tmp_path)
    assert again is a and not fresh
    other_root, fresh = checkpoint.rule_state("r1", tmp_path / "other")
    assert other_root is not a and fresh
    checkpoint.forget("r1", tmp_path)
    assert checkpoint.rule_state("r1", tmp_path)[1]


@pytest.mark.parametrize(("qos", "save", "periodic", "persistent"), [
    (0, False, False, False), (0, True, False, True), (1, False, True, True), (2, True, True, True),
])
def test_policy(qos: int, save: bool, periodic: bool, persistent: bool) -> None:
    policy = CheckpointPolicy(qos, 1000, save)
    assert policy.periodic is periodic and policy.persistent is persistent


def test_checkpoint_and_restore_through_sqlite(tmp_path: Path) -> None:
    store = SqliteKV(tmp_path / "data" / "sqliteKV.db")
    state, _ = checkpoint.rule_state("cp1", tmp_path)
    state.instance("2_project", 0, 1).incr_counter("words", 7)
    state.instance("demo").put_state("offset", {"line": 3})
    cp = Checkpointer(state, CheckpointPolicy(qos=1), store)
    first = cp.checkpoint()
    second = cp.checkpoint()
    assert 0 < first < second and cp.count == 2
    meta = json.loads(store.get(CHECKPOINT_NAMESPACE, "cp1"))
    assert meta["id"] == second and meta["scopes"] == 2
    # another process: a fresh live state restored from the store
    checkpoint.forget("cp1", tmp_path)
    restored, fresh = checkpoint.rule_state("cp1", tmp_path)
    assert fresh and restored is not state
    cp2 = Checkpointer(restored, CheckpointPolicy(qos=1), store)
    assert cp2.restore() and cp2.last_id == second
    assert restored.instance("2_project", 0, 1).get_counter("words") == 7
    assert restored.instance("demo").get_state("offset") == {"line": 3}
    checkpoint.forget("cp1", tmp_path, store)
    assert store.get(CHECKPOINT_NAMESPACE, "cp1") is None
    assert not Checkpointer(restored, CheckpointPolicy(qos=1), store).restore()


def test_store_factory_is_opened_lazily_and_closed(tmp_path: Path) -> None:
    opened: list[SqliteKV] = []

    def factory() -> SqliteKV:
        opened.append(SqliteKV(tmp_path / "kv.db"))
        return opened[-1]

    state, _ = checkpoint.rule_state("lazy", tmp_path)
    cp = Checkpointer(state, CheckpointPolicy(), factory)
    assert not opened
    cp.checkpoint()
    assert len(opened) == 1
    cp.close()
    cp.checkpoint()  # reopens
    assert len(opened) == 2
    cp.close()


def test_a_failing_store_is_logged_not_raised(tmp_path: Path) -> None:
    class Broken(SqliteKV):
        def set(self, namespace, key, value):  # noqa: ANN001
            raise OSError("disk full")

    state, _ = checkpoint.rule_state("broken", tmp_path)
    cp = Checkpointer(state, CheckpointPolicy(qos=1), Broken(":memory:"))
    assert cp.checkpoint() == 0
    assert "disk full" in cp.last_error


def test_periodic_checkpoints(tmp_path: Path) -> None:
    store = SqliteKV(":memory:")
    state, _ = checkpoint.rule_state("periodic", tmp_path)
    cp = Checkpointer(state, CheckpointPolicy(qos=1, interval_ms=1), store)
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) > 3:
            raise asyncio.CancelledError
        await asyncio.sleep(0)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cp.run_periodic(fake_sleep))
    assert cp.count == 3 and sleeps[0] == pytest.approx(0.001)
    idle = Checkpointer(state, CheckpointPolicy(qos=0), store)
    asyncio.run(idle.run_periodic(fake_sleep))  # qos 0: returns at once
    assert idle.count == 0
