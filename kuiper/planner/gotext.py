"""An expression printed the way eKuiper's AST prints it (`binaryExpr:{ demo.size * 5 }`), for
its error texts ("run Select error: expr: binaryExpr:{ demo.size * 5 } meet error, err:...")."""
from __future__ import annotations

from sqlglot import exp

from kuiper.sql.expressions import Arrow

_BINARY = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%",
           exp.BitwiseAnd: "&", exp.BitwiseOr: "|", exp.BitwiseXor: "^", exp.EQ: "=",
           exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
           exp.And: "AND", exp.Or: "OR"}


def go_text(node: exp.Expression, stream: str) -> str:
    """`node` as eKuiper's String(): fields qualified by their stream, binary expressions as
    `binaryExpr:{ l op r }`; other nodes as their SQL text."""
    op = _BINARY.get(type(node))
    if op is not None:
        return f"binaryExpr:{{ {go_text(node.this, stream)} {op} {go_text(node.expression, stream)} }}"
    if isinstance(node, exp.Paren):
        return go_text(node.this, stream)
    if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
        return f"{node.table or stream}.{node.name}"
    if isinstance(node, exp.Literal) and node.is_string:
        return f'"{node.this}"'
    if isinstance(node, Arrow):
        return f"{go_text(node.this, stream)}->{node.key_name}"
    try:
        return node.sql()
    except ValueError:  # a node of kuiper's dialect that plain sqlglot cannot print
        return type(node).__name__


def select_error_prefix(body: exp.Expression, alias: str | None, stream: str) -> str:
    """What eKuiper's projection puts before the error of a field that fails on a row."""
    head = f"alias: {alias} " if alias else ""
    return f"{head}expr: {go_text(body, stream)} meet error, err:"
