"""RuleRunner: one running rule (its topology of asyncio tasks), its lifecycle and status.

Lifecycle: `start()` builds the topology and runs it; the rule ends `stopped` when its input
ends or on `stop()`, and `error` when a node crashes or an extension fails it (a plugin
function raising a `PluginError`, a plugin source/sink calling `ctx.fail_rule`). A failed rule
restarts per its `restartStrategy` (`attempts` times, waiting `delay` ms, multiplied by
`multiplier` each time up to `maxDelay`, ± `jitterFactor`); with `attempts` 0 (eKuiper v2's
default) it stays in the error state with the message. A failure never leaves its rule.

State: the rule's extension state (`RuleExtensionState`: every source, sink and function call
site's `put_state`/counters) is the process' live state of this rule id, bound to the contexts
before the nodes start, so it carries over stop/start and restarts; `kuiper.state.checkpoint`
saves it to the KV store per the QoS options and restores it at the rule's first start.
With qos >= 1 the periodic checkpoints pause and drain the rule (`DrainBarrier`) and save the
source offsets with the state; rewindable sources `rewind` to them when the rule starts.
"""
from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from kuiper.errors import ConfigError
from kuiper.planner.physical import PhysicalPlan
from kuiper.runtime.clock import Clock, SystemClock
from kuiper.runtime.context import (
    FunctionContext,
    NodeContext,
    bind_function_contexts,
    maybe_await,
)
from kuiper.runtime.metrics import RuleStatus
from kuiper.runtime.options import (
    RestartStrategy,
    RuleOptions,
    effective_options,
    parse_rule_options,
)
from kuiper.runtime.shared_source import SourceTap, may_share
from kuiper.runtime.source_node import SourceNode
from kuiper.runtime.topology import Topology, build_topology
from kuiper.state import checkpoint, opstate
from kuiper.state.checkpoint import Checkpointer, CheckpointPolicy
from kuiper.state.extension_state import RuleExtensionState
from kuiper.state.kv import KVStore, open_store

log = logging.getLogger(__name__)

CREATED, RUNNING, STOPPED, ERROR = "created", "running", "stopped", "error"
MAX_RESTART_DELAY_MS = 24 * 3600 * 1000  # a restart waits at most a day, whatever the strategy


def checkpoint_policy(options: RuleOptions, raw: dict[str, Any]) -> CheckpointPolicy:
    """The rule's checkpoint policy: qos, checkpointInterval and enableSaveStateBeforeStop."""
    save = raw.get("enableSaveStateBeforeStop", False)
    if not isinstance(save, bool):
        raise ConfigError(f"option 'enableSaveStateBeforeStop' must be true or false, got {save!r}")
    return CheckpointPolicy(options.qos, options.checkpoint_interval_ms, save)


class DrainBarrier:
    """The rule's quiescent point for a consistent checkpoint (`kuiper.state.checkpoint`):
    pause every source's hand-off loop, then wait until every channel is empty and every
    operator and sink waits on its inbox (or has ended)."""

    def __init__(self, sources: list[SourceNode], consumers: list[tuple[Any, asyncio.Task[Any]]],
                 timeout_s: float) -> None:
        self.sources = sources
        self.consumers = consumers  # (operator or sink node, its task)
        self.timeout_s = timeout_s

    def snapshot(self) -> bytes:
        """Every operator's and sink's state at the quiescent point."""
        return opstate.dumps(opstate.snapshot_nodes(
            [_state_name(node) for node, _task in self.consumers]))

    def committed(self, offsets: dict[str, Any]) -> None:
        for s in self.sources:
            if s.spec.name in offsets:
                s.commit(offsets[s.spec.name])

    def drained(self) -> bool:
        return all(task.done() or (not len(node.inbox) and node.inbox.waiting > 0)
                   for node, task in self.consumers)

    async def hold(self) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        try:
            await asyncio.wait_for(
                asyncio.gather(*(s.pause() for s in self.sources)), self.timeout_s)
        except TimeoutError:
            return None
        while not self.drained():
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.001)
        for node, _task in self.consumers:  # what the sinks buffer reaches its target
            flush = getattr(getattr(node, "sink", None), "flush", None)
            if callable(flush):
                try:
                    await maybe_await(flush())
                except Exception:  # noqa: BLE001 - not flushed: no consistent checkpoint
                    log.exception("sink %s cannot flush for a checkpoint", node.name)
                    return None
        return {s.spec.name: s.offset for s in self.sources
                if s.track_offsets and s.offset is not None}

    def release(self) -> None:
        for s in self.sources:
            s.resume()


