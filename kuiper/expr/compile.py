"""sqlglot expression -> compiled Node tree: names resolved, types checked, constants folded."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlglot import exp

from kuiper.api.batch import ANY, BIGINT, BOOLEAN, DATETIME, FLOAT, STRING, Batch, Column, kind_of
from kuiper.catalog.defs import StreamDef
from kuiper.errors import PlanError
from kuiper.expr import nodes as n
from kuiper.expr import rulefuncs
from kuiper.expr.ops import NUMERIC
from kuiper.expr.setops import Between, In
from kuiper.sql.expressions import Arrow

_ARITH = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%",
          exp.BitwiseAnd: "&", exp.BitwiseOr: "|", exp.BitwiseXor: "^"}
_COMPARE = {exp.EQ: "=", exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
_NON_DETERMINISTIC = {"rand", "now", "current_timestamp", "local_time", "local_timestamp", "cur_date",
                      "current_date", "cur_time", "current_time", "newuuid", "tstamp", "array_shuffle"}
# functions the planner evaluates itself rather than the registry
_META_FUNCS = {"meta", "mqtt"}

_TYPE_NAMES = {BIGINT: "bigint", FLOAT: "float", STRING: "string", BOOLEAN: "boolean",
               DATETIME: "datetime"}


@dataclass
class Scope:
    """Name resolution for one rule: its streams (by name and alias), earlier SELECT aliases,
    the function registry, and what the rule reads (for column pruning)."""

    streams: dict[str, StreamDef]
    default: str
    registry: Any = None
    aliases: dict[str, str | None] = field(default_factory=dict)
    used_fields: dict[str, set[str]] = field(default_factory=dict)
    uses_meta: bool = False
    reads_all: bool = False  # `self` or `*`: the source must decode every field
    # planner hooks (issue 6): calls these collectors handle compile to references to columns
    # that an aggregate / analytic operator computes (`handles(name)`, `add(call, scope)`)
    aggregates: Any = None
    analytics: Any = None
    # a join rule (issue 6): its inputs as (ref, stream) in FROM order, ref = alias or name;
    # fields then compile to `ref.field` columns (see kuiper/operators/join_core.py)
    joined: list[tuple[str, StreamDef]] | None = None
    ref_of: dict[str, str] = field(default_factory=dict)  # stream name or alias -> ref
    # last_hit_* state shared by the rule's calls; False while compiling WHERE/HAVING, whose
    # calls only read it (the operator commits the rows that pass)
    hits: Any = None
    hit_updates: bool = True
    event_time_field: str | None = None  # the TIMESTAMP field of an isEventTime rule
    # every SELECT alias's expression: as in eKuiper, an unqualified name matching an alias
    # means the alias anywhere in the rule (before or after its definition, in WHERE too),
    # except inside the alias's own expression
    alias_exprs: dict[str, exp.Expression] = field(default_factory=dict)
    defining: set[str] = field(default_factory=set)
    in_select: bool = False  # compiling SELECT fields: earlier aliases read the projection's env
    inlining: int = 0  # > 0 while compiling an alias's expression in place

    def stream_of(self, qualifier: str | None) -> StreamDef | None:
        return self.streams.get(qualifier) if qualifier else None

    def use(self, stream: str, name: str) -> None:
        self.used_fields.setdefault(stream, set()).add(name)


def compile_expression(node: exp.Expression, scope: Scope) -> n.Node:
    """Compile one expression of a rule."""
    return fold(_compile(node, scope))


def _compile(node: exp.Expression, scope: Scope) -> n.Node:
    """Compile bottom-up, folding each constant subtree as soon as it is built."""
    return fold(_build(node, scope))


def _build(node: exp.Expression, scope: Scope) -> n.Node:
    if isinstance(node, exp.Paren):
        return _compile(node.this, scope)
    if isinstance(node, exp.Literal):
        return n.Const(_literal(node))
    if isinstance(node, exp.Boolean):
        return n.Const(bool(node.this))
    if isinstance(node, exp.Null):
        return n.Const(None)
    if isinstance(node, exp.Dot) and not _is_name_chain(node):
        return n.Nested(_compile(node.this, scope), node.expression.name)
    if isinstance(node, exp.Column | exp.Dot):
        return _column(node, scope)
    if isinstance(node, Arrow):
        key = node.expression
        return n.Nested(_compile(node.this, scope), key.name if hasattr(key, "name") else str(key))
    if isinstance(node, exp.Bracket):
        base = _compile(node.this, scope)
        idx = node.expressions[0] if node.expressions else None
        if isinstance(idx, exp.Slice):
            start = _compile(idx.this, scope) if idx.this is not None else None
            stop = _compile(idx.expression, scope) if idx.expression is not None else None
            return n.Slice(base, start, stop)
        if idx is None:
            raise PlanError("an index needs a value inside [ ]")
        return n.Index(base, _compile(idx, scope))
    for cls, op in _ARITH.items():
        if type(node) is cls:
            left, right = _compile(node.this, scope), _compile(node.expression, scope)
            _check_arith(op, left, right, node)
            return n.Arith(op, left, right)
    for cls, op in _COMPARE.items():
        if type(node) is cls:
            left, right = _compile(node.this, scope), _compile(node.expression, scope)
            _check_compare(op, left, right, node)
            return n.Compare(op, left, right)
    if isinstance(node, exp.And):
        return n.And(_compile(node.this, scope), _compile(node.expression, scope))
    if isinstance(node, exp.Or):
        return n.Or(_compile(node.this, scope), _compile(node.expression, scope))
    if isinstance(node, exp.Neg):
        return n.Neg(_compile(node.this, scope))
    if isinstance(node, exp.Not):
        inner = node.this
        if isinstance(inner, exp.Paren) and isinstance(inner.this, exp.In | exp.Between | exp.Like | exp.Is):
            inner = inner.this
        if isinstance(inner, exp.Is):
            return _is(inner, scope, negate=True)
        if isinstance(inner, exp.In):
            return _in(inner, scope, negate=not inner.args.get("negate", False))
        if isinstance(inner, exp.Between):
            return _between(inner, scope, negate=not inner.args.get("negate", False))
        if isinstance(inner, exp.Like):
            return _like(inner, scope, negate=not inner.args.get("negate", False))
        return n.Not(_compile(inner, scope))
    if isinstance(node, exp.Is):
        return _is(node, scope, negate=False)
    if isinstance(node, exp.In):
        return _in(node, scope, negate=bool(node.args.get("negate")))
    if isinstance(node, exp.Between):
        return _between(node, scope, negate=bool(node.args.get("negate")))
    if isinstance(node, exp.Like):
        return _like(node, scope, negate=bool(node.args.get("negate")))
    if isinstance(node, exp.Case):
        operand = _compile(node.this, scope) if node.this is not None else None
        whens = [(_compile(i.this, scope), _compile(i.args["true"], scope)) for i in node.args.get("ifs", [])]
        default = node.args.get("default")
        return n.Case(operand, whens, _compile(default, scope) if default is not None else None)
    if isinstance(node, exp.Anonymous):
        return _call(node, scope)
    if isinstance(node, exp.Filter):
        return _filtered_aggregate(node, scope)
    if isinstance(node, exp.Window) and scope.analytics is not None:
        return scope.analytics.add(node, scope)
    if isinstance(node, exp.Identifier):
        return _column(exp.Column(this=node), scope)
    if isinstance(node, exp.Star):
        raise PlanError("* is only allowed as a SELECT field or in count(*)")
    raise PlanError(f"unsupported expression: {node.sql()}",
                    hint="see docs for the SQL kuiper supports (eKuiper's dialect)")


def _literal(node: exp.Literal) -> Any:
    if node.is_string:
        return node.this
    text = node.this
    try:
        return int(text)
    except ValueError:
        return float(text)


def _is_name_chain(node: exp.Expression) -> bool:
    while isinstance(node, exp.Dot):
        node = node.this
    return isinstance(node, exp.Column | exp.Identifier)


def _parts(node: exp.Expression) -> list[str]:
    if isinstance(node, exp.Dot):
        return _parts(node.this) + [node.expression.name]
    if isinstance(node, exp.Column):
        return [p.name for p in node.parts]
    if isinstance(node, exp.Identifier):
        return [node.name]
    raise PlanError(f"unsupported field reference: {node.sql()}")


def _column(node: exp.Expression, scope: Scope) -> n.Node:
    parts = _parts(node)
    if scope.joined is not None:
        return _joined_column(parts, scope)
    stream: StreamDef | None = None
    if len(parts) > 1 and parts[0] in scope.streams:
        stream = scope.streams[parts[0]]
        parts = parts[1:]
    name, nested = parts[0], parts[1:]
    base: n.Node
    default_stream = stream or scope.streams[scope.default]
    if name == "self" and stream is None and name not in scope.aliases and (
            default_stream.schemaless or default_stream.field("self") is None):
        scope.reads_all = True
        base = n.SelfRef()
        for key in nested:
            base = n.Nested(base, key)
        return base
    if stream is None and name in scope.alias_exprs and name not in scope.defining and not (
            scope.in_select and name in scope.aliases):
        base = inline_alias(name, scope)
    elif stream is None and name in scope.aliases and name not in scope.defining:
        base = n.AliasRef(name, scope.aliases[name])
    else:
        if stream is None:
            stream = scope.streams[scope.default]
        kind = _field_kind(stream, name)
        scope.use(stream.name, name)
        base = n.FieldRef(name, kind)
    for key in nested:
        base = n.Nested(base, key)
    return base


def _field_kind(stream: StreamDef, name: str) -> str | None:
    """The static kind of field `name` of `stream` (None when the stream is schemaless or the
    type has no kind of its own); PlanError when a declared schema lacks the field."""
    if stream.schemaless:
        return None
    fdef = stream.field(name)
    if fdef is None:
        known = ", ".join(f.name for f in stream.fields)
        raise PlanError(f"unknown field '{name}' in stream {stream.name}",
                        hint=f"declared fields are: {known}")
    return fdef.kind if fdef.kind in _TYPE_NAMES else None


def inline_alias(name: str, scope: Scope) -> n.Node:
    """The expression of SELECT alias `name`, compiled where the alias is used."""
    scope.defining.add(name)
    scope.inlining += 1
    try:
        return _compile(scope.alias_exprs[name], scope)
    finally:
        scope.defining.discard(name)
        scope.inlining -= 1


def _joined_column(parts: list[str], scope: Scope) -> n.Node:
    """A field of a join rule: `ref.field` names one input; a bare name reads the first input
    (FROM order) that may hold the field and has a value, as eKuiper's JoinTuple does."""
    if len(parts) > 1 and parts[0] in scope.ref_of:
        ref = scope.ref_of[parts[0]]
        cands = [(r, s) for r, s in scope.joined or [] if r == ref]
        parts = parts[1:]
        name = parts[0]
    else:
        name = parts[0]
        if name in scope.alias_exprs and name not in scope.defining and not (
                scope.in_select and name in scope.aliases):
            base = inline_alias(name, scope)
            for key in parts[1:]:
                base = n.Nested(base, key)
            return base
        if name in scope.aliases and name not in scope.defining:
            base: n.Node = n.AliasRef(name, scope.aliases[name])
            for key in parts[1:]:
                base = n.Nested(base, key)
            return base
        cands = [(r, s) for r, s in scope.joined or [] if s.schemaless or s.field(name)]
        if not cands:
            raise PlanError(f"unknown field '{name}' in the joined streams",
                            hint="qualify it with its stream: stream.field")
    refs: list[n.Node] = []
    for ref, stream in cands:
        kind = _field_kind(stream, name)
        scope.use(stream.name, name)
        refs.append(n.FieldRef(f"{ref}.{name}", kind))
    base = refs[0] if len(refs) == 1 else FirstOf(refs)
    for key in parts[1:]:
        base = n.Nested(base, key)
    return base


