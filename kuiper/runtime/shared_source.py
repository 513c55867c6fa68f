"""Shared sources: rules that read the same stream share one connector, decoder and batch.

Identical sources (same TYPE, DATASOURCE, CONF_KEY, FORMAT, declared schema and other stream
options, same root and maxBatchSize) are opened once per event loop. The shared `SourceNode`
decodes each hand-off once, with the union of the subscribing rules' columns (a rule that
needs a column the running decoder does not decode widens it at the next batch boundary),
and puts a shallow copy of the batch (same column arrays) into each rule's first channel.

A rule subscribes with a `SourceTap` (its node in the rule's topology): `attach()` when the
rule starts (it receives the batches handed off from then on), `close()` when it stops; the
last subscriber leaving closes the connector. A bounded source (a file read once) accepts new
subscribers only until it opens: rules started together (`SharedSources.hold()`) share one
read, a rule started later reads the file again from its own shared source.

Back-pressure: the shared source puts into every subscriber's channel in turn, so with the
`block` policy one slow rule holds the source for all of them (as one rule's slow sink holds
that rule); `dropOldest` rules never hold it. Rules with qos >= 1 or persistent state never
share (their sources rewind to their own checkpointed offsets), nor do rules with several
inputs (joins, tables), streams with SHARED="false" or rules with option sharedSource false.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kuiper.api.batch import Batch
from kuiper.errors import PluginError
from kuiper.expr.nodes import And, Arith, Compare, Const, FieldRef, MetaRef, Node, Not, Or
from kuiper.expr.rulefuncs import walk
from kuiper.operators.base import Operator
from kuiper.operators.filter import FilterOp
from kuiper.operators.project import ProjectOp
from kuiper.planner.physical import PhysicalPlan, SourceSpec
from kuiper.runtime.channel import Channel, EndOfInput, ErrorMessage
from kuiper.runtime.clock import Clock
from kuiper.runtime.metrics import NodeMetrics
from kuiper.runtime.node import OperatorNode
from kuiper.runtime.options import RuleOptions
from kuiper.runtime.registry import build_decoder, build_source
from kuiper.runtime.sink_node import SinkNode
from kuiper.runtime.source_node import SourceNode

log = logging.getLogger(__name__)

FailureHandler = Callable[[str, BaseException | str], None]
_NOT_IN_KEY = ("SHARED",)


def may_share(plan: PhysicalPlan, options: RuleOptions, persistent: bool) -> bool:
    """Whether the rule reads its (single) stream through a shared source."""
    if not options.shared_source or options.qos >= 1 or persistent or len(plan.sources) != 1:
        return False
    stream = plan.sources[0].stream
    return not stream.is_table and stream.options.get("SHARED", "").lower() != "false"


def share_key(spec: SourceSpec, root: str, options: RuleOptions) -> tuple[Any, ...]:
    """What makes two rules' sources identical (the stream's name is not part of it)."""
    stream = spec.stream
    opts = tuple(sorted((k.upper(), str(v)) for k, v in stream.options.items()
                        if k.upper() not in _NOT_IN_KEY))
    return (root, stream.source_type, opts, repr(stream.fields), options.max_batch_size)


def _union(a: list[str] | None, b: list[str] | None) -> list[str] | None:
    if a is None or b is None:
        return None
    return list(dict.fromkeys([*a, *b]))


def _meta_free(op: Operator) -> bool:
    """A filter or projection that never reads meta(): its rows need not carry the meta
    columns (each one would be gathered again by every filter)."""
    if isinstance(op, FilterOp):
        roots = [op.condition]
    elif type(op) is ProjectOp:
        roots = [n for f in op.fields for n in (f.expr, *(e for _, e in f.star_replace))
                 if n is not None]
    else:
        return False
    return not any(isinstance(x, MetaRef) for r in roots for x in walk(r))


_KEYED = {Compare: "cmp", And: "and", Or: "or", Not: "not", Arith: "arith"}


def condition_key(node: Node) -> tuple[Any, ...] | None:
    """A WHERE condition's structure (columns, operators, typed constants): two rules whose
    conditions have the same key keep the same rows of a batch. None for anything but
    comparisons, logic and arithmetic over columns and constants (calls may hold state)."""
    if type(node) is Const:
        return ("const", type(node.value).__name__, node.value)
    if type(node) is FieldRef:
        return ("col", node.column, node.kind)
    tag = _KEYED.get(type(node))
    if tag is None:
        return None
    parts = [condition_key(c) for c in node.children()]
    if any(p is None for p in parts):
        return None
    return (tag, getattr(node, "op", None), getattr(node, "kind", None), *parts)


class SourceTap:
    """One rule's subscription to a shared source: the rule topology's source node.

    Each batch reaches the rule as a new Batch over the same column arrays, holding only the
    columns the rule reads (what its own decoder would have made). With `fuse` (its operators
    all `runs_inline`: filters, projections, ...), the shared hand-off runs the rule's
    operators itself and puts only non-empty results into the rule's sink channels: an
    idle or non-matching rule costs no task switch."""

    __slots__ = ("shared", "spec", "outputs", "options", "closed", "failed", "on_fail",
                 "attached", "chain", "direct", "keep_meta", "where_key")
    is_table = False
    track_offsets = False
    offset = None
    input_index = None

    def __init__(self, shared: SharedSource, spec: SourceSpec, outputs: list[Channel],
                 options: RuleOptions) -> None:
        self.shared = shared
        self.spec = spec
        self.outputs = outputs
        self.options = options
        self.closed = False
        self.failed = False
        self.attached = False
        self.on_fail: FailureHandler | None = None
        self.chain: tuple[OperatorNode, ...] = ()
        self.where_key: tuple[Any, ...] | None = None  # see `condition_key`
        self.keep_meta = True  # the rule reads the rows' meta (else its batches carry none)
        self.direct: tuple[tuple[Channel, SinkNode | None], ...] = tuple(
            (ch, None) for ch in outputs)

    def fuse(self, chain: list[OperatorNode], sinks: Sequence[SinkNode] = ()) -> None:
        """Run these operator nodes inline; the batches then go to the last one's outputs.
        A synchronous batch sink (`SinkNode.inline`) among `sinks` whose task sits idle on
        its empty inbox gets the batch straight from the hand-off (no task switch; what it
        would do with it from its inbox, in the same order)."""
        outputs = chain[-1].outputs
        for node in chain:  # an operator's error message goes straight on to the sinks
            node.outputs = outputs
        self.chain = tuple(chain)
        self.outputs = outputs
        first = chain[0].op
        self.where_key = (condition_key(first.condition)
                          if type(first) is FilterOp else None)
        self.keep_meta = self.options.send_meta_to_sink or not all(
            _meta_free(node.op) for node in chain)
        by_inbox = {id(s.inbox): s for s in sinks if s.inline}
        self.direct = tuple((ch, by_inbox.get(id(ch))) for ch in outputs)

    @property
    def metrics(self) -> NodeMetrics:
        """The shared source's counters (what it read and decoded for all its rules)."""
        return self.shared.node.metrics

    # --- fed by the shared source's hand-off loop ----------------------------------------
    async def deliver(self, part: Batch) -> None:
        if self.failed:
            return
        cols = part.columns
        fields = self.spec.fields
        cols = dict(cols) if fields is None else {k: cols[k] for k in fields if k in cols}
        batch: Batch | None = Batch(cols, part.n, part.timestamps,
                                    part.meta if self.keep_meta else {}, part.emission_bounds)
        chain = self.chain
        if self.where_key is not None:  # a condition other rules may share: its mask once
            node = chain[0]
            node.metrics.records_in_total += part.n
            try:
                batch = node.call_now(self._where, node.op, batch, self.shared.masks(part))
            except PluginError as exc:
                self._fail(node, exc)
                return
            if batch is None:
                return
            chain = chain[1:]
        for node in chain:
            try:
                batch = node.process_now(batch)  # type: ignore[arg-type]
            except PluginError as exc:
                self._fail(node, exc)
                return
            if batch is None:
                return
        for ch, sink in self.direct:
            if sink is not None and ch.idle():
                await sink.deliver(batch)  # type: ignore[arg-type]
            else:
                await ch.put(batch)  # type: ignore[arg-type]

    def _where(self, op: FilterOp, batch: Batch, memo: dict[tuple[Any, ...], Any]
               ) -> Batch | None:
        """The filter's output, its mask taken from (or left for) the rules after."""
        mask = memo.get(self.where_key)  # type: ignore[arg-type]
        if mask is None:
            mask, clean = op.keep(batch)
            if clean:  # row errors are each rule's own to report: not shared
                memo[self.where_key] = mask  # type: ignore[index]
        return op.select(batch, mask)

    async def end(self, message: str) -> None:
        """End of input: each fused operator finishes (its output runs through the rest)."""
        chain = self.chain
        for i, node in enumerate(chain):
            try:
                out = node.call_now(node.op.finish)
                for later in chain[i + 1:]:
                    if out is None:
                        break
                    out = later.process_now(out)
            except PluginError as exc:
                self._fail(node, exc)
                return
            node.finished.set()
            if out is not None:
                for ch in self.outputs:
                    await ch.put(out)
        for ch in self.outputs:
            ch.put_control(EndOfInput(message))

    def forward_error(self, text: str) -> None:
        if self.options.send_error:
            for ch in self.outputs:
                ch.put_control(ErrorMessage(text))

    def _fail(self, node: OperatorNode, exc: BaseException) -> None:
        self.failed = True
        if self.on_fail is not None:
            self.on_fail(f"op {node.op.name}", exc)

    # --- the rule's side -----------------------------------------------------------------
    def attach(self) -> None:
        """Start receiving the shared source's batches (the rule's nodes are about to run)."""
        if not self.attached and not self.closed:
            self.attached = True
            self.shared.attach(self)

    async def close(self) -> None:
        """Leave the shared source; a hand-off waiting on this rule's channels is released."""
        if self.closed:
            return
        self.closed = True
        for ch in self.outputs:
            ch.close()
        if self.attached:
            await self.shared.detach(self)


