"""Build a rule's nodes and the channels between them from a PhysicalPlan.

Shape: every source node -> one shared channel -> operator 1 -> ... -> operator n -> one
channel per sink. With no operators the sources feed the sink channels directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kuiper.planner.physical import PhysicalPlan, SourceSpec
from kuiper.runtime import registry
from kuiper.runtime.channel import Channel
from kuiper.runtime.clock import Clock
from kuiper.runtime.node import OperatorNode
from kuiper.runtime.options import RuleOptions
from kuiper.runtime.sink_node import SinkNode, SinkProps
from kuiper.runtime.source_node import SourceNode

_STREAM_PROPS = {"DELIMITER": "delimiter"}


@dataclass(slots=True)
class Topology:
    sources: list[SourceNode] = field(default_factory=list)
    operators: list[OperatorNode] = field(default_factory=list)
    sinks: list[SinkNode] = field(default_factory=list)

    def nodes_metrics(self) -> list[Any]:
        return [n.metrics for n in (*self.sources, *self.operators, *self.sinks)]


def source_conf(spec: SourceSpec, root: str) -> dict[str, Any]:
    """The properties a source is configured with: etc/sources/{type}.yaml's default section,
    overridden by the CONF_KEY section, then by connector properties of the stream."""
    stream = spec.stream
    conf = registry.load_source_conf(root, stream.source_type, stream.conf_key)
    for key, prop in _STREAM_PROPS.items():
        if key in stream.options:
            conf[prop] = stream.options[key]
    return conf


def build_source(spec: SourceSpec, root: str) -> tuple[Any, Any]:
    """A configured source connector and its decoder (configuration errors raise here)."""
    stream = spec.stream
    source = registry.get_source_factory(stream.source_type)()
    source.configure(stream.datasource, source_conf(spec, root))
    decoder = registry.get_format(stream.format)(stream, spec.fields)
    return source, decoder


def build_topology(
    plan: PhysicalPlan, options: RuleOptions, root: str, clock: Clock, tick_ms: int = 100
) -> Topology:
    """Instantiate connectors and nodes; must run on the event loop that will run them."""
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
        inbox = channel(sink_props.buffer_length)
        sink_inboxes.append(inbox)
        topo.sinks.append(SinkNode(
            index, sink_type, sink, sink_props, inbox,
            upstreams=1 if plan.operators else len(plan.sources),
            rule_id=rule.id, root=root, options=options, encoder=encoder,
        ))

    downstream = sink_inboxes
    for pos in range(len(plan.operators) - 1, -1, -1):
        inbox = channel()
        topo.operators.insert(0, OperatorNode(
            plan.operators[pos], inbox, downstream,
            upstreams=len(plan.sources) if pos == 0 else 1,
            rule_id=rule.id, options=options, clock=clock, tick_ms=tick_ms,
        ))
        downstream = [inbox]

    for spec in plan.sources:
        source, decoder = build_source(spec, root)
        topo.sources.append(SourceNode(
            spec, source, decoder, rule_id=rule.id, root=root, options=options, clock=clock,
            outputs=downstream,
        ))

    for node in (*topo.operators, *topo.sinks):
        inbox = node.inbox
        inbox.on_drop = node.metrics.dropped
    return topo