class FirstOf(n.Node):
    """The first of several columns holding a value (an unqualified field of a join)."""

    def __init__(self, refs: list[n.Node]) -> None:
        self.refs = refs
        kinds = {r.kind for r in refs}
        self.kind = kinds.pop() if len(kinds) == 1 else None

    def children(self) -> tuple[n.Node, ...]:
        return tuple(self.refs)

    def eval(self, ec: n.EvalContext) -> Column:
        cols = [r.eval(ec) for r in self.refs]
        out = cols[0]
        for col in cols[1:]:
            hole = ~out.validity() & col.validity()
            if hole.any():
                vals = np.array(out.to_pylist(), dtype=object)
                vals[hole] = np.array(col.to_pylist(), dtype=object)[hole]
                out = Column.from_values(vals.tolist())
        return out


def _is(node: exp.Is, scope: Scope, negate: bool) -> n.Node:
    if not isinstance(node.expression, exp.Null):
        raise PlanError(f"IS needs NULL: {node.sql()}")
    return n.IsNull(_compile(node.this, scope), negate)


def _in(node: exp.In, scope: Scope, negate: bool) -> n.Node:
    operand = _compile(node.this, scope)
    arr = node.args.get("field")
    if arr is not None:
        return In(operand, None, _compile(arr, scope), negate)
    if node.args.get("query") is not None:
        raise PlanError("subqueries are not supported in IN")
    items = [_compile(e, scope) for e in node.expressions]
    if len(items) == 1 and not isinstance(items[0], n.Const):
        return In(operand, None, items[0], negate)
    return In(operand, [fold(i) for i in items], None, negate)


