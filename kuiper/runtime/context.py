"""The concrete Context every connector instance receives: identity, logger, in-memory state."""
from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from kuiper.api.contract import Context


async def maybe_await(value: Any) -> Any:
    """The result of a connector call that may be a plain value or an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


class NodeContext(Context):
    """Identity and state of one node instance (state lives in memory until checkpoints land)."""

    def __init__(self, rule_id: str, op_id: str, instance_id: int = 0, root: str = ".") -> None:
        self._rule_id = rule_id
        self._op_id = op_id
        self._instance_id = instance_id
        self._root = root
        self._logger = logging.getLogger(f"kuiper.rule.{rule_id}.{op_id}")
        self._state: dict[str, Any] = {}
        self.current_meta: list[dict[str, Any]] = []

    def get_logger(self) -> logging.Logger:
        return self._logger

    def get_rule_id(self) -> str:
        return self._rule_id

    def get_op_id(self) -> str:
        return self._op_id

    def get_instance_id(self) -> int:
        return self._instance_id

    def get_root_path(self) -> str:
        return self._root

    # --- state ------------------------------------------------------------------------
    def put_state(self, key: str, value: Any) -> None:
        self._state[key] = value

    def get_state(self, key: str) -> Any:
        return self._state.get(key)

    def delete_state(self, key: str) -> None:
        self._state.pop(key, None)

    def incr_counter(self, key: str, amount: int = 1) -> None:
        self._state[key] = int(self._state.get(key) or 0) + amount

    def get_counter(self, key: str) -> int:
        return int(self._state.get(key) or 0)

    def snapshot_state(self) -> dict[str, Any]:
        """A copy of the state (for checkpoints)."""
        return dict(self._state)

    def restore_state(self, state: dict[str, Any]) -> None:
        self._state = dict(state)

    # --- sinks don't emit ----------------------------------------------------------------
    async def drain(self) -> None:
        await asyncio.sleep(0)