class SharedSource:
    """One connector + decoder + hand-off loop feeding every subscribed rule."""

    def __init__(self, hub: SharedSources, key: tuple[Any, ...], spec: SourceSpec, root: str,
                 options: RuleOptions, clock: Clock, rule_id: str) -> None:
        self.hub = hub
        self.key = key
        self.root = root
        self.fields = spec.fields
        own = SourceSpec(spec.stream, spec.fields, spec.alias)
        source, decoder = build_source(own, root)
        self.node = SourceNode(own, source, decoder, rule_id=rule_id, root=root,
                               options=options, clock=clock, outputs=[])
        self.node.taps = ()
        self.node.ctx.bind_failure(self._fail_all)
        self.bounded = bool(getattr(source, "bounded", False))
        self.opened = False
        self.ended = False  # the hand-off loop has returned (end of input) or crashed
        self.closed = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._masks_of: Batch | None = None
        self._masks: dict[tuple[Any, ...], Any] = {}

    @property
    def joinable(self) -> bool:
        return not self.closed and not self.ended and not (self.bounded and self.opened)

    @property
    def subscribers(self) -> int:
        return len(self.node.taps)

    def tap(self, spec: SourceSpec, outputs: list[Channel], options: RuleOptions) -> SourceTap:
        return SourceTap(self, spec, outputs, options)

    def bind_state(self, state: Any) -> None:
        """The connector's extension state (`ctx.put_state`) is that of the rule that opened
        the source (the first subscriber), as if the rule read it alone."""
        if not self.node.taps and not self._tasks:
            self.node.ctx.bind_state(state)

    def masks(self, part: Batch) -> dict[tuple[Any, ...], Any]:
        """The WHERE masks computed for this hand-off's batch so far, by `condition_key`."""
        if self._masks_of is not part:
            self._masks_of = part
            self._masks = {}
        return self._masks

    def attach(self, tap: SourceTap) -> None:
        self._widen(tap.spec.fields)
        self.node.taps = (*self.node.taps, tap)
        if self.hub.by_key.get(self.key) is not self:
            self.hub.by_key[self.key] = self
        if not self._tasks:
            name = f"shared-{self.node.spec.name}"
            self._tasks = [asyncio.create_task(self._connect(), name=f"{name}-conn"),
                           asyncio.create_task(self.node.run(), name=f"{name}-src")]
            self._tasks[1].add_done_callback(self._handoff_done)

    def _widen(self, fields: list[str] | None) -> None:
        """Decode the new subscriber's columns too (from the next hand-off on)."""
        wider = _union(self.fields, fields)
        if wider == self.fields or (wider is not None and self.fields is not None
                                    and set(wider) <= set(self.fields)):
            return
        spec = SourceSpec(self.node.spec.stream, wider, self.node.spec.alias)
        self.node.decoder = build_decoder(spec, self.root)
        self.node.spec = spec
        self.fields = wider

    async def detach(self, tap: SourceTap) -> None:
        self.node.taps = tuple(t for t in self.node.taps if t is not tap)
        if self.node.taps or self.closed:
            return
        self.closed = True
        if self.hub.by_key.get(self.key) is self:
            del self.hub.by_key[self.key]
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.node.close()

    async def _connect(self) -> None:
        while self.hub.holds:
            await self.hub.released.wait()
        self.opened = True
        await self.node.run_connector()

    def _handoff_done(self, task: asyncio.Task[Any]) -> None:
        self.ended = True  # a new subscriber needs a new source
        if not task.cancelled() and task.exception() is not None:
            self._fail_all(f"source {self.node.spec.name}", task.exception())  # type: ignore[arg-type]

    def _fail_all(self, op_id: str, error: BaseException | str) -> None:
        for tap in self.node.taps:
            if tap.on_fail is not None:
                tap.on_fail(op_id, error)


