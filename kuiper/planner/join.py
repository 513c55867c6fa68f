"""A rule with JOINs -> window (stream ⋈ stream) + join + filter + aggregate + project operators.

Inputs are numbered as the plan's sources: the FROM stream, then each joined stream or scan
table in JOIN order (lookup tables are no source: their operator queries the connector). A
field compiles to the `ref.field` column of its input (ref = alias or stream name, see
`Scope.joined`). Each ON condition is split into equi-keys (`a.x = b.y` with one side over the
inputs joined so far and the other over the new one), which run through the hash join, and
the rest, evaluated on the matching pairs.
"""
from __future__ import annotations

from typing import Any

from sqlglot import exp

from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef, StreamDef
from kuiper.errors import PlanError
from kuiper.expr.compile import Scope, compile_expression
from kuiper.expr.nodes import Node
from kuiper.operators.analytic import ANALYTIC_FUNCS
from kuiper.operators.base import Operator
from kuiper.operators.join import (
    JoinFilterOp,
    JoinInput,
    JoinOp,
    JoinProjectOp,
    JoinWindowOp,
    TableState,
)
from kuiper.operators.join_core import CROSS, FULL, INNER, LEFT, RIGHT, JoinStep
from kuiper.operators.join_lookup import LookupJoinOp
from kuiper.operators.window import COUNT, STATE
from kuiper.planner.aggregate import AggregateCollector, aggregate_ops, order_keys
from kuiper.planner.physical import PhysicalPlan, SourceSpec
from kuiper.planner.window import late_tolerance_ms, split_group_by, window_spec

_KINDS = {"LEFT": LEFT, "RIGHT": RIGHT, "FULL": FULL, "CROSS": CROSS, "INNER": INNER}


def _join_kind(join: exp.Join) -> str:
    side = (join.args.get("side") or "").upper()
    kind = (join.args.get("kind") or "").upper()
    return _KINDS.get(side) or _KINDS.get(kind) or INNER


def _refs_of(node: exp.Expression, scope: Scope) -> set[str] | None:
    """The inputs an expression reads; None when a bare field leaves it open."""
    refs: set[str] = set()
    for col in node.find_all(exp.Column):
        qual = col.table
        if not qual or qual not in scope.ref_of:
            return None
        refs.add(scope.ref_of[qual])
    return refs


def _conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    if node is None:
        return []
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def join_step(join: exp.Join, ref: str, joined: set[str], scope: Scope, lookup: bool) -> JoinStep:
    """The JoinStep of one JOIN clause: equi-keys for the hash join and the residual rest."""
    step = JoinStep(_join_kind(join), ref)
    rest: list[exp.Expression] = []
    for cond in _conjuncts(join.args.get("on")):
        if isinstance(cond, exp.EQ):
            lrefs, rrefs = _refs_of(cond.this, scope), _refs_of(cond.expression, scope)
            left, right = cond.this, cond.expression
            if lrefs == {ref} and rrefs is not None and rrefs and rrefs <= joined:
                left, right, lrefs, rrefs = right, left, rrefs, lrefs
            if rrefs == {ref} and lrefs is not None and lrefs and lrefs <= joined:
                step.left_keys.append(compile_expression(left, scope))
                step.right_keys.append(compile_expression(right, scope))
                if lookup:
                    if not isinstance(right, exp.Column):
                        raise PlanError(f"a lookup table is joined on its fields: {cond.sql()}",
                                        hint="ON stream.x = table.key")
                    step.right_key_fields.append(right.name)
                continue
        rest.append(cond)
    if rest:
        residual: Node | None = None
        for cond in rest:
            node = compile_expression(cond, scope)
            residual = node if residual is None else _and(residual, node)
        step.residual = residual
    if step.kind == CROSS and (step.left_keys or step.residual is not None):
        raise PlanError("CROSS JOIN takes no ON condition")
    return step


def _and(a: Node, b: Node) -> Node:
    from kuiper.expr.nodes import And

    return And(a, b)


