"""Shared helper: render a parsed tree as a compact, readable shape string."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlglot import exp

# Arguments that are sqlglot bookkeeping, not part of eKuiper's tree contract.
_SKIP = {"over", "nulls_first", "quoted", "is_string"}
_POSITIONAL = ("this", "expression", "expressions")


def render(node: Any) -> str:
    """`Column(d.x)`, `Literal 'a'` → `'a'`, numbers bare, other nodes `Class(args, key=…)`."""
    if isinstance(node, list):
        return "[" + ", ".join(render(n) for n in node) + "]"
    if not isinstance(node, exp.Expression):
        return repr(node)
    if isinstance(node, exp.Identifier):
        return f"`{node.name}`" if node.args.get("quoted") else node.name
    if isinstance(node, exp.Literal):
        return repr(node.this) if node.is_string else node.this
    if isinstance(node, exp.Boolean):
        return "TRUE" if node.this else "FALSE"
    if isinstance(node, exp.Null):
        return "NULL"
    if isinstance(node, exp.Slice):
        low, high = node.args.get("this"), node.args.get("expression")
        return f"Slice({render(low) if low else ''}:{render(high) if high else ''})"
    if isinstance(node, exp.Column) and set(k for k, v in node.args.items() if v) <= {
        "this", "table"
    }:
        name = render(node.this)
        table = node.args.get("table")
        return f"Column({render(table)}.{name})" if table else f"Column({name})"
    parts: list[str] = []
    for key, value in node.args.items():
        if key in _SKIP or value is None or value == [] or value is False:
            continue
        if key in _POSITIONAL:
            if isinstance(value, list):
                parts.extend(render(v) for v in value)
            else:
                parts.append(render(value))
        else:
            parts.append(f"{key}={render(value)}")
    return f"{type(node).__name__}({', '.join(parts)})"


@pytest.fixture
def shape() -> Callable[[Any], str]:
    return render
