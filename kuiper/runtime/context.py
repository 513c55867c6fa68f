"""The concrete Contexts extensions receive: identity, logger, state, and the call-site binding.

A node's context (`NodeContext`: sources, sinks, operators) and a function call site's context
(`FunctionContext`) keep their state in an `ExtensionState` of the rule's
`RuleExtensionState`, scoped to (rule, op, instance[, func id]); the rule runner binds them
(`bind_state`) before the rule starts, so state is saved with checkpoints and restored when the
rule restarts. Until bound, a context holds private in-memory state.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from kuiper.api.contract import Context
from kuiper.state.extension_state import ExtensionState, RuleExtensionState

log = logging.getLogger(__name__)

#: called with (op id, error) when an extension fails its rule (see `NodeContext.fail_rule`)
FailureHandler = Callable[[str, BaseException | str], None]


async def maybe_await(value: Any) -> Any:
    """The result of a connector call that may be a plain value or an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


class NodeContext(Context):
    """Identity and state of one node instance."""

    def __init__(self, rule_id: str, op_id: str, instance_id: int = 0, root: str = ".",
                 state: ExtensionState | None = None) -> None:
        self._rule_id = rule_id
        self._op_id = op_id
        self._instance_id = instance_id
        self._root = root
        self._logger = logging.getLogger(f"kuiper.rule.{rule_id}.{op_id}")
        self._state = state if state is not None else ExtensionState()
        self._on_fail: FailureHandler | None = None
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
    def bind_state(self, state: ExtensionState) -> None:
        """Keep this instance's state in `state` (the rule's, saved with its checkpoints)."""
        self._state = state

    @property
    def state(self) -> ExtensionState:
        return self._state

    def put_state(self, key: str, value: Any) -> None:
        self._state.put_state(key, value)

    def get_state(self, key: str) -> Any:
        return self._state.get_state(key)

    def delete_state(self, key: str) -> None:
        self._state.delete_state(key)

    def incr_counter(self, key: str, amount: int = 1) -> None:
        self._state.incr_counter(key, amount)

    def get_counter(self, key: str) -> int:
        return self._state.get_counter(key)

    def snapshot_state(self) -> dict[str, Any]:
        """A copy of the state (for checkpoints)."""
        return self._state.snapshot()

    def restore_state(self, state: dict[str, Any]) -> None:
        self._state.restore(state)

    # --- failure ------------------------------------------------------------------------
    def bind_failure(self, handler: FailureHandler | None) -> None:
        self._on_fail = handler

    def fail_rule(self, error: BaseException | str) -> bool:
        """Fail the rule this instance runs in (a plugin's fault): it goes to the error state
        or restarts per its restartStrategy. Safe from any thread; False when no rule
        listens (a context used outside a running rule)."""
        if self._on_fail is None:
            return False
        self._on_fail(self._op_id, error)
        return True

    # --- sinks don't emit ----------------------------------------------------------------
    async def drain(self) -> None:
        await asyncio.sleep(0)


class FunctionContext(NodeContext):
    """The context of one function call site: a node context plus `get_func_id()`.

    `rule_start_ms` is when the rule last started (rule_start() reads it)."""

    rule_start_ms: int = 0

    def __init__(self, rule_id: str, op_id: str, func_id: int, instance_id: int = 0,
                 root: str = ".", state: ExtensionState | None = None) -> None:
        super().__init__(rule_id, op_id, instance_id, root, state)
        self._func_id = func_id

    def get_func_id(self) -> int:
        return self._func_id


# --- call sites -----------------------------------------------------------------------------
_LEAVES = (str, bytes, int, float, bool, type(None), np.ndarray, np.generic)
# objects of these packages hold no call sites of the rule (data, definitions, connectors)
_OPAQUE = ("kuiper.api.", "kuiper.functions.", "kuiper.plugins.", "kuiper.external.",
           "kuiper.io.", "kuiper.catalog.")


def _attributes(obj: Any) -> list[Any]:
    values = list(getattr(obj, "__dict__", {}).values())
    for klass in type(obj).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if slot != "__dict__" and hasattr(obj, slot):
                values.append(getattr(obj, slot))
    return values


def function_sites(root: Any) -> Iterator[Any]:
    """The function call sites in an operator's expressions, in a stable order: objects with
    a `func_id` (plugin/external `Call` nodes, plugin aggregates) and a bindable `func_ctx`."""
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack:
        obj = stack.pop()
        if isinstance(obj, _LEAVES) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            children = list(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            children = list(obj)
        else:
            module = type(obj).__module__ or ""
            if not module.startswith("kuiper.") or module.startswith(_OPAQUE):
                continue
            if getattr(obj, "func_id", None) is not None and hasattr(obj, "func_ctx"):
                yield obj
            children = _attributes(obj)
        stack.extend(reversed(children))


def bind_function_contexts(operators: list[Any], rule_state: RuleExtensionState, root: str,
                           ) -> list[FunctionContext]:
    """Give every plugin/external call site of the rule its FunctionContext, its state in
    `rule_state` under (op, 0, func id); returns the contexts (in operator order)."""
    rule_id = rule_state.rule_id
    sites: list[tuple[str, Any]] = []
    claimed: set[int] = set()
    for op in operators:
        for site in function_sites(op):
            if id(site) not in claimed:
                claimed.add(id(site))
                sites.append((op.name, site))
    next_id = max((s.func_id for _, s in sites if s.func_id >= 0), default=-1) + 1
    out: list[FunctionContext] = []
    for op_name, site in sites:
        if site.func_id < 0:  # compiled outside the planner: numbered after the SQL's calls
            site.func_id, next_id = next_id, next_id + 1
        state = rule_state.instance(op_name, 0, site.func_id)
        ctx = FunctionContext(rule_id, op_name, site.func_id, 0, root, state)
        site.func_ctx = ctx
        out.append(ctx)
    if out:
        log.debug("rule %s: %d function call site(s) bound", rule_id, len(out))
    return out