def _inputs(select: exp.Select, catalog: Catalog) -> list[tuple[str, StreamDef, exp.Join | None]]:
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is None or not isinstance(from_.this, exp.Table):
        raise PlanError("a join rule needs FROM stream", hint="SELECT … FROM s1 JOIN s2 ON …")
    first = catalog.get_stream(from_.this.name)
    if first.is_table:
        raise PlanError(f"{first.name} is a table: FROM names the stream, tables are joined to it")
    out: list[tuple[str, StreamDef, exp.Join | None]] = [
        (from_.this.alias or first.name, first, None)]
    for j in select.args.get("joins") or []:
        if not isinstance(j.this, exp.Table):
            raise PlanError(f"JOIN must name a stream or table: {j.this.sql()}")
        sdef = catalog.get_stream(j.this.name)
        out.append((j.this.alias or sdef.name, sdef, j))
    refs = [r for r, _, _ in out]
    if len(set(refs)) != len(refs):
        raise PlanError("a stream joined twice needs an alias for each use: FROM s AS a JOIN s AS b")
    return out


def _retain_size(table: StreamDef) -> int:
    raw = table.options.get("RETAIN_SIZE", "")
    if raw:
        try:
            size = int(raw)
        except ValueError:
            raise PlanError(f"table {table.name}: RETAIN_SIZE must be a number, got {raw}") from None
        if size > 0:
            return size
    return 0 if table.source_type == "file" else 1