def _between(node: exp.Between, scope: Scope, negate: bool) -> n.Node:
    return Between(_compile(node.this, scope), fold(_compile(node.args["low"], scope)),
                     fold(_compile(node.args["high"], scope)), negate)


def _like(node: exp.Like, scope: Scope, negate: bool) -> n.Node:
    operand = _compile(node.this, scope)
    if operand.kind is not None and operand.kind != STRING:
        raise PlanError(f"LIKE needs a string, got {operand.kind}: {node.sql()}")
    return n.Like(operand, fold(_compile(node.expression, scope)), negate)


def _call(node: exp.Anonymous, scope: Scope) -> n.Node:
    name = str(node.this)
    lname = name.lower()
    args = list(node.expressions)
    if lname in _META_FUNCS:
        scope.uses_meta = True
        if len(args) != 1:
            raise PlanError(f"{name}() takes exactly one argument, e.g. meta(topic)")
        arg = args[0]
        if isinstance(arg, exp.Star):
            return n.MetaRef(None)
        parts = _parts(arg) if isinstance(arg, exp.Column | exp.Dot | exp.Identifier) else None
        if not parts:
            raise PlanError(f"{name}() takes a metadata key, e.g. meta(topic)")
        if len(parts) > 1 and parts[0] in scope.streams:
            parts = parts[1:]
        base: n.Node = n.MetaRef(parts[0])
        for key in parts[1:]:
            base = n.Nested(base, key)
        return base
    if lname in ("window_start", "window_end"):
        if args:
            raise PlanError(f"{name}() takes no arguments")
        return WindowBound(lname)
    if lname in rulefuncs.RULE_FUNCS:
        return _rule_func(lname, args, scope)
    if lname in ("rule_id", "rule_start"):
        if args:
            raise PlanError(f"{name}: Expect 0 arguments but found {len(args)}.")
        return RuleInfo(lname)
    for hook in (scope.aggregates, scope.analytics):
        if hook is not None and hook.handles(lname):
            # their arguments run in an operator before the projection: aliases inline there
            in_select, scope.in_select = scope.in_select, False
            try:
                return hook.add(node, scope)
            finally:
                scope.in_select = in_select
    registry = scope.registry
    fdef = registry.lookup(name) if registry is not None else None
    if fdef is None:
        raise PlanError(f"unknown function {name}",
                        hint="a built-in, an installed function plugin or an external service function")
    if getattr(fdef, "is_aggregate", False):
        add_function = getattr(scope.aggregates, "add_function", None)
        if add_function is None:
            raise PlanError(f"aggregate function {name} needs GROUP BY or a window",
                            hint="aggregates and windows are planned by the window planner")
        return add_function(node, fdef, scope)  # a plugin aggregate
    compiled = [fold(_compile(a, scope)) if not isinstance(a, exp.Star) else n.Const(None) for a in args]
    check = getattr(fdef, "check", None) or getattr(fdef, "validate", None)
    if check is not None:
        msg = check([c.value if isinstance(c, n.Const) else c for c in compiled])
        if msg:
            raise PlanError(f"{name}: {msg}")
    call = n.Call(lname, fdef, compiled)
    is_builtin = getattr(registry, "is_builtin", None)
    if lname in _NON_DETERMINISTIC or (is_builtin is not None and not is_builtin(name)):
        # plugin and external functions may keep state or call services: never folded
        call.deterministic = False  # type: ignore[attr-defined]
    if is_builtin is not None and not is_builtin(name):
        call.func_id = node.meta.get("func_id", -1)  # the call site scoping its state
    return call


