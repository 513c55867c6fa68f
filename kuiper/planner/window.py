"""GROUP BY's window call -> a window operator (kind, lengths, FILTER / OVER parts, event time).

The window operators (kuiper.operators.window*) are imported only when a rule has a window."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from kuiper.catalog.defs import RuleDef
from kuiper.errors import PlanError
from kuiper.expr.compile import Scope, compile_expression
from kuiper.expr.nodes import Node
from kuiper.operators.base import Operator

if TYPE_CHECKING:
    from kuiper.operators.window import WindowSpec

UNITS_MS = {"dd": 86_400_000, "hh": 3_600_000, "mi": 60_000, "ss": 1000, "ms": 1}
# each window function's kind (kuiper.operators.window's TUMBLING, ... constants)
WINDOW_FUNCS = {"tumblingwindow": "tumbling", "hoppingwindow": "hopping",
                "slidingwindow": "sliding", "sessionwindow": "session", "countwindow": "count",
                "statewindow": "state"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


@dataclass
class WindowPlan:
    """The window of a rule and the GROUP BY keys beside it."""

    spec: WindowSpec | None
    keys: list[exp.Expression] = field(default_factory=list)


def _window_call(node: exp.Expression) -> exp.Anonymous | None:
    inner = node
    if isinstance(inner, exp.Window):
        inner = inner.this
    if isinstance(inner, exp.Filter):
        inner = inner.this
    if isinstance(inner, exp.Anonymous) and str(inner.this).lower() in WINDOW_FUNCS:
        return inner
    return None


def split_group_by(select: exp.Select) -> tuple[exp.Expression | None, list[exp.Expression]]:
    """(the window expression, the other GROUP BY expressions)."""
    group = select.args.get("group")
    if group is None:
        return None, []
    window, keys = None, []
    for e in group.expressions:
        if _window_call(e) is not None:
            if window is not None:
                raise PlanError("GROUP BY may hold only one window")
            window = e
        else:
            keys.append(e)
    return window, keys


def _int_arg(arg: exp.Expression, what: str) -> int:
    if isinstance(arg, exp.Literal) and not arg.is_string:
        try:
            return int(arg.this)
        except ValueError:
            pass
    raise PlanError(f"{what} must be a whole number, got {arg.sql()}")


def _unit(arg: exp.Expression, fname: str) -> int:
    name = arg.name.lower() if isinstance(arg, exp.Column | exp.Identifier) else ""
    if name not in UNITS_MS:
        raise PlanError(f"{fname}: the time unit must be one of DD, HH, MI, SS, MS, got {arg.sql()}")
    return UNITS_MS[name]


def window_spec(node: exp.Expression, scope: Scope) -> WindowSpec:
    from kuiper.operators.window import COUNT, HOPPING, SESSION, SLIDING, TUMBLING, WindowSpec

    call = _window_call(node)
    assert call is not None
    fname = str(call.this).upper()
    kind = WINDOW_FUNCS[fname.lower()]
    args = list(call.expressions)
    spec = WindowSpec(kind)
    if kind in (TUMBLING, HOPPING, SLIDING, SESSION):
        want = {TUMBLING: (2, 2), HOPPING: (3, 3), SLIDING: (2, 3), SESSION: (3, 3)}[kind]
        if not want[0] <= len(args) <= want[1]:
            raise PlanError(f"{fname} takes {want[0]}{'' if want[0] == want[1] else ' or ' + str(want[1])} "
                            f"arguments (unit, lengths), got {len(args)}")
        unit = _unit(args[0], fname)
        nums = [_int_arg(a, f"{fname} length") * unit for a in args[1:]]
        if any(v <= 0 for v in nums[:2]):
            raise PlanError(f"{fname}: lengths must be positive")
        spec.size = nums[0]
        if kind == HOPPING:
            spec.hop = nums[1]
        elif kind == SLIDING and len(nums) > 1:
            spec.delay = nums[1]
        elif kind == SESSION:
            spec.size, spec.timeout = nums[0], nums[1]
    elif kind == COUNT:
        if not 1 <= len(args) <= 2:
            raise PlanError("COUNTWINDOW takes 1 or 2 arguments: (size[, step])")
        spec.size = _int_arg(args[0], "COUNTWINDOW size")
        spec.hop = _int_arg(args[1], "COUNTWINDOW step") if len(args) > 1 else spec.size
        if spec.size <= 0 or spec.hop <= 0 or spec.hop > spec.size:
            raise PlanError("COUNTWINDOW needs 0 < step <= size")
    else:
        if not 1 <= len(args) <= 2:
            raise PlanError("STATEWINDOW takes (beginCondition, emitCondition) or (condition)")
        spec.begin = compile_expression(args[0], scope)
        spec.emit = compile_expression(args[1], scope) if len(args) > 1 else None
    _window_clauses(node, spec, scope, fname)
    return spec


def _window_clauses(node: exp.Expression, spec: WindowSpec, scope: Scope, fname: str) -> None:
    from kuiper.operators.window import SLIDING, STATE

    if isinstance(node, exp.Window):
        when = node.args.get("when")
        if when is not None:
            if spec.kind != SLIDING:
                raise PlanError(f"OVER (WHEN ...) is only for SLIDINGWINDOW, not {fname}")
            spec.trigger = compile_expression(when, scope)
        parts = node.args.get("partition_by") or []
        if parts:
            if spec.kind != STATE:
                raise PlanError(f"OVER (PARTITION BY ...) is only for STATEWINDOW, not {fname}")
            spec.partition = [compile_expression(p, scope) for p in parts]
        node = node.this
    if isinstance(node, exp.Filter):
        cond = node.expression.this if isinstance(node.expression, exp.Where) else node.expression
        spec.input_filter = compile_expression(cond, scope)


def late_tolerance_ms(options: dict[str, Any]) -> int:
    value = options.get("lateTolerance", 1000)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        total, pos = 0.0, 0
        for m in _DURATION.finditer(text):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _DURATION_MS[m.group(2)]
            pos = m.end()
        if pos == len(text) and text:
            return int(total)
    raise PlanError(f"option lateTolerance has a bad duration {value!r}", hint='e.g. 1000 or "1s"')


def window_operator(name: str, spec: WindowSpec, rule: RuleDef, *, where: Node | None,
                    timestamp_field: str, inputs: int = 1) -> Operator:
    from kuiper.operators.window import COUNT, STATE, CountWindowOp, WindowOp
    from kuiper.operators.window_state import StateWindowOp

    event_time = bool(rule.options.get("isEventTime", False))
    if spec.kind == COUNT:
        if event_time:
            raise PlanError("COUNTWINDOW does not support event time", hint="set isEventTime to false")
        op: Operator = CountWindowOp(name, spec)
    elif spec.kind == STATE:
        op = StateWindowOp(name, spec)
    else:
        if event_time and not timestamp_field:
            raise PlanError("isEventTime needs the stream's TIMESTAMP field",
                            hint='CREATE STREAM ... WITH (TIMESTAMP="ts", ...)')
        op = WindowOp(name, spec, event_time=event_time,
                      late_tolerance_ms=late_tolerance_ms(rule.options), inputs=inputs)
    op.where = where  # type: ignore[attr-defined]
    if isinstance(op, WindowOp) and event_time:
        op.timestamp_field = timestamp_field
    return op
