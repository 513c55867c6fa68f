"""A planned rule's topology (GET /rules/{id}/topo) and explain text (GET /rules/{id}/explain)."""
from __future__ import annotations

import json
from typing import Any

from kuiper.planner.physical import PhysicalPlan


def node_names(plan: PhysicalPlan) -> tuple[list[str], list[str], list[str]]:
    """(sources, operators, sinks) as eKuiper names them: `source_demo`, `op_2_filter`,
    `sink_log_0` (sink type and action index)."""
    sources = [f"source_{s.name}" for s in plan.sources]
    ops = [f"op_{o.name}" for o in plan.operators]
    sinks = [f"sink_{sink_type}_{i}" for i, (sink_type, _) in enumerate(plan.rule.actions)]
    return sources, ops, sinks


def topo(plan: PhysicalPlan) -> dict[str, Any]:
    """`{"sources": [...], "edges": {from: [to, ...]}}`: sources feed the first operator, each
    operator the next, the last one every sink."""
    sources, ops, sinks = node_names(plan)
    edges: dict[str, list[str]] = {}
    first = ops[:1] or sinks
    for s in sources:
        edges[s] = list(first)
    for a, b in zip(ops, ops[1:], strict=False):
        edges[a] = [b]
    if ops:
        edges[ops[-1]] = list(sinks)
    return {"sources": sources, "edges": edges}


def _op_info(op: Any) -> str:
    parts = [type(op).__name__]
    for attr in ("fields", "keys", "spec", "limit"):
        value = getattr(op, attr, None)
        if value is None or value == [] or callable(value):
            continue
        if attr == "fields":
            names = [getattr(f, "alias", None) or getattr(f, "name", None) or "*" for f in value]
            parts.append(f"Fields:[ {', '.join(str(n) for n in names)} ]")
        elif attr == "spec":
            parts.append(f"Window:{value}")
        elif attr == "limit":
            parts.append(f"Limit:{value}")
    return ", ".join(parts)


def explain(plan: PhysicalPlan) -> str:
    """eKuiper's explain shape: one JSON line per plan node, the output first, each child
    indented under its parent; the data sources are the leaves."""
    lines: list[str] = []
    node_id = 0
    ops = list(reversed(plan.operators))
    depth = 0
    for op in ops:
        child = [node_id + 1]
        lines.append("   " * depth + json.dumps(
            {"op": op.name, "info": _op_info(op), "id": node_id, "children": child},
            ensure_ascii=False))
        node_id += 1
        depth += 1
    for i, spec in enumerate(plan.sources):
        fields = spec.fields if spec.fields is not None else ["*"]
        info = (f"StreamName: {spec.name}" + (f" AS {spec.alias}" if spec.alias else "")
                + f", Fields:[ {', '.join(fields)} ]")
        lines.append("   " * depth + json.dumps(
            {"op": f"DataSourcePlan_{i}", "info": info, "id": node_id + i, "children": None},
            ensure_ascii=False))
    return "\n".join(lines) + "\n"