def _rule_func(lname: str, args: list[exp.Expression], scope: Scope) -> n.Node:
    """event_time, last_hit_*, last_agg_hit_*, row_number, changed_cols, unnest, extract."""
    if lname == "changed_cols":
        if len(args) <= 2:
            raise PlanError(f"changed_cols: expect more than two args but got {len(args)}")
        compiled = [fold(_compile(a, scope)) for a in args]
        if compiled[0].kind not in (None, STRING):
            raise PlanError("changed_cols: Expect string type for parameter 1")
        if compiled[1].kind not in (None, BOOLEAN):
            raise PlanError("changed_cols: Expect bool type for parameter 2")
        names = [_field_name_of(a) for a in args[2:]]
        return rulefuncs.ChangedCols(compiled[0], compiled[1], compiled[2:], names)
    if lname == "unnest":
        if len(args) != 1:
            raise PlanError(f"unnest: Expect 1 arguments but found {len(args)}.")
        return rulefuncs.Unnest(fold(_compile(args[0], scope)))
    if lname == "extract":
        if len(args) != 1:
            raise PlanError(f"extract: Expect 1 arguments but found {len(args)}.")
        return rulefuncs.Extract(fold(_compile(args[0], scope)))
    if args:
        raise PlanError(f"{lname}: Expect 0 arguments but found {len(args)}.")
    if scope.event_time_field and lname in ("event_time", "last_hit_time"):
        scope.use(scope.default, scope.event_time_field)
    if lname == "event_time":
        return rulefuncs.EventTime(scope.event_time_field)
    if lname == "row_number":
        return rulefuncs.RowNumber()
    if scope.hits is None:
        scope.hits = rulefuncs.HitState()
    agg = lname.startswith("last_agg_")
    hit = rulefuncs.LastHit(scope.hits, lname.rsplit("_", 1)[1], agg, scope.hit_updates,
                            scope.event_time_field)
    # a call reached through a SELECT alias in WHERE only reads (eKuiper commits the calls
    # written in the condition itself)
    hit.commits = not scope.hit_updates and not scope.inlining
    return hit


