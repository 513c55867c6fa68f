"""Build a rule's nodes and the channels between them from a PhysicalPlan.

Shape: every source node -> one shared channel -> operator 1 -> ... -> operator n -> one
channel per sink. With no operators the sources feed the sink channels directly.

Several inputs (joins, scan tables): each source tags its batches with its position in
`plan.sources` (`node.Input`), so operator 1 knows which input a batch comes from; the rule's
input ends when every *stream* has ended (a table's end ends nothing; a table's node stops
when operator 1 has finished). A bounded table source (a file) is read before the streams
start, so the first stream rows already join against the whole table. Lookup tables are no
source node: the operator that joins them gets a configured `LookupSource` (`op.bind`).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from kuiper.planner.physical import PhysicalPlan
from kuiper.runtime import registry
from kuiper.runtime.channel import Channel
from kuiper.runtime.clock import Clock
from kuiper.runtime.node import OperatorNode, runs_inline
from kuiper.runtime.options import RuleOptions
from kuiper.runtime.shared_source import SourceTap, shared_sources
from kuiper.runtime.sink_node import SinkNode, SinkProps
from kuiper.runtime.source_node import SourceNode

build_source = registry.build_source  # re-exported: the management plane validates with it


@dataclass(slots=True)
class Topology:
    sources: list[SourceNode | SourceTap] = field(default_factory=list)
    operators: list[OperatorNode] = field(default_factory=list)
    sinks: list[SinkNode] = field(default_factory=list)
    fused: bool = False  # the operators run in the shared source's hand-off (no tasks)

    def nodes_metrics(self) -> list[Any]:
        return [n.metrics for n in (*self.sources, *self.operators, *self.sinks)]


def bind_lookup(op: Any, root: str) -> None:
    """Give an operator that joins a lookup table its configured connector."""
    table = getattr(op, "lookup_table", None)
    if table is None:
        return
    source = registry.get_lookup_factory(table.source_type)()
    conf = registry.load_source_conf(root, table.source_type, table.conf_key)
    if table.options.get("KEY"):
        conf.setdefault("key", table.options["KEY"])
    source.configure(table.datasource, conf)
    op.bind(source, conf)


def build_topology(
    plan: PhysicalPlan, options: RuleOptions, root: str, clock: Clock, tick_ms: int = 100,
    *, share: bool = False,
) -> Topology:
    """Instantiate connectors and nodes; must run on the event loop that will run them.
    With `share` (one stream input, see `shared_source.may_share`) the rule's source is a
    `SourceTap` on the loop's shared source of that stream, attached when the rule starts."""
    rule = plan.rule
    topo = Topology()

    def channel(capacity: int | None = None) -> Channel:
        return Channel(capacity or options.buffer_length, options.buffer_full_policy)

    sink_inboxes: list[Channel] = []
    for index, (sink_type, props) in enumerate(rule.actions):
        sink = registry.get_sink_factory(sink_type)()
        sink_props = SinkProps.parse(sink_type, props)
        sink.configure({k: v for k, v in props.items()})
        encoder = None
        if getattr(sink, "accepts_bytes", False):
            encoder = registry.get_encoder(sink_props.format)(props)
            registry.bind_root(encoder, root)
        inbox = channel(sink_props.buffer_length)
        sink_inboxes.append(inbox)
        topo.sinks.append(SinkNode(
            index, sink_type, sink, sink_props, inbox,
            upstreams=1 if plan.operators else len(plan.sources),
            rule_id=rule.id, root=root, options=options, encoder=encoder, clock=clock,
        ))

    streams = sum(1 for spec in plan.sources if not spec.stream.is_table) or 1
    downstream = sink_inboxes
    for pos in range(len(plan.operators) - 1, -1, -1):
        inbox = channel()
        op = plan.operators[pos]
        bind_lookup(op, root)
        topo.operators.insert(0, OperatorNode(
            op, inbox, downstream,
            upstreams=streams if pos == 0 else 1,
            rule_id=rule.id, options=options, clock=clock, tick_ms=tick_ms, root=root,
        ))
        downstream = [inbox]

    tagged = len(plan.sources) > 1 and bool(plan.operators)
    if share:
        topo.sources.append(shared_sources().tap(plan.sources[0], root, options, clock,
                                                 downstream, rule.id))
    for index, spec in enumerate(plan.sources if not share else ()):
        source, decoder = build_source(spec, root)
        topo.sources.append(SourceNode(
            spec, source, decoder, rule_id=rule.id, root=root, options=options, clock=clock,
            outputs=downstream, input_index=index if tagged else None,
        ))
    tables = [s for s in topo.sources if s.is_table]
    for node in topo.sources:
        if isinstance(node, SourceTap):
            continue
        if node.is_table:
            node.until = topo.operators[0].finished if topo.operators else asyncio.Event()
        else:
            node.wait_for = [t.loaded for t in tables]

    for node in (*topo.operators, *topo.sinks):
        inbox = node.inbox
        inbox.on_drop = node.metrics.dropped
    if (share and topo.operators and not options.send_error
            and all(runs_inline(n.op) for n in topo.operators)):
        topo.sources[0].fuse(topo.operators, topo.sinks)  # type: ignore[union-attr]
        topo.fused = True
    return topo
