"""An operator node: the loop that feeds one Operator its input, with metrics and error routing."""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from kuiper.api.batch import Batch
from kuiper.errors import PluginError
from kuiper.operators.base import Operator
from kuiper.runtime.channel import Channel, EndOfInput, ErrorMessage, Tick
from kuiper.runtime.clock import Clock
from kuiper.runtime.context import NodeContext, maybe_await
from kuiper.runtime.limits import window_rows_error
from kuiper.runtime.metrics import NodeMetrics
from kuiper.runtime.options import RuleOptions

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Input:
    """A batch from input `index` of an operator with several inputs (joins, tables)."""

    batch: Batch
    index: int

    @property
    def n(self) -> int:
        return self.batch.n


@dataclass(frozen=True, slots=True)
class InputEnd(EndOfInput):
    """Input `index` of a several-input operator has ended (its watermark goes to the end)."""

    index: int = 0


class OperatorMetrics(NodeMetrics):
    """Node metrics plus what the operator counts itself (`op.metrics()`: late_rows_total ...),
    so e.g. a window's late rows show as `op_2_window_0_late_rows_total`."""

    __slots__ = ("op",)

    def __init__(self, op: Operator, *, track_drops: bool) -> None:
        super().__init__("op", op.name, track_drops=track_drops)
        self.op = op

    def values(self) -> dict[str, Any]:
        out = super().values()
        extra = getattr(self.op, "metrics", None)
        if callable(extra):
            out.update(extra())
        return out


def runs_inline(op: Operator) -> bool:
    """An operator a shared source may run in its own hand-off (no task of its own): no
    timers, no connections to open, a synchronous `process`, one input."""
    return (not op.needs_timer and getattr(op, "lookup_table", None) is None
            and not callable(getattr(op, "open", None))
            and not callable(getattr(op, "close", None))
            and not inspect.iscoroutinefunction(op.process))


async def forward(outputs: list[Channel], batch: Batch | None) -> int:
    """Put a non-empty batch into every output; the rows sent."""
    if batch is None or batch.n == 0:
        return 0
    for ch in outputs:
        await ch.put(batch)
    return batch.n


def slice_emissions(batch: Batch, start: int, stop: int) -> Batch:
    """Rows [start, stop) with the emissions they hold (cuts fall on emission bounds)."""
    part = batch.slice(start, stop)
    if batch.emission_bounds is not None:
        b = batch.emission_bounds
        inner = b[(b > start) & (b < stop)] - start
        part.emission_bounds = np.concatenate([[0], inner, [stop - start]]).astype(np.int64)
    return part


def forward_control(outputs: list[Channel], item: EndOfInput | ErrorMessage) -> None:
    for ch in outputs:
        ch.put_control(item)


