"""Rule SQL -> PhysicalPlan: one small function per clause, ops named as eKuiper does."""
from __future__ import annotations

from typing import Any

from sqlglot import exp

from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef, StreamDef
from kuiper.errors import PlanError
from kuiper.expr.compile import Scope, compile_expression
from kuiper.expr.rulefuncs import Unnest
from kuiper.operators.base import Operator
from kuiper.operators.filter import FilterOp
from kuiper.operators.project import ProjectOp, SelectField
from kuiper.planner.aggregate import AggregateCollector, aggregate_ops, order_keys
from kuiper.planner.analytic import AnalyticCollector, with_analytics
from kuiper.planner.gotext import select_error_prefix
from kuiper.planner.physical import PhysicalPlan, SourceSpec
from kuiper.planner.window import (
    late_tolerance_ms,
    split_group_by,
    window_operator,
    window_spec,
)
from kuiper.sql import Query, parse
from kuiper.sql.expressions import Arrow

DEFAULT_FIELD_PREFIX = "kuiper_field_"


def default_registry() -> Any:
    from kuiper.functions.registry import default_registry as reg

    return reg() if callable(reg) else reg


def plan_rule(rule: RuleDef, catalog: Catalog, registry: Any = None) -> PhysicalPlan:
    """Plan a rule's SQL against the catalog's streams."""
    stmt = parse(rule.sql)
    if not isinstance(stmt, Query):
        raise PlanError(f"rule {rule.id}: sql must be a SELECT statement",
                        hint="streams are created with CREATE STREAM, rules hold a SELECT")
    return plan_query(rule, stmt.select, catalog, registry)


def plan_query(rule: RuleDef, select: exp.Select, catalog: Catalog, registry: Any = None) -> PhysicalPlan:
    if registry is None:
        registry = default_registry()
    number_function_calls(select)
    if select.args.get("joins"):
        from kuiper.planner.join import plan_join_query

        return plan_join_query(rule, select, catalog, registry)
    stream, alias = _from(select, catalog)
    streams = {stream.name: stream}
    if alias:
        streams[alias] = stream
    scope = Scope(streams=streams, default=stream.name, registry=registry)
    if rule.options.get("isEventTime") and stream.timestamp_field:
        scope.event_time_field = stream.timestamp_field
    scope.alias_exprs = select_aliases(select)
    aggs = AggregateCollector()
    scope.aggregates = aggs
    analytics = AnalyticCollector()
    scope.analytics = analytics
    window_expr, key_exprs = split_group_by(select)
    where = select.args.get("where")
    cond = None
    if where is not None:
        with aggs.forbidden("WHERE"):
            scope.hit_updates = False  # WHERE reads last_hit_*; the filter commits passing rows
            cond = compile_expression(where.this, scope)
            scope.hit_updates = True
    spec = None
    if window_expr is not None:
        with aggs.forbidden("a window"):
            spec = window_spec(window_expr, scope)
    fields, wants_all = _select_fields(select, scope)
    having = select.args.get("having")
    having_node = None
    if having is not None:
        scope.hit_updates = False
        having_node = compile_expression(having.this, scope)
        scope.hit_updates = True
    order = order_keys(select, scope)
    limit = _limit(select)
    ops: list[Operator] = []
    event_time = bool(rule.options.get("isEventTime", False))
    if spec is None and event_time and stream.timestamp_field:
        from kuiper.operators.watermark import WatermarkOp  # only for event time

        scope.use(stream.name, stream.timestamp_field)
        ops.append(WatermarkOp(_op_name(ops, "watermark"), stream.timestamp_field,
                               late_tolerance_ms(rule.options)))
    if spec is not None:
        if event_time and stream.timestamp_field:
            scope.use(stream.name, stream.timestamp_field)
        ops.append(window_operator(_op_name(ops, "window"), spec, rule, where=cond,
                                   timestamp_field=stream.timestamp_field))
    elif cond is not None:
        ops.append(FilterOp(_op_name(ops, "filter"), cond))
    ops += aggregate_ops(select, scope, aggs, key_exprs, spec is not None, having_node, order,
                         lambda sub, kind: _op_name(ops + sub, kind))
    hidden = aggs.hidden + analytics.hidden
    if hidden:
        for f in fields:
            if f.is_star:
                f.star_except = f.star_except + hidden
    ops.append(ProjectOp(_op_name(ops, "project"), fields, limit))
    ops = with_analytics(ops, analytics)
    needed = None if wants_all or scope.reads_all else sorted(scope.used_fields.get(stream.name, set()))
    if needed is not None and not stream.schemaless:
        order_ = [f.name for f in stream.fields]
        needed.sort(key=order_.index)
    plan = PhysicalPlan(rule=rule, sources=[SourceSpec(stream, needed, alias)], operators=ops,
                        is_windowed=spec is not None)
    plan.explain = [{"op": o.name, "type": type(o).__name__} for o in ops]
    return plan