def plan_join_query(rule: RuleDef, select: exp.Select, catalog: Catalog,
                    registry: Any) -> PhysicalPlan:
    from kuiper.planner.build import _limit, _op_name, _select_fields, select_aliases

    entries = _inputs(select, catalog)
    scope = Scope(streams={}, default=entries[0][1].name, registry=registry, joined=[])
    for ref, sdef, _ in entries:
        scope.streams.setdefault(sdef.name, sdef)
        scope.streams[ref] = sdef
        scope.ref_of.setdefault(sdef.name, ref)
        scope.ref_of[ref] = ref
        scope.joined.append((ref, sdef))  # type: ignore[union-attr]
    scope.alias_exprs = select_aliases(select)
    aggs = AggregateCollector()
    scope.aggregates = aggs
    scope.analytics = _NoAnalytics()
    event_time = bool(rule.options.get("isEventTime", False))

    sources: list[SourceSpec] = []
    inputs: list[JoinInput] = []
    tables: dict[str, TableState] = {}
    src_of: dict[str, int] = {}
    steps: list[JoinStep] = []
    lookups: list[tuple[JoinStep, StreamDef]] = []
    joined = {entries[0][0]}
    for ref, sdef, j in entries:
        is_lookup = sdef.is_table and sdef.kind == "lookup"
        if j is not None:
            with aggs.forbidden("ON"):
                step = join_step(j, ref, joined, scope, is_lookup)
            if is_lookup:
                if step.kind not in (INNER, LEFT):
                    raise PlanError(f"lookup table {sdef.name} joins with INNER or LEFT JOIN only")
                if not step.left_keys:
                    raise PlanError(f"the join with lookup table {sdef.name} needs an equality "
                                    "ON stream.field = table.field")
                lookups.append((step, sdef))
            else:
                if lookups:
                    raise PlanError("lookup tables are joined after every stream and scan table")
                if sdef.is_table and step.kind in (RIGHT, FULL):
                    raise PlanError(f"table {sdef.name}: a stream joins a table with INNER, LEFT "
                                    "or CROSS JOIN (the stream triggers the join)")
                steps.append(step)
            joined.add(ref)
        if is_lookup:
            continue
        if event_time and not sdef.is_table:
            if not sdef.timestamp_field:
                raise PlanError(f"isEventTime needs the TIMESTAMP field of stream {sdef.name}",
                                hint='CREATE STREAM ... WITH (TIMESTAMP="ts", ...)')
            scope.use(sdef.name, sdef.timestamp_field)
        index = len(sources)
        sources.append(SourceSpec(sdef, None, ref if ref != sdef.name else ""))
        inp = JoinInput(ref, sdef.is_table, sdef.timestamp_field if event_time else "")
        if sdef.is_table:
            inp.retain_size = _retain_size(sdef)
            tables[ref] = TableState(ref, inp.retain_size)
        else:
            src_of[ref] = index
        inputs.append(inp)

    window_expr, key_exprs = split_group_by(select)
    spec = None
    if window_expr is not None:
        with aggs.forbidden("a window"):
            spec = window_spec(window_expr, scope)
        if spec.kind in (COUNT, STATE):
            raise PlanError("a join runs in a time window (tumbling, hopping, sliding, session)")
    if len(src_of) > 1 and spec is None:
        raise PlanError("a join of streams needs a window",
                        hint="GROUP BY TUMBLINGWINDOW(ss, 10) (stream ⋈ table needs none)")
    where = select.args.get("where")
    cond = None
    if where is not None:
        with aggs.forbidden("WHERE"):
            cond = compile_expression(where.this, scope)
    fields, wants_all = _select_fields(select, scope)
    star_refs = _star_refs(select, scope)
    having = select.args.get("having")
    having_node = compile_expression(having.this, scope) if having is not None else None
    order = order_keys(select, scope)

    ops: list[Operator] = []
    first_inputs: list[JoinInput] | None = inputs
    if spec is not None:
        ops.append(JoinWindowOp(_op_name(ops, "window"), spec, inputs, tables,
                                event_time=event_time,
                                late_tolerance_ms=late_tolerance_ms(rule.options)))
        first_inputs = None
    if steps:
        ops.append(JoinOp(_op_name(ops, "join"), entries[0][0], steps, src_of, tables,
                          first_inputs))
        first_inputs = None
    for step, table in lookups:
        ops.append(LookupJoinOp(_op_name(ops, "lookupjoin"), step, table, first_inputs))
        first_inputs = None
    if cond is not None:
        ops.append(JoinFilterOp(_op_name(ops, "filter"), cond))
    ops += aggregate_ops(select, scope, aggs, key_exprs, True, having_node, order,
                         lambda sub, kind: _op_name(ops + sub, kind))
    if aggs.hidden:
        for f in fields:
            if f.is_star:
                f.star_except = f.star_except + aggs.hidden
    refs = [r for r, _, _ in entries]
    ops.append(JoinProjectOp(_op_name(ops, "project"), fields, refs, star_refs, _limit(select)))
    for spec_ in sources:
        if not wants_all:
            used = scope.used_fields.get(spec_.stream.name, set())
            order_ = [f.name for f in spec_.stream.fields]
            spec_.fields = sorted(used, key=order_.index) if order_ else sorted(used)
    plan = PhysicalPlan(rule=rule, sources=sources, operators=ops, is_windowed=spec is not None)
    plan.explain = [{"op": o.name, "type": type(o).__name__} for o in ops]
    return plan


class _NoAnalytics:
    """Analytic functions run on one stream's rows in arrival order: not in join rules."""

    def handles(self, lname: str) -> bool:
        return lname in ANALYTIC_FUNCS

    def add(self, node: exp.Expression, scope: Scope) -> Node:
        raise PlanError(f"analytic functions are not supported in join rules: {node.sql()}",
                        hint="compute them in a rule over the stream and join its output")


def _star_refs(select: exp.Select, scope: Scope) -> list[list[str]]:
    refs = [r for r, _ in scope.joined or []]
    out: list[list[str]] = []
    for item in select.expressions:
        if isinstance(item, exp.Star):
            out.append(refs)
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            qual = item.table
            if qual and qual not in scope.ref_of:
                raise PlanError(f"{qual}.* names no stream of the rule")
            out.append([scope.ref_of[qual]] if qual else refs)
    return out