def _state_name(node: Any) -> tuple[str, Any]:
    """(name in the checkpoint, object holding the state) of an operator or sink node."""
    op = getattr(node, "op", None)
    return (f"op/{op.name}", op) if op is not None else (f"sink/{node.name}", node)


def restart_delay_ms(strategy: RestartStrategy, attempt: int) -> float:
    """The wait before restart `attempt` (1-based): delay * multiplier^(attempt-1), at most
    maxDelay, then ± jitterFactor of it."""
    try:
        delay = strategy.delay_ms * strategy.multiplier ** max(attempt - 1, 0)
    except OverflowError:
        delay = MAX_RESTART_DELAY_MS
    delay = min(delay, strategy.max_delay_ms) if strategy.max_delay_ms > 0 else delay
    delay = min(delay, MAX_RESTART_DELAY_MS)
    if strategy.jitter_factor > 0:
        delay *= 1 + strategy.jitter_factor * random.uniform(-1.0, 1.0)  # noqa: S311
    return max(delay, 0.0)


class RuleRunner:
    """Runs a PhysicalPlan: `await start()`, then `await wait()` (bounded input) or
    `await stop()`; `status()` any time. Each node is an asyncio task on the current loop.

    `store` is the KV store of checkpoints (or a factory of it); by default the root's
    `{root}/data/sqliteKV.db`, opened only when the rule's options ask for persistence."""

    def __init__(
        self,
        plan: PhysicalPlan,
        root: str = ".",
        *,
        clock: Clock | None = None,
        options: RuleOptions | None = None,
        tick_ms: int = 100,
        store: KVStore | Callable[[], KVStore] | None = None,
    ) -> None:
        self.plan = plan
        self.rule_id = plan.rule.id
        self.root = root
        self.clock = clock or SystemClock()
        raw_options = effective_options(root, plan.rule.options)
        self.options = options or parse_rule_options(raw_options)
        if self.options.is_event_time and not plan.is_windowed:
            log.info("rule %s: isEventTime only changes windowed rules; this one has no window",
                     self.rule_id)
        if self.options.concurrency > 1:
            log.info("rule %s: concurrency %d runs as 1 (keeps order)",
                     self.rule_id, self.options.concurrency)
        self.policy = checkpoint_policy(self.options, raw_options)
        self.tick_ms = tick_ms
        self.topology: Topology | None = None
        self.extension_state: RuleExtensionState | None = None
        self.checkpointer: Checkpointer | None = None
        self.function_contexts: list[FunctionContext] = []
        self.restarts = 0  # restarts after failures since the last start()
        self._store = store if store is not None else (lambda: open_store(root))
        self._state = CREATED
        self._message = ""
        self._tasks: list[asyncio.Task[Any]] = []
        self._connectors: list[asyncio.Task[Any]] = []
        self._aux: list[asyncio.Task[Any]] = []
        self._supervisor: asyncio.Task[Any] | None = None
        self._restart_task: asyncio.Task[Any] | None = None
        self._failing: asyncio.Task[Any] | None = None
        self._failure = ""  # the first extension failure of this run
        self._done = asyncio.Event()
        self._last_start_ms = 0
        self._last_stop_ms = 0
        self._next_start_ms = 0  # a restart is due then (0: none pending)
        self._closing = False
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    @property
    def state(self) -> str:
        return self._state

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def start(self) -> None:
        """Build the nodes (connector configuration errors raise here) and start them."""
        if self._state == RUNNING:
            return
        self._cancel_restart()
        self._done = asyncio.Event()
        self._stop_requested = False
        self.restarts = 0
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        await self._launch()

    # --- starting ---------------------------------------------------------------------
    def _bind_state(self) -> RuleExtensionState:
        """The rule's live extension state; at its first start in this process, restored from
        the last checkpoint when the options make the state persistent."""
        state, fresh = checkpoint.rule_state(self.rule_id, self.root)
        if self.checkpointer is None or self.checkpointer.state is not state:
            if self.checkpointer is not None:
                self.checkpointer.close()
            self.checkpointer = Checkpointer(state, self.policy, self._store)
        if fresh and self.policy.persistent:
            try:
                self.checkpointer.restore()
            except Exception as exc:  # noqa: BLE001 - a bad store or blob: start empty
                log.error("rule %s: cannot restore its saved state, starting empty: %s",
                          self.rule_id, exc)
        self.extension_state = state
        return state

    def _bind_contexts(self, topo: Topology, state: RuleExtensionState) -> None:
        """Every node context and function call site gets its state scope and the failure hook."""
        for node in (*topo.sources, *topo.operators, *topo.sinks):
            if isinstance(node, SourceTap):
                name = node.spec.name
                node.shared.bind_state(state.instance(name, 0))
                continue
            ctx = getattr(node, "ctx", None)
            if isinstance(ctx, NodeContext):
                ctx.bind_state(state.instance(ctx.get_op_id(), ctx.get_instance_id()))
                ctx.bind_failure(self._extension_failed)
        self.function_contexts = bind_function_contexts(
            [n.op for n in topo.operators], state, self.root)
        for ctx in self.function_contexts:
            ctx.bind_failure(self._extension_failed)

    async def _launch(self) -> None:
        self._next_start_ms = 0
        self._closing = False
        self._failing = None
        self._failure = ""
        state = self._bind_state()
        share = may_share(self.plan, self.options, self.policy.persistent)
        topo = build_topology(self.plan, self.options, self.root, self.clock, self.tick_ms,
                              share=share)
        if not self._restore_operators(topo):  # partly restored: start from fresh nodes
            topo = build_topology(self.plan, self.options, self.root, self.clock, self.tick_ms,
                                  share=share)
            self._prepare_checkpoints(topo)
        self.topology = topo
        self._bind_contexts(topo, state)
        self._rewind_sources(topo)
        for sink in topo.sinks:
            await sink.open()
        self._state, self._message = RUNNING, ""
        self._last_start_ms = self.clock.now_ms()
        for fctx in self.function_contexts:  # rule_start()
            fctx.rule_start_ms = self._last_start_ms
        name = f"rule-{self.rule_id}"
        self._tasks = [asyncio.create_task(s.run(), name=f"{name}-sink-{s.name}") for s in topo.sinks]
        self._tasks += [
            asyncio.create_task(o.run(), name=f"{name}-op-{o.op.name}")
            for o in (topo.operators if not topo.fused else ())
        ]
        own = [s for s in topo.sources if isinstance(s, SourceNode)]
        self._tasks += [
            asyncio.create_task(s.run(), name=f"{name}-src-{s.spec.name}") for s in own
        ]
        self._connectors = [
            asyncio.create_task(s.run_connector(), name=f"{name}-conn-{s.spec.name}")
            for s in own
        ]
        for tap in topo.sources:
            if isinstance(tap, SourceTap):  # a shared source feeds the rule from now on
                tap.on_fail = self._extension_failed
                tap.attach()
        self._aux = []
        if self.checkpointer is not None and self.policy.periodic:
            # self._tasks: the sinks' then the operators' (then the sources')
            consumers = list(zip([*topo.sinks, *topo.operators], self._tasks, strict=False))
            barrier = DrainBarrier(topo.sources, consumers,
                                   max(5.0, self.policy.interval_ms / 1000))
            self._aux.append(asyncio.create_task(
                self.checkpointer.run_periodic(self.clock.sleep, barrier),
                name=f"{name}-checkpoint"))
        self._supervisor = asyncio.create_task(self._supervise(), name=f"{name}-supervisor")

    def _prepare_checkpoints(self, topo: Topology) -> bool:
        """Sinks' caches write through; sources that acknowledge at checkpoints are told so.
        True when every stream source replays what came after a checkpoint (it rewinds, or
        its broker redelivers what it did not acknowledge): then sinks may drop what they
        got after the checkpoint, since it comes again."""
        for sink in topo.sinks:
            sink.checkpointed()
        replay = True
        for node in topo.sources:
            begin = getattr(node.source, "checkpointed", None)
            acknowledges = bool(begin()) if callable(begin) else False
            if not node.is_table:
                replay = replay and (acknowledges
                                     or callable(getattr(node.source, "rewind", None)))
        return replay

    def _restore_operators(self, topo: Topology) -> bool:
        """qos >= 1: operators and sinks start from the state of the checkpoint the sources
        rewind to (the restored one, or the last one of this process)."""
        if self.options.qos < 1 or self.checkpointer is None:
            return True
        replay = self._prepare_checkpoints(topo)
        blob = self.checkpointer.op_state
        if not blob:
            return True
        for sink in topo.sinks:
            sink.replay = replay
        nodes = [_state_name(n) for n in (*topo.operators, *topo.sinks)]
        try:
            done = opstate.restore_nodes(nodes, opstate.loads(blob))
        except Exception as exc:  # noqa: BLE001 - a state the plan no longer fits: start empty
            log.error("rule %s: cannot restore its operators' state, starting them empty: %s",
                      self.rule_id, exc)
            return False
        log.info("rule %s: %d operator/sink state(s) restored from checkpoint %s",
                 self.rule_id, done, self.checkpointer.last_id)
        return True

    def _rewind_sources(self, topo: Topology) -> None:
        """qos >= 1: sources record their offsets; rewindable ones rewind to the checkpoint's."""
        if self.options.qos < 1 or self.checkpointer is None:
            return
        offsets = self.checkpointer.offsets
        for node in topo.sources:
            # a scan table is read whole at each start (its rows are not checkpointed)
            if node.is_table or not callable(getattr(node.source, "get_offset", None)):
                continue
            node.track_offsets = True
            offset = offsets.get(node.spec.name)
            if offset is None or not callable(getattr(node.source, "rewind", None)):
                continue
            try:
                node.rewind(offset)
                log.info("rule %s: source %s rewound to %s", self.rule_id, node.spec.name,
                         offset)
            except Exception as exc:  # noqa: BLE001 - a bad offset: read from the start
                log.error("rule %s: source %s cannot rewind to %r, reading from its start: %s",
                          self.rule_id, node.spec.name, offset, exc)

    # --- running, failing -------------------------------------------------------------
    async def _supervise(self) -> None:
        """Finish when every sink has seen the end of input; fail the rule if a node crashes."""
        try:
            pending = set(self._tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        exc = task.exception()
                        log.error("rule %s: node %s crashed: %s", self.rule_id,
                                  task.get_name(), exc, exc_info=exc)
                        await self._shutdown(ERROR, f"{_node_name(task, self.rule_id)}: {exc}")
                        return
            # input ended; an extension failure reported meanwhile still fails the rule
            await self._shutdown(ERROR if self._failure else STOPPED, self._failure,
                                 input_ended=True)
        except asyncio.CancelledError:
            pass

    def _extension_failed(self, op_id: str, error: BaseException | str) -> None:
        """`ctx.fail_rule` of a source, sink or function: fail the rule (from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        message = f"{op_id}: {error}"
        if threading.get_ident() == self._loop_thread:
            self._fail_soon(message)
        else:
            loop.call_soon_threadsafe(self._fail_soon, message)

    def _fail_soon(self, message: str) -> None:
        if self._state != RUNNING or self._closing or self._failing is not None:
            return
        log.error("rule %s failed: %s", self.rule_id, message)
        self._failure = message
        self._failing = asyncio.create_task(self._fail(message), name=f"rule-{self.rule_id}-fail")

    async def _fail(self, message: str) -> None:
        if self._closing:
            return
        sup = self._supervisor
        if sup is not None and not sup.done():
            sup.cancel()
            await asyncio.gather(sup, return_exceptions=True)
        if not self._closing:
            await self._shutdown(ERROR, message)

    async def _shutdown(self, state: str, message: str, *, input_ended: bool = False) -> None:
        self._closing = True
        topo = self.topology
        for task in self._aux + self._connectors + self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._aux, *self._connectors, *self._tasks, return_exceptions=True)
        if topo is not None:
            for src in topo.sources:
                await src.close()
            for sink in topo.sinks:
                await sink.close()
        if self.checkpointer is not None and self.policy.persistent:
            # in-flight data was discarded: keep the last consistent offsets, unless the whole
            # input was processed (the next run reads bounded sources from the start)
            self.checkpointer.checkpoint({} if input_ended else None)
        self._ended(state, message)

    def _ended(self, state: str, message: str) -> None:
        """The nodes are down: restart per the strategy, or settle in `state`."""
        if self._stop_requested and state == ERROR:  # a stop asked for while failing wins
            state, message = STOPPED, "canceled manually"
        self._state, self._message = state, message
        self._last_stop_ms = self.clock.now_ms()
        if state == ERROR and self._may_restart():
            self.restarts += 1
            delay = restart_delay_ms(self.options.restart_strategy, self.restarts)
            attempts = self.options.restart_strategy.attempts
            self._message = (f"{message} (restarting in {delay:.0f} ms, "
                             f"attempt {self.restarts} of {attempts})")
            log.warning("rule %s: %s", self.rule_id, self._message)
            self._next_start_ms = self._last_stop_ms + int(delay)
            self._restart_task = asyncio.create_task(
                self._restart_later(delay), name=f"rule-{self.rule_id}-restart")
            return
        self._finished()

    def _may_restart(self) -> bool:
        return (not self._stop_requested
                and self.restarts < self.options.restart_strategy.attempts)

    def _finished(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        self._done.set()

    async def _restart_later(self, delay_ms: float) -> None:
        try:
            await self.clock.sleep(delay_ms / 1000)
            if self._stop_requested:
                return
            log.info("rule %s: restarting (attempt %d)", self.rule_id, self.restarts)
            await self._launch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a restart that cannot build its nodes
            log.error("rule %s: restart failed: %s", self.rule_id, exc)
            self._ended(ERROR, f"restart failed: {exc}")

    def _cancel_restart(self) -> None:
        task, self._restart_task = self._restart_task, None
        if task is not None and not task.done():
            task.cancel()

    # --- stopping -----------------------------------------------------------------------
    async def stop(self) -> None:
        """Stop now: sources are closed, in-flight data is discarded, sinks are closed."""
        self._stop_requested = True
        if self._restart_task is not None and not self._restart_task.done():
            self._cancel_restart()
            self._state, self._message = STOPPED, "canceled manually"
            self._last_stop_ms = self.clock.now_ms()
            self._finished()
            return
        if self._state != RUNNING:
            return
        if self._closing:
            await self._done.wait()
            return
        sup = self._supervisor
        if sup is not None:
            sup.cancel()
            await asyncio.gather(sup, return_exceptions=True)
        if not self._done.is_set() and not self._closing:
            await self._shutdown(STOPPED, "canceled manually")
        elif not self._done.is_set():
            await self._done.wait()

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until the rule has finished (all input processed and sinks closed, or failed
        with no restart left); False on timeout."""
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def brief(self) -> tuple[str, str]:
        """(state, message) as `status()` has them, without collecting the metrics."""
        return (self._state if self._state != CREATED else STOPPED), self._message

    def status(self) -> RuleStatus:
        nodes = self.topology.nodes_metrics() if self.topology else []
        return RuleStatus(
            status=self._state if self._state != CREATED else STOPPED,
            nodes=nodes,
            message=self._message,
            last_start_ms=self._last_start_ms,
            last_stop_ms=self._last_stop_ms,
            next_start_ms=self._next_start_ms if self._restart_task is not None
            and not self._restart_task.done() else 0,
            restarts=self.restarts,
        )

    def metrics(self) -> dict[str, Any]:
        """Flat eKuiper metric keys -> values."""
        return self.status().metrics()


def _node_name(task: asyncio.Task[Any], rule_id: str) -> str:
    """`rule-r1-op-2_project` -> `op 2_project` (the node a message is about)."""
    name = task.get_name().removeprefix(f"rule-{rule_id}-")
    kind, _, rest = name.partition("-")
    return f"{kind} {rest}" if rest else name
