"""RuleRunner: one running rule (its topology of asyncio tasks), its lifecycle and status."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from kuiper.errors import ConfigError
from kuiper.planner.physical import PhysicalPlan
from kuiper.runtime.clock import Clock, SystemClock
from kuiper.runtime.metrics import RuleStatus
from kuiper.runtime.options import RuleOptions, parse_rule_options
from kuiper.runtime.topology import Topology, build_topology

log = logging.getLogger(__name__)

CREATED, RUNNING, STOPPED, ERROR = "created", "running", "stopped", "error"


class RuleRunner:
    """Runs a PhysicalPlan: `await start()`, then `await wait()` (bounded input) or
    `await stop()`; `status()` any time. Each node is an asyncio task on the current loop."""

    def __init__(
        self,
        plan: PhysicalPlan,
        root: str = ".",
        *,
        clock: Clock | None = None,
        options: RuleOptions | None = None,
        tick_ms: int = 100,
    ) -> None:
        self.plan = plan
        self.rule_id = plan.rule.id
        self.root = root
        self.clock = clock or SystemClock()
        self.options = options or parse_rule_options(plan.rule.options)
        if self.options.is_event_time and not plan.is_windowed:
            raise ConfigError(
                "isEventTime is not supported yet: windows and event time land with issue 6",
                hint='remove "isEventTime" from the rule options',
            )
        if self.options.concurrency > 1:
            log.info("rule %s: concurrency %d runs as 1 (keeps order)",
                     self.rule_id, self.options.concurrency)
        self.tick_ms = tick_ms
        self.topology: Topology | None = None
        self._state = CREATED
        self._message = ""
        self._tasks: list[asyncio.Task[Any]] = []
        self._connectors: list[asyncio.Task[Any]] = []
        self._done = asyncio.Event()
        self._last_start_ms = 0
        self._last_stop_ms = 0
        self._closing = False

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
        self._done = asyncio.Event()
        self._closing = False
        topo = build_topology(self.plan, self.options, self.root, self.clock, self.tick_ms)
        self.topology = topo
        for sink in topo.sinks:
            await sink.open()
        self._state, self._message = RUNNING, ""
        self._last_start_ms = self.clock.now_ms()
        name = f"rule-{self.rule_id}"
        self._tasks = [asyncio.create_task(s.run(), name=f"{name}-sink-{s.name}") for s in topo.sinks]
        self._tasks += [
            asyncio.create_task(o.run(), name=f"{name}-op-{o.op.name}") for o in topo.operators
        ]
        self._tasks += [
            asyncio.create_task(s.run(), name=f"{name}-src-{s.spec.name}") for s in topo.sources
        ]
        self._connectors = [
            asyncio.create_task(s.run_connector(), name=f"{name}-conn-{s.spec.name}")
            for s in topo.sources
        ]
        self._supervisor = asyncio.create_task(self._supervise(), name=f"{name}-supervisor")

    async def _supervise(self) -> None:
        """Finish when every sink has seen the end of input; fail the rule if a node crashes."""
        try:
            pending = set(self._tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        exc = task.exception()
                        log.error("rule %s: node %s crashed: %r", self.rule_id,
                                  task.get_name(), exc, exc_info=exc)
                        await self._shutdown(ERROR, f"{task.get_name()}: {exc}")
                        return
            await self._shutdown(STOPPED, "")
        except asyncio.CancelledError:
            pass

    async def _shutdown(self, state: str, message: str) -> None:
        self._closing = True
        topo = self.topology
        for task in self._connectors + self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._connectors, *self._tasks, return_exceptions=True)
        if topo is not None:
            for src in topo.sources:
                await src.close()
            for sink in topo.sinks:
                await sink.close()
        self._state, self._message = state, message
        self._last_stop_ms = self.clock.now_ms()
        self._done.set()

    async def stop(self) -> None:
        """Stop now: sources are closed, in-flight data is discarded, sinks are closed."""
        if self._state != RUNNING:
            return
        if self._closing:
            await self._done.wait()
            return
        sup = self._supervisor
        sup.cancel()
        await asyncio.gather(sup, return_exceptions=True)
        if not self._done.is_set():
            await self._shutdown(STOPPED, "canceled manually")

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until the rule has finished (all input processed and sinks closed); False on timeout."""
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def status(self) -> RuleStatus:
        nodes = self.topology.nodes_metrics() if self.topology else []
        return RuleStatus(
            status=self._state if self._state != CREATED else STOPPED,
            nodes=nodes,
            message=self._message,
            last_start_ms=self._last_start_ms,
            last_stop_ms=self._last_stop_ms,
        )

    def metrics(self) -> dict[str, Any]:
        """Flat eKuiper metric keys -> values."""
        return self.status().metrics()
