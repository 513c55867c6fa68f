"""Rule state across runs: the live state of each rule in this process, and checkpoints to KV.

What is kept:

- **Extension state** (every `put_state`/`incr_counter` of a rule's sources, sinks and function
  call sites, see `extension_state.py`). **In the process**, always: `rule_state(rule_id, root)`
  returns the same `RuleExtensionState` each time a rule with that id starts again under that
  root, so a rule stop/start (or a restart after a failure) continues from the state it had.
  **In the KV store** (`{root}/data/sqliteKV.db` by default), when the rule asks for it: with
  `qos` >= 1 a checkpoint every `checkpointInterval` and one when the rule stops; with
  `enableSaveStateBeforeStop` one when the rule stops. The first start of the rule in a process
  restores the last checkpoint, so the state survives a process restart.
- **Operator state** (qos >= 1): what the rule's operators hold between batches: the rows of
  open windows (time, count, session, state windows, join windows), the watermark and the
  next window to emit, analytic functions' state per partition (lag, latest, changed_col,
  had_changed, acc_*), and per sink the rows waiting for batchSize/lingerInterval and the
  failure cache's position (`kuiper.runtime.sink_cache`). Columnar (`kuiper.state.opstate`).
- **Source offsets** (qos >= 1) of rewindable sources (file: the byte offset; memory: the
  message count of its topic) and, for sources that acknowledge (MQTT with a persistent
  session), the messages to acknowledge once the checkpoint is saved (`commit(offset)`).

The consistent cut (qos 1 and 2 alike): a periodic checkpoint **pauses and drains** the rule
(the rule runner's `Barrier`): every source's hand-off loop is paused (its connector goes on
emitting into the node's pending list, bounded by back-pressure), then the barrier waits until
no hand-off is in progress, every channel is empty and every operator and sink waits on its
empty inbox. This is the instant an aligned barrier would reach every node at once: every
batch a source handed downstream has been processed by every operator and sink (joins
included: each input has been consumed up to the same cut), none after it. Each node
snapshots there (`Barrier.snapshot`), sinks with a `flush()` (the file sink) are flushed, and
the checkpoint is complete when the state of every node, sinks included, is saved with the
offsets; then the sources `commit` and resume. When the rule does not drain within
`drain_timeout_s` (a sink stuck on one batch) that checkpoint is skipped.

Storage: one record per rule in namespace `checkpoint` (id, size, offsets, the ids kept) and
one blob per checkpoint in `checkpoint_data` (`{rule}/{id}`: the operator states). The last
`KEEP` complete checkpoints are kept, older blobs are deleted when a new one is complete, so
the store does not grow. A crash between the blob and the record leaves the older record: the
older checkpoint is restored (and its input replayed).

At the next start of the rule (a restored checkpoint, or a restart in this process) the
operators and sinks get the checkpoint's state back and each rewindable source `rewind`s to
its offset before it opens, so the input after the checkpoint is replayed against exactly
the state that had seen the input before it: window results after a crash equal those of an
uninterrupted run. Results the sinks delivered after the checkpoint are delivered again (see
docs/delivery.md). A manual stop or a failure saves the state of the last consistent
checkpoint again (in-flight data is discarded and replayed at the next start); a rule whose
input ended (every sink saw the end) saves no offsets and no operator state, so the next run
reads its bounded sources from the start, as without QoS. The extension state of a restart in
the same process is the live one, so it may count the replayed input twice.
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
#: namespace of the operator state blobs, one per kept checkpoint: `{rule_id}/{checkpoint id}`
DATA_NAMESPACE = "checkpoint_data"
#: complete checkpoints kept per rule
KEEP = 3

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
        for key in store.keys(DATA_NAMESPACE):
            if key.rpartition("/")[0] == rule_id:
                store.delete(DATA_NAMESPACE, key)


def _data_key(rule_id: str, cp_id: int) -> str:
    return f"{rule_id}/{cp_id}"


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

    def snapshot(self) -> bytes:
        """While held: every operator's and sink's state (`kuiper.state.opstate` blob)."""

    def committed(self, offsets: dict[str, Any]) -> None:
        """The checkpoint holding `offsets` is saved: sources may acknowledge up to them."""

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
        #: the operator states of that checkpoint (`opstate` blob; b"" = none)
        self.op_state = b""
        #: ids of the complete checkpoints kept in the store, oldest first
        self.kept: list[int] = []

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
            self.kept = [int(k) for k in record.get("kept") or []]
            self.op_state = self._read_data(record)
        if found:
            log.info("rule %s: extension state restored from checkpoint %s (%d scope(s))",
                     self.state.rule_id, self.last_id or "?", len(self.state.scopes()))
        return found

    def _read_data(self, record: dict[str, Any]) -> bytes:
        """The operator state blob of a record (b"" when it has none)."""
        if not record.get("ops"):
            return b""
        blob = self.store.get(DATA_NAMESPACE, _data_key(self.state.rule_id, self.last_id))
        if blob is None:
            log.error("rule %s: operator state of checkpoint %d is missing; operators start "
                      "empty", self.state.rule_id, self.last_id)
            return b""
        return blob

    def checkpoint(self, offsets: dict[str, Any] | None = None,
                   op_state: bytes | None = None) -> int:
        """Save the state now; the checkpoint id (ms since the epoch, increasing), 0 on error.

        `offsets` and `op_state` are the source offsets and operator states consistent with
        each other (see the module doc); None keeps those of the last checkpoint, `{}` offsets
        (the input ended) drop both. A failing store is logged and counted (`last_error`),
        never raised: the rule goes on.
        """
        cp_id = max(int(time.time() * 1000), self.last_id + 1)
        keep = self.offsets if offsets is None else offsets
        if offsets is None:
            ops = self.op_state
        else:
            ops = (op_state or b"") if offsets else b""
        rule_id = self.state.rule_id
        kept = [*self.kept, cp_id] if ops else list(self.kept)
        try:
            blob = self.state.snapshot()
            if ops:
                self.store.set(DATA_NAMESPACE, _data_key(rule_id, cp_id), ops)
            record = json.dumps({"id": cp_id, "bytes": len(blob) + len(ops),
                                 "scopes": len(self.state.scopes()), "offsets": keep,
                                 "ops": bool(ops), "kept": kept[-KEEP:]})
            self.store.set(STATE_NAMESPACE, rule_id, blob)
            self.store.set(CHECKPOINT_NAMESPACE, rule_id, record)
        except Exception as exc:  # noqa: BLE001 - a store error must not stop the rule
            self.last_error = f"checkpoint of rule {rule_id} failed: {exc}"
            log.error("%s", self.last_error)
            return 0
        for old in kept[:-KEEP]:  # complete checkpoints beyond the last KEEP
            try:
                self.store.delete(DATA_NAMESPACE, _data_key(rule_id, old))
            except Exception as exc:  # noqa: BLE001 - deleted at the next checkpoint
                log.warning("rule %s: cannot delete checkpoint %d: %s", rule_id, old, exc)
        self.kept = kept[-KEEP:]
        self.last_id = cp_id
        self.offsets = dict(keep)
        self.op_state = ops
        self.count += 1
        log.debug("rule %s: checkpoint %d saved", rule_id, cp_id)
        return cp_id

    async def checkpoint_consistent(self, barrier: Barrier) -> int:
        """Hold the rule at a quiescent point, save the state with the source offsets,
        release it; 0 when the rule did not drain (nothing saved) or on error."""
        try:
            offsets = await barrier.hold()
            if offsets is None:
                log.debug("rule %s: not drained in time, checkpoint skipped", self.state.rule_id)
                return 0
            try:
                ops = barrier.snapshot()
            except Exception as exc:  # noqa: BLE001 - an operator that cannot snapshot
                self.last_error = f"checkpoint of rule {self.state.rule_id} failed: {exc}"
                log.exception("%s", self.last_error)
                return 0
            cp_id = self.checkpoint(offsets, ops)
            if cp_id:
                barrier.committed(offsets)
            return cp_id
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
