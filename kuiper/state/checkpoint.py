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

A checkpoint is a snapshot of the whole rule's state taken on the event loop between two
batches: each operator's state is consistent with the batches it has processed, and the
checkpoint is written synchronously (one small SQLite row). There are no barriers flowing with
the data yet, so the snapshot is not aligned across operators and sources do not rewind: after
a crash, the state is the last checkpoint's and the input since then is not replayed (at most
once for the input, the state as of the checkpoint). A clean stop saves the final state, so a
stop/restart loses nothing. Exactly-once (barrier alignment, source rewind) is future work.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

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
            self.last_id = int(json.loads(meta).get("id", 0))
        if found:
            log.info("rule %s: extension state restored from checkpoint %s (%d scope(s))",
                     self.state.rule_id, self.last_id or "?", len(self.state.scopes()))
        return found

    def checkpoint(self) -> int:
        """Save the state now; the checkpoint id (ms since the epoch, increasing), 0 on error.

        A failing store is logged and counted (`last_error`), never raised: the rule goes on.
        """
        cp_id = max(int(time.time() * 1000), self.last_id + 1)
        try:
            blob = self.state.snapshot()
            self.store.set(STATE_NAMESPACE, self.state.rule_id, blob)
            self.store.set(CHECKPOINT_NAMESPACE, self.state.rule_id, json.dumps(
                {"id": cp_id, "bytes": len(blob), "scopes": len(self.state.scopes())}))
        except Exception as exc:  # noqa: BLE001 - a store error must not stop the rule
            self.last_error = f"checkpoint of rule {self.state.rule_id} failed: {exc}"
            log.error("%s", self.last_error)
            return 0
        self.last_id = cp_id
        self.count += 1
        log.debug("rule %s: checkpoint %d saved", self.state.rule_id, cp_id)
        return cp_id

    async def run_periodic(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Checkpoint every `interval_ms` until cancelled (`sleep` is the rule clock's)."""
        if not self.policy.periodic:
            return
        while True:
            await sleep(self.policy.interval_ms / 1000)
            self.checkpoint()

    def close(self) -> None:
        if self._owned and self._store is not None:
            self._store.close()
            self._store = None
