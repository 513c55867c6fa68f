"""Per-instance extension state (put/get/delete, counters) and its save/restore to the KV store.

One `ExtensionState` holds the state of one extension instance, scoped to
(rule, operator, instance[, function id]). A rule keeps them in a `RuleExtensionState`, whose
`snapshot()` (bytes) a checkpoint stores and whose `restore(blob)` a restarted rule reads back;
`save(store)`/`load(store)` do the same through the KV store, namespace `extension_state`,
one key per rule id.

Serialization is pickle (protocol 5): state values may be any picklable Python object, as in
eKuiper where any value goes. The blob is only read back by this process' code from the
local store, never from the network.
"""
from __future__ import annotations

import copy
import pickle
import threading
from typing import Any

from kuiper.state.kv import KVStore

NAMESPACE = "extension_state"


def scope_key(op_id: str, instance_id: int = 0, func_id: int | None = None) -> str:
    """The key of one instance within a rule: `op/instance[/func]`."""
    key = f"{op_id}/{instance_id}"
    return key if func_id is None else f"{key}/{func_id}"


class ExtensionState:
    """The in-memory state of one extension instance; thread-safe."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = dict(values or {})
        self._lock = threading.Lock()

    def put_state(self, key: str, value: Any) -> None:
        with self._lock:
            self._values[key] = value

    def get_state(self, key: str) -> Any:
        """The value, or None when the key was never put."""
        with self._lock:
            return self._values.get(key)

    def delete_state(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)

    def incr_counter(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self._values[key] = int(self._values.get(key) or 0) + int(amount)

    def get_counter(self, key: str) -> int:
        """The counter's value, 0 when never incremented."""
        with self._lock:
            return int(self._values.get(key) or 0)

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the values (later changes do not leak into it)."""
        with self._lock:
            return copy.deepcopy(self._values)

    def restore(self, values: dict[str, Any]) -> None:
        with self._lock:
            self._values = copy.deepcopy(dict(values))

    def __len__(self) -> int:
        return len(self._values)


class RuleExtensionState:
    """Every extension instance's state of one rule, saved and restored together."""

    def __init__(self, rule_id: str) -> None:
        self.rule_id = rule_id
        self._states: dict[str, ExtensionState] = {}
        self._lock = threading.Lock()

    def instance(self, op_id: str, instance_id: int = 0,
                 func_id: int | None = None) -> ExtensionState:
        """The state of one instance, created empty on first use (or from a restore)."""
        key = scope_key(op_id, instance_id, func_id)
        with self._lock:
            state = self._states.get(key)
            if state is None:
                state = self._states[key] = ExtensionState()
            return state

    def scopes(self) -> list[str]:
        with self._lock:
            return sorted(self._states)

    def snapshot(self) -> bytes:
        """All instances' state as one pickle blob."""
        with self._lock:
            states = dict(self._states)
        data = {key: st.snapshot() for key, st in states.items()}
        return pickle.dumps(data, protocol=5)

    def restore(self, blob: bytes | None) -> None:
        """Replace every instance's state with a snapshot's (None or b"" = empty state).

        Instances already handed out keep their identity and get the restored values.
        """
        data: dict[str, dict[str, Any]] = pickle.loads(blob) if blob else {}
        with self._lock:
            for key, st in self._states.items():
                st.restore(data.get(key, {}))
            for key, values in data.items():
                if key not in self._states:
                    self._states[key] = ExtensionState(values)

    def save(self, store: KVStore) -> None:
        """Write the snapshot to `store` under this rule's id."""
        store.set(NAMESPACE, self.rule_id, self.snapshot())

    def load(self, store: KVStore) -> bool:
        """Restore from `store`; False when nothing was saved for this rule."""
        blob = store.get(NAMESPACE, self.rule_id)
        self.restore(blob)
        return blob is not None

    def discard(self, store: KVStore) -> None:
        """Forget the saved state (a rule deleted, or started fresh)."""
        store.delete(NAMESPACE, self.rule_id)