def _field_name_of(node: exp.Expression) -> str:
    """The key changed_cols gives an argument: a field's name, else the expression's text."""
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, exp.Dot):
        return node.expression.name
    return node.sql()


def _filtered_aggregate(node: exp.Filter, scope: Scope) -> n.Node:
    """`agg(args) FILTER (WHERE cond)`: the aggregate over the rows where cond is true."""
    call = node.this
    lname = str(call.this).lower() if isinstance(call, exp.Anonymous) else ""
    hook = scope.aggregates
    if not lname or hook is None or not hook.handles(lname):
        raise PlanError(f"FILTER (WHERE ...) applies to aggregate functions: {node.sql()}")
    where = node.expression.this if isinstance(node.expression, exp.Where) else node.expression
    return hook.add(call, scope, where=where, key=node.sql().lower())


class WindowBound(n.Node):
    """window_start() / window_end(): the bounds of the row's window (0 outside a window)."""

    kind = BIGINT

    def __init__(self, which: str) -> None:
        self.which = which
        self.deterministic = False  # never folded: the value comes with each window

    def eval(self, ec: n.EvalContext) -> Column:
        col = ec.batch.meta.get("__" + self.which)
        return col if col is not None else Column.constant(0, ec.n)


class RuleInfo(n.Node):
    """rule_id() / rule_start(): the running rule's id and last start time (epoch ms).

    A call site like a plugin function's (`func_id`, `func_ctx`): the rule runner binds its
    FunctionContext, which knows the rule; unbound (an expression evaluated outside a rule)
    it reads the operator's context, else gives "" / 0.
    """

    func_id: int = -1

    def __init__(self, which: str) -> None:
        self.which = which
        self.kind = STRING if which == "rule_id" else BIGINT
        self.func_ctx: Any = None
        self.deterministic = False  # never folded: the value comes from the running rule

    def eval(self, ec: n.EvalContext) -> Column:
        ctx = self.func_ctx if self.func_ctx is not None else ec.func_ctx
        if self.which == "rule_id":
            return Column.constant(ctx.get_rule_id() if ctx is not None else "", ec.n)
        return Column.constant(int(getattr(ctx, "rule_start_ms", 0) or 0), ec.n)