def number_function_calls(select: exp.Select) -> None:
    """Give every function call its position in the SQL (`meta["func_id"]`, 0-based, in text
    order), as eKuiper's parser does: the call site that scopes a plugin function's state, so
    the same rule finds its saved state again after a restart."""
    for i, call in enumerate(select.find_all(exp.Anonymous, bfs=False)):
        call.meta["func_id"] = i


def _op_name(ops: list[Operator], kind: str) -> str:
    return f"{len(ops) + 2}_{kind}"


def _from(select: exp.Select, catalog: Catalog) -> tuple[StreamDef, str]:
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is None:
        raise PlanError("the rule's SELECT has no FROM clause", hint="SELECT … FROM myStream")
    table = from_.this
    if not isinstance(table, exp.Table):
        raise PlanError(f"FROM must name a stream: {table.sql()}")
    if select.args.get("joins"):
        raise PlanError("joins are not supported yet", hint="stream/table joins land with issue 6")
    stream = catalog.get_stream(table.name)
    if stream.is_table:
        raise PlanError(f"{stream.name} is a table: a rule reads a stream (tables join to streams)")
    return stream, table.alias or ""


def _limit(select: exp.Select) -> int | None:
    lim = select.args.get("limit")
    if lim is None:
        return None
    value = lim.expression if lim.expression is not None else lim.this
    if not isinstance(value, exp.Literal) or value.is_string:
        raise PlanError(f"LIMIT takes a whole number, got {value.sql()}")
    return int(value.this)


def _field_name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, exp.Dot):
        return node.expression.name
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Window):
        return _field_name(node.this)
    if isinstance(node, Arrow):
        return None
    return None


def select_aliases(select: exp.Select) -> dict[str, exp.Expression]:
    """Each SELECT alias's expression (the first one of a name)."""
    out: dict[str, exp.Expression] = {}
    for item in select.expressions:
        if isinstance(item, exp.Alias):
            out.setdefault(item.alias, item.this)
    return out


def _select_fields(select: exp.Select, scope: Scope) -> tuple[list[SelectField], bool]:
    scope.in_select = True
    try:
        return _compile_fields(select, scope)
    finally:
        scope.in_select = False


def _compile_fields(select: exp.Select, scope: Scope) -> tuple[list[SelectField], bool]:
    fields: list[SelectField] = []
    wants_all = False
    taken: set[str] = set()
    for item in select.expressions:
        if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
            star = item if isinstance(item, exp.Star) else item.this
            wants_all = True
            excepts = tuple(e.name for e in (star.args.get("except_") or star.args.get("except") or []))
            replaces = []
            for r in star.args.get("replace") or []:
                if not isinstance(r, exp.Alias):
                    raise PlanError(f"* REPLACE needs 'expr AS name': {r.sql()}")
                replaces.append((r.alias, compile_expression(r.this, scope)))
            fields.append(SelectField("*", None, excepts, replaces))
            continue
        alias = item.alias if isinstance(item, exp.Alias) else None
        body = item.this if isinstance(item, exp.Alias) else item
        if alias:
            scope.defining.add(alias)
        try:
            node = compile_expression(body, scope)
        finally:
            scope.defining.discard(alias or "")
        name = alias or _field_name(body)
        if not name or name in taken and not alias:
            i = 0
            while f"{DEFAULT_FIELD_PREFIX}{i}" in taken:
                i += 1
            name = f"{DEFAULT_FIELD_PREFIX}{i}"
        taken.add(name)
        prefix = "" if isinstance(node, Unnest) else select_error_prefix(body, alias, scope.default)
        fields.append(SelectField(name, node, invisible=bool(item.meta.get("invisible")),
                                  error_prefix=prefix))
        if alias:
            scope.aliases[alias] = node.kind
    return fields, wants_all
