"""Rule state across runs: the live state of each rule in this process, and checkpoints to KV.

What is kept (the extension state of a rule: every `put_state`/`incr_counter` of its sources,
sinks and function call sites, see `extension_state.py`):

- **In the process**, always: `rule_state(rule_id, root)` returns the same
  `RuleExtensionState` each time a rule with that id starts again under that root, so a rule
  stop/start (or a restart after a failure) continues from the state it had, whatever its QoS.
- **In the KV store** (`{root}/data/sqliteKV.db` by default), when the rule asks for it: with
  `qos` >= 1 a checkpoint every `checkpointInterval` and one when the rule stops; with
  `enableSaveStateBeforeStop` one when the rule stops. The first start of the rule in a process
  restores the last checkpoint, so the state survives a process restart.

Source offsets (qos >= 1, at least once): a periodic checkpoint is taken at a quiescent point
of the rule, through a `Barrier` (the rule runner's): **pause and drain**. Every source node's
hand-off loop is paused (its connector goes on emitting into the node's pending list, bounded by
back-pressure), then the barrier waits until the rule has drained: no hand-off in progress,
every channel empty and every operator and sink waiting on its empty inbox. At that instant
every batch a source has handed downstream has been processed by every operator and sink, so
the source offsets after those batches (each source node records, per emit, `get_offset()`
right after it, and keeps the offset of the last item it handed downstream) and the extension
state describe the same input. The state and the offsets are saved together (the checkpoint
record holds the offsets, written after the state blob: a crash in between leaves older
offsets, which replays more, still at least once), then the sources resume. When the rule does
not drain within `drain_timeout_s` (a sink stuck on one batch) that checkpoint is skipped.

At the next start of the rule (a restored checkpoint, or a restart in this process) each
rewindable source `rewind(offset)`s before it opens, so the input after the checkpoint is
replayed: what was processed after the checkpoint is processed again (at least once; the
extension state of a restart in the same process is the live one, so it may count that input
twice). A manual stop or a failure saves the state with the offsets of the last consistent
checkpoint; a rule whose input ended (every sink saw the end) saves no offsets, so the next run
reads its bounded sources from the start, as without QoS.

Limits: operator state (open windows, the previous row of LAG) is not checkpointed, so the rows
a window held at the checkpoint are not replayed after a crash; rows handed to a sink's
resend queue or cache, or buffered by batchSize/lingerInterval, count as delivered. Sinks with
a `flush()` (the file sink) are flushed at the quiescent point, before the offsets are saved. Exactly-once (barriers
flowing with the data, aligned snapshots of operator state) is future work.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kuiper.state.extension_state import NAMESPACE as STATE_NAMESPACE
from kuiper.state.extension_state import RuleExtensionState
from kuiper.state.kv import KVStore

log = logging.getLogger(__name__)

#: namespace of the checkpoint records (id, time, size) next to the state blobs
CHECKPOINT_NAMESPACE = "checkpoint"

_LIVE: dict[tuple[str, str], RuleExtensionState] = {}
_LIVE_LOCK = threading.Lock()


def _root_key(root: str | Path) -> str:
    return str(Path(root).resolve())


def rule_state(rule_id: str, root: str | Path = ".") -> tuple[RuleExtensionState, bool]:
    """The live extension state of a rule in this process, and whether it was just created
    (the rule's first start here: the caller may restore a checkpoint into it)."""
    key = (_root_key(root), rule_id)
    with _LIVE_LOCK:
        state = _LIVE.get(key)
        if state is not None:
            return state, False
        state = _LIVE[key] = RuleExtensionState(rule_id)
        return state, True


def forget(rule_id: str, root: str | Path = ".", store: KVStore | None = None) -> None:
    """Drop a rule's state (the rule is deleted, or its state reset): live and checkpointed."""
    with _LIVE_LOCK:
        _LIVE.pop((_root_key(root), rule_id), None)
    if store is not None:
        RuleExtensionState(rule_id).discard(store)
        store.delete(CHECKPOINT_NAMESPACE, rule_id)


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When a rule's state goes to the KV store (from its options)."""

    qos: int = 0
    interval_ms: int = 300_000
    save_on_stop: bool = False  # enableSaveStateBeforeStop

    @property
    def periodic(self) -> bool:
        """Checkpoints every `interval_ms` while the rule runs."""
        return self.qos >= 1 and self.interval_ms > 0

    @property
    def persistent(self) -> bool:
        """The state is saved when the rule stops and restored at its first start."""
        return self.qos >= 1 or self.save_on_stop


class Barrier(Protocol):
    """Brings a running rule to a quiescent point for a consistent checkpoint."""

    async def hold(self) -> dict[str, Any] | None:
        """Pause the sources and wait until the rule has drained; the offset of each
        rewindable source (by source name), or None when it did not drain in time."""

    def release(self) -> None:
        """Resume the sources (always called after `hold`, even when it failed)."""


class Checkpointer:
    """Saves and restores one rule's extension state through the KV store.

    `store` is a KVStore or a zero-argument factory (opened on first use, so a rule that
    never checkpoints never opens the store); `close()` closes a store it opened itself.
    """

    def __init__(self, state: RuleExtensionState, policy: CheckpointPolicy,
                 store: KVStore | Callable[[], KVStore]) -> None:
        self.state = state
        self.policy = policy
        self._store: KVStore | None = None
        self._factory: Callable[[], KVStore] | None = None
        if hasattr(store, "get"):
            self._store = store  # type: ignore[assignment]
        else:
            self._factory = store  # type: ignore[assignment]
        self._owned = self._factory is not None
        self.last_id = 0
        self.count = 0
        self.last_error = ""
        #: the source offsets of the last checkpoint saved or restored (name -> offset)
        self.offsets: dict[str, Any] = {}

    @property
    def store(self) -> KVStore:
        if self._store is None:
            assert self._factory is not None
            self._store = self._factory()
        return self._store

    def restore(self) -> bool:
        """Load the last checkpoint into the state; False when there is none."""
        found = self.state.load(self.store)
        meta = self.store.get(CHECKPOINT_NAMESPACE, self.state.rule_id)
        if meta:
            record = json.loads(meta)
            self.last_id = int(record.get("id", 0))
            offsets = record.get("offsets")
            self.offsets = dict(offsets) if isinstance(offsets, dict) else {}
        if found:
            log.info("rule %s: extension state restored from checkpoint %s (%d scope(s))",
                     self.state.rule_id, self.last_id or "?", len(self.state.scopes()))
        return found

    def checkpoint(self, offsets: dict[str, Any] | None = None) -> int:
        """Save the state now; the checkpoint id (ms since the epoch, increasing), 0 on error.

        `offsets` are the source offsets consistent with the state (see the module doc); None
        keeps those of the last checkpoint. A failing store is logged and counted
        (`last_error`), never raised: the rule goes on.
        """
        cp_id = max(int(time.time() * 1000), self.last_id + 1)
        keep = self.offsets if offsets is None else offsets
        try:
            blob = self.state.snapshot()
            record = json.dumps({"id": cp_id, "bytes": len(blob),
                                 "scopes": len(self.state.scopes()), "offsets": keep})
            self.store.set(STATE_NAMESPACE, self.state.rule_id, blob)
            self.store.set(CHECKPOINT_NAMESPACE, self.state.rule_id, record)
        except Exception as exc:  # noqa: BLE001 - a store error must not stop the rule
            self.last_error = f"checkpoint of rule {self.state.rule_id} failed: {exc}"
            log.error("%s", self.last_error)
            return 0
        self.last_id = cp_id
        self.offsets = dict(keep)
        self.count += 1
        log.debug("rule %s: checkpoint %d saved", self.state.rule_id, cp_id)
        return cp_id

    async def checkpoint_consistent(self, barrier: Barrier) -> int:
        """Hold the rule at a quiescent point, save the state with the source offsets,
        release it; 0 when the rule did not drain (nothing saved) or on error."""
        try:
            offsets = await barrier.hold()
            if offsets is None:
                log.debug("rule %s: not drained in time, checkpoint skipped", self.state.rule_id)
                return 0
            return self.checkpoint(offsets)
        finally:
            barrier.release()

    async def run_periodic(self, sleep: Callable[[float], Awaitable[None]],
                           barrier: Barrier | None = None) -> None:
        """Checkpoint every `interval_ms` until cancelled (`sleep` is the rule clock's); with a
        `barrier`, each checkpoint is consistent with the source offsets."""
        if not self.policy.periodic:
            return
        while True:
            await sleep(self.policy.interval_ms / 1000)
            if barrier is None:
                self.checkpoint()
            else:
                await self.checkpoint_consistent(barrier)

    def close(self) -> None:
        if self._owned and self._store is not None:
            self._store.close()
            self._store = None