def _kind_name(k: str | None) -> str:
    return _TYPE_NAMES.get(k or "", k or "any")


def _check_arith(op: str, left: n.Node, right: n.Node, node: exp.Expression) -> None:
    for side in (left, right):
        if side.kind is not None and side.kind not in NUMERIC:
            raise PlanError(
                f"invalid operation: {_kind_name(left.kind)} {op} {_kind_name(right.kind)} in "
                f"'{node.sql()}'", hint="arithmetic needs numbers; use cast() to convert")


def _check_compare(op: str, left: n.Node, right: n.Node, node: exp.Expression) -> None:
    lk, rk = left.kind, right.kind
    if lk is None or rk is None or lk == rk:
        return
    if lk in NUMERIC and rk in NUMERIC:
        return
    if DATETIME in (lk, rk) and {lk, rk} <= {DATETIME, STRING, BIGINT, FLOAT}:
        return
    raise PlanError(f"invalid comparison: {_kind_name(lk)} {op} {_kind_name(rk)} in '{node.sql()}'",
                    hint="compare values of the same type, or cast() one side")


def fold(node: n.Node) -> n.Node:
    """Constant folding: a deterministic node whose inputs are all constants becomes a Const."""
    if isinstance(node, n.Const | n.FieldRef | n.AliasRef | n.MetaRef):
        return node
    kids = node.children()
    if not kids or not all(isinstance(k, n.Const) for k in kids):
        return node
    if getattr(node, "deterministic", True) is False:
        return node
    one = Batch({}, 1)
    ec = n.EvalContext(one)
    try:
        col = node.eval(ec)
    except Exception:  # noqa: BLE001 - leave it to run time, where the error is reported per row
        return node
    if ec.errors.any:
        return node
    value = col.to_pylist()[0]
    if isinstance(value, np.generic):
        value = value.item()
    folded = n.Const(value)
    if value is None and node.kind:
        folded.kind = node.kind
    elif value is not None:
        folded.kind = kind_of(value) if node.kind in (None, ANY) else node.kind
    return folded