class OperatorNode:
    """Runs `op.process` on each batch in order; `finish()` once every upstream has ended.

    An exception in the operator is counted (exceptions_total, last_exception) and logged, the
    batch is dropped, and with sendError an `{"error": ...}` message goes on to the sinks.
    Rows an operator drops itself (`take_errors()`) are counted one exception per row."""

    def __init__(
        self,
        op: Operator,
        inbox: Channel,
        outputs: list[Channel],
        *,
        upstreams: int,
        rule_id: str,
        options: RuleOptions,
        clock: Clock,
        tick_ms: int = 100,
        root: str = ".",
    ) -> None:
        self.op = op
        self.inbox = inbox
        self.outputs = outputs
        self.upstreams = max(1, upstreams)
        self.rule_id = rule_id
        self.options = options
        self.clock = clock
        self.tick_ms = tick_ms
        self.metrics = OperatorMetrics(op, track_drops=options.drops_oldest)
        self.metrics.buffer_length_fn = lambda: inbox.rows
        self.ctx = NodeContext(rule_id, op.name, 0, root)
        self.finished = asyncio.Event()  # set once the operator has seen the end of its input
        # windows hold rows until they close: at most maxWindowRows, the rest is refused
        self._row_limit = options.max_window_rows if getattr(
            op, "holds_window_rows", False) else 0

    async def run(self) -> None:
        timer = asyncio.create_task(self._ticks()) if self.op.needs_timer else None
        ended = 0
        opener = getattr(self.op, "open", None)
        try:
            if callable(opener):  # operators holding connections (lookup tables)
                await maybe_await(opener(self.ctx))
            while True:
                item = await self.inbox.get()
                if isinstance(item, Batch):
                    self.metrics.records_in_total += item.n
                    batch = self._within_row_limit(item) if self._row_limit else item
                    if batch.n or batch is item:
                        await self._call(self.op.process, batch)
                elif isinstance(item, Input):
                    self.metrics.records_in_total += item.n
                    batch = (self._within_row_limit(item.batch) if self._row_limit
                             else item.batch)
                    if batch.n or batch is item.batch:
                        await self._call(self.op.process, batch, item.index)
                elif isinstance(item, Tick):
                    await self._call(self.op.on_time, item.now_ms)
                elif isinstance(item, ErrorMessage):
                    forward_control(self.outputs, item)
                elif isinstance(item, EndOfInput):
                    end_input = getattr(self.op, "end_input", None)
                    if isinstance(item, InputEnd) and callable(end_input):
                        await self._call(end_input, item.index)
                    ended += 1
                    if ended >= self.upstreams:
                        await self._call(self.op.finish)
                        forward_control(self.outputs, EndOfInput(item.message))
                        return
        finally:
            if timer is not None:
                timer.cancel()
            self.finished.set()
            closer = getattr(self.op, "close", None)
            if callable(closer):
                try:
                    await maybe_await(closer(self.ctx))
                except Exception as exc:  # noqa: BLE001 - counted, the rule ends anyway
                    self.metrics.exception(exc)

    async def _call(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        self.metrics.invoked()
        t0 = time.perf_counter_ns()
        try:
            out = fn(*args)
            if inspect.isawaitable(out):  # an operator that queries a connector (lookup join)
                out = await out
        except Exception as exc:
            self._failed(exc)
            return
        out, positioned = self._called(fn, t0, out)
        if positioned and self.options.send_error:
            self.metrics.records_out_total += await self._forward_with_errors(out, positioned)
            return
        self.metrics.records_out_total += await forward(self.outputs, out)

    def call_now(self, fn, *args) -> Batch | None:  # type: ignore[no-untyped-def]
        """Inline (fused) execution of a synchronous operator (`runs_inline`): `fn(*args)` with
        the node's metrics and error routing; the non-empty output, counted as sent, or None.
        A PluginError propagates (the caller fails the rule)."""
        self.metrics.invoked()
        t0 = time.perf_counter_ns()
        try:
            out = fn(*args)
        except Exception as exc:
            self._failed(exc)
            return None
        # positioned row errors exist only with sendError, which never runs inline
        out, _ = self._called(fn, t0, out)
        if out is None or out.n == 0:
            return None
        self.metrics.records_out_total += out.n
        return out

    def process_now(self, batch: Batch) -> Batch | None:
        self.metrics.records_in_total += batch.n
        return self.call_now(self.op.process, batch)

    def _failed(self, exc: Exception) -> None:
        self.metrics.exception(exc)
        if isinstance(exc, PluginError):  # a plugin's fault: fails (or restarts) the rule
            raise exc
        log.warning("rule %s: operator %s failed, its input is dropped: %s",
                    self.rule_id, self.op.name, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        if self.options.send_error:
            forward_control(self.outputs, ErrorMessage(str(exc)))

    def _called(self, fn, t0: int,  # type: ignore[no-untyped-def]
                out: Any) -> tuple[Any, list[tuple[int, str]]]:
        """Latency, the operator's row errors; (the output, positioned errors to send)."""
        if fn == self.op.process:
            self.metrics.process_latency_us = (time.perf_counter_ns() - t0) // 1000
        take_rows = getattr(self.op, "take_row_errors", None)
        positioned = take_rows(self.options.send_error) if take_rows is not None else []
        take = getattr(self.op, "take_errors", None)
        if take is not None:
            for count, message in take():
                self._row_errors(count, message, send=not positioned)
        return out, positioned

    def _within_row_limit(self, batch: Batch) -> Batch:
        """The rows of `batch` the window has room for; the others are refused, each
        counted as an exception (and an error row with sendError)."""
        held = int(self.op.state_size())  # type: ignore[attr-defined]
        room = max(self._row_limit - held, 0)
        if batch.n <= room:
            return batch
        refused = batch.n - room
        self._row_errors(refused, window_rows_error(held, refused, self._row_limit))
        return batch.slice(0, room)

    async def _forward_with_errors(self, out: Batch | None, errors: list[tuple[int, str]]) -> int:
        """The output with each row error sent at its position (sendError), in input order."""
        sent = 0
        start = 0
        n = 0 if out is None else out.n
        for pos, message in sorted(errors, key=lambda e: e[0]):
            pos = min(max(pos, start), n)
            if pos > start and out is not None:
                sent += await forward(self.outputs, slice_emissions(out, start, pos))
            forward_control(self.outputs, ErrorMessage(message))
            start = pos
        if out is not None and start < n:
            sent += await forward(self.outputs, out if start == 0 else slice_emissions(out, start, n))
        return sent

    def _row_errors(self, count: int, message: str, *, send: bool = True) -> None:
        """Rows the operator dropped because an expression failed on them: each one counts."""
        m = self.metrics
        m.exceptions_total += count - 1
        m.exception(message)
        log.warning("rule %s: operator %s dropped %d row(s): %s",
                    self.rule_id, self.op.name, count, message)
        if self.options.send_error and send:
            for _ in range(count):
                forward_control(self.outputs, ErrorMessage(message))

    async def _ticks(self) -> None:
        while True:
            await self.clock.sleep(self.tick_ms / 1000)
            self.inbox.put_control(Tick(self.clock.now_ms()))