class SharedSources:
    """The shared sources of one event loop, by `share_key`."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[Any, ...], SharedSource] = {}
        self.holds = 0
        self.released = asyncio.Event()
        self.released.set()

    def tap(self, spec: SourceSpec, root: str, options: RuleOptions, clock: Clock,
            outputs: list[Channel], rule_id: str) -> SourceTap:
        """A rule's subscription (not yet attached) to the shared source of `spec`; a new
        shared source (connector configured, not opened) when none can take it."""
        key = share_key(spec, root, options)
        shared = self.by_key.get(key)
        if shared is None or not shared.joinable:
            shared = SharedSource(self, key, spec, root, options, clock, rule_id)
        return shared.tap(spec, outputs, options)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Rules started inside share bounded sources: none opens before the block ends."""
        self.holds += 1
        self.released.clear()
        try:
            yield
        finally:
            self.holds -= 1
            if not self.holds:
                self.released.set()


_HUBS: dict[int, tuple[asyncio.AbstractEventLoop, SharedSources]] = {}


def shared_sources() -> SharedSources:
    """The running loop's shared sources."""
    loop = asyncio.get_running_loop()
    found = _HUBS.get(id(loop))
    if found is None or found[0] is not loop:
        for key in [k for k, (lp, _) in _HUBS.items() if lp.is_closed()]:
            del _HUBS[key]
        found = _HUBS[id(loop)] = (loop, SharedSources())
    return found[1]
