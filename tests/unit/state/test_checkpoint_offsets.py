"""Source offsets in checkpoints: saved with the state, restored, and consistent with what the
sinks have received (pause and drain)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import kuiper.io  # noqa: F401  (registers the built-in connectors)
from kuiper.api import Context, Sink
from kuiper.catalog.defs import RuleDef, StreamDef
from kuiper.io.sources import file as file_source
from kuiper.planner.physical import PhysicalPlan, SourceSpec
from kuiper.runtime.loop import run
from kuiper.runtime.registry import register_sink
from kuiper.runtime.rule import RuleRunner
from kuiper.state import checkpoint
from kuiper.state.checkpoint import CHECKPOINT_NAMESPACE, Checkpointer, CheckpointPolicy
from kuiper.state.extension_state import RuleExtensionState
from kuiper.state.kv import SqliteKV

SEEN: list[int] = []


@register_sink("cp_slow")
class SlowSink(Sink):
    async def collect(self, ctx: Context, data: Any) -> None:
        rows = data if isinstance(data, list) else [data]
        SEEN.extend(r["i"] for r in rows)
        await asyncio.sleep(0.0002 * len(rows))


def test_offsets_saved_and_restored(tmp_path: Path) -> None:
    store = SqliteKV(tmp_path / "kv.db")
    cp = Checkpointer(RuleExtensionState("r"), CheckpointPolicy(qos=1), store)
    assert cp.checkpoint({"s": {"pos": 5}})
    assert cp.checkpoint() and cp.offsets == {"s": {"pos": 5}}  # None keeps the last ones
    assert json.loads(store.get(CHECKPOINT_NAMESPACE, "r"))["offsets"] == {"s": {"pos": 5}}
    again = Checkpointer(RuleExtensionState("r"), CheckpointPolicy(qos=1), store)
    again.restore()
    assert again.offsets == {"s": {"pos": 5}}


def test_a_barrier_that_does_not_drain_skips_the_checkpoint(tmp_path: Path) -> None:
    cp = Checkpointer(RuleExtensionState("r"), CheckpointPolicy(qos=1), SqliteKV(":memory:"))
    released: list[bool] = []

    class Stuck:
        async def hold(self) -> dict[str, Any] | None:
            return None

        def release(self) -> None:
            released.append(True)

    assert asyncio.run(cp.checkpoint_consistent(Stuck())) == 0
    assert released == [True] and cp.count == 0


def test_checkpointed_offsets_match_what_the_sinks_received(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each periodic checkpoint's offset is just past the rows the sink has got by then."""
    monkeypatch.setattr(file_source, "CHUNK_BYTES", 512)
    rows = 2000
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"i": i}) + "\n" for i in range(rows)))
    stream = StreamDef("demo", (), {"TYPE": "file", "DATASOURCE": "in.jsonl", "FORMAT": "json",
                                    "CONF_KEY": "default"})
    (tmp_path / "etc" / "sources").mkdir(parents=True)
    (tmp_path / "etc" / "sources" / "file.yaml").write_text("default:\n  fileType: lines\n")
    rule = RuleDef.from_json({"id": "cons", "sql": "SELECT * FROM demo",
                              "actions": [{"cp_slow": {}}],
                              "options": {"qos": 1, "checkpointInterval": 5,
                                          "maxBatchSize": 50, "bufferLength": 100}})
    plan = PhysicalPlan(rule, [SourceSpec(stream)], [])
    SEEN.clear()
    checkpoint.forget("cons", tmp_path)
    store = SqliteKV(tmp_path / "kv.db")
    taken: list[tuple[int, int]] = []

    async def main() -> RuleRunner:
        runner = RuleRunner(plan, str(tmp_path), store=store)
        await runner.start()
        assert runner.checkpointer is not None
        real = runner.checkpointer.checkpoint

        def spy(offsets: dict[str, Any] | None = None, op_state: bytes | None = None) -> int:
            if offsets:
                taken.append((offsets["demo"]["line"], len(SEEN)))
            return real(offsets, op_state)

        runner.checkpointer.checkpoint = spy  # type: ignore[method-assign]
        assert await runner.wait(30)
        return runner

    runner = run(main())
    assert SEEN == list(range(rows))
    assert len(taken) >= 2, "expected periodic checkpoints while the file was read"
    assert any(0 < line < rows for line, _ in taken)
    for line, received in taken:
        assert line == received  # the offset covers exactly the rows the sink has
    assert runner.checkpointer is not None and runner.checkpointer.offsets == {}  # input ended
