"""Compiled expression nodes: each evaluates a whole batch to a Column, never row by row
except for dynamic (schemaless) values and nested JSON access."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kuiper._core import logic as _logic
from kuiper._core import strings as _strings
from kuiper.api.batch import ANY, BOOLEAN, STRING, STRUCT, Batch, Column, kind_of
from kuiper.expr import ops
from kuiper.expr.nulls import bool_column, truth
from kuiper.functions.gostyle import go_repr


def _as_bool(col: Column) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, valid) of a column read as a boolean operand; non-booleans count as false."""
    if col.kind == BOOLEAN:
        return col.values, col.valid
    return truth(col), col.valid


@dataclass(slots=True)
class EvalContext:
    """What one evaluation of a batch carries: the rows, earlier aliases, row errors."""

    batch: Batch
    env: dict[str, Column] = field(default_factory=dict)
    errors: ops.RowErrors | None = None
    func_ctx: Any = None

    def __post_init__(self) -> None:
        if self.errors is None:
            self.errors = ops.RowErrors(self.batch.n)

    @property
    def n(self) -> int:
        return self.batch.n


class Node:
    """A compiled expression. `kind` is the static result kind when known, else None."""

    kind: str | None = None

    def eval(self, ec: EvalContext) -> Column:
        """Evaluate over the context's batch; every node class defines it."""
        raise TypeError(f"{type(self).__name__} does not define eval()")

    def children(self) -> tuple[Node, ...]:
        return ()

    def evaluate(self, batch: Batch) -> Column:
        """Evaluate over a batch (public entry; row errors leave nils)."""
        return self.eval(EvalContext(batch))


class Const(Node):
    def __init__(self, value: Any) -> None:
        self.value = value
        self.kind = None if value is None else kind_of(value)

    def eval(self, ec: EvalContext) -> Column:
        return Column.constant(self.value, ec.n)

    def __repr__(self) -> str:
        return f"Const({self.value!r})"


class FieldRef(Node):
    """A stream field by its column name in the batch."""

    def __init__(self, column: str, kind: str | None) -> None:
        self.column = column
        self.kind = kind

    def eval(self, ec: EvalContext) -> Column:
        col = ec.batch.columns.get(self.column)
        return col if col is not None else Column.nulls(ec.n, self.kind or ANY)

    def __repr__(self) -> str:
        return f"FieldRef({self.column})"


class AliasRef(Node):
    """A SELECT alias reused by a later field."""

    def __init__(self, name: str, kind: str | None) -> None:
        self.name = name
        self.kind = kind

    def eval(self, ec: EvalContext) -> Column:
        return ec.env[self.name]


class SelfRef(Node):
    """`self`: the whole message as a struct (or the `self` column of a binary stream)."""

    kind = STRUCT

    def eval(self, ec: EvalContext) -> Column:
        col = ec.batch.columns.get("self")
        if col is not None:
            return col
        values = np.empty(ec.n, dtype=object)
        values[:] = ec.batch.to_rows()
        return Column(STRUCT, values)


class MetaRef(Node):
    """meta(key): a message's metadata (topic, messageId, …); meta(*) is all of it."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.kind = None if key else STRUCT

    def eval(self, ec: EvalContext) -> Column:
        if self.key is None:
            return Column(STRUCT, np.array(ec.batch.meta_rows() + [None], dtype=object)[:-1])
        col = ec.batch.meta.get(self.key)
        return col if col is not None else Column.nulls(ec.n)


def _rowwise(values: np.ndarray, valid: np.ndarray | None, fn) -> Column:
    out: list[Any] = [None] * len(values)
    rows = range(len(values)) if valid is None else np.flatnonzero(valid).tolist()
    for i in rows:
        out[i] = fn(values[i])
    return Column.from_values(out)


class Nested(Node):
    """`a->b` / `a.b`: a key of a struct value; nil when the parent is nil or not an object."""

    def __init__(self, base: Node, key: str) -> None:
        self.base = base
        self.key = key

    def children(self) -> tuple[Node, ...]:
        return (self.base,)

    def eval(self, ec: EvalContext) -> Column:
        col = self.base.eval(ec)
        key = self.key
        if isinstance(self.base, Slice):  # arr[a:b]->key maps over the slice (eKuiper json_expr)
            return _rowwise(col.decoded(), col.valid, lambda v: [
                e.get(key) if isinstance(e, dict) else None for e in v] if isinstance(v, list) else None)
        return _rowwise(col.decoded(), col.valid, lambda v: v.get(key) if isinstance(v, dict) else None)


class Index(Node):
    """`a[i]`: an array element (negative counts from the end); an index out of range is a row
    error with eKuiper's text (valuer.go subset: "out of index: i of n")."""

    def __init__(self, base: Node, index: Node) -> None:
        self.base = base
        self.index = index

    def children(self) -> tuple[Node, ...]:
        return (self.base, self.index)

    def eval(self, ec: EvalContext) -> Column:
        col = self.base.eval(ec)
        idx = self.index.eval(ec)
        vals = col.decoded()
        ivals = idx.decoded()
        ivalid = idx.validity()
        out: list[Any] = [None] * ec.n
        rows = range(ec.n) if col.valid is None else np.flatnonzero(col.valid).tolist()
        for r in rows:
            v = vals[r]
            if not ivalid[r]:
                continue
            i = ivals[r]
            if isinstance(v, list) and isinstance(i, int | np.integer) and not isinstance(i, bool):
                i = int(i)
                if -len(v) <= i < len(v):
                    out[r] = v[i]
                else:
                    ec.errors.fail_row(r, f"out of index: {i} of {len(v)}")
            elif isinstance(v, dict) and isinstance(i, str):
                out[r] = v.get(i)
        return Column.from_values(out)


OPEN_END = -2147483648  # eKuiper's parser fills an omitted slice end with math.MinInt32


def slice_bound(v: Any) -> int | None:
    """cast.ToInt(v, CONVERT_SAMEKIND) of a slice bound: ints, floats truncated; else None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating) and np.isfinite(v):
        return int(v)
    return None


def slice_array(arr: list, start: int, end: int) -> tuple[Any, str | None]:
    """valuer.go subset for a slice: (sub-array, None) or (None, eKuiper's error text).
    As in eKuiper, equal bounds (`a[1:1]`) are read as an index and give one element."""
    n = len(arr)
    if start == end:
        if not -n <= start < n:
            return None, f"out of index: {start} of {n}"
        return arr[start], None
    if start < 0:
        if start + n < 0:
            return None, f"out of index: {start} of {n}"
        start += n
    elif start >= n:
        return None, f"start value is out of index: {start} of {n}"
    if end == OPEN_END:
        end = n
    elif end < 0:
        if end + n < 0:
            return None, f"out of index: {end} of {n}"
        end += n
    elif end > n:
        return None, f"end value is out of index: {end} of {n}"
    elif start >= end:
        return None, f"start cannot be greater than end. start:{start}  end:{end}"
    if start > end:  # reachable with a negative end; Go's reflect slice would panic
        return None, f"start cannot be greater than end. start:{start}  end:{end}"
    return arr[start:end], None


class Slice(Node):
    """`a[from:to]`: a sub-array (to exclusive, either end optional), with eKuiper's bounds
    checks (valuer.go subset): a bound out of range or `from >= to` is a row error, so is a
    bound that is not a number. A nil array gives nil; slicing a non-array is an error."""

    def __init__(self, base: Node, start: Node | None, stop: Node | None) -> None:
        self.base = base
        self.start = start
        self.stop = stop

    def children(self) -> tuple[Node, ...]:
        return tuple(x for x in (self.base, self.start, self.stop) if x is not None)

    def eval(self, ec: EvalContext) -> Column:
        col = self.base.eval(ec)
        starts = self.start.eval(ec).to_pylist() if self.start else [0] * ec.n
        stops = self.stop.eval(ec).to_pylist() if self.stop else [OPEN_END] * ec.n
        vals = col.decoded().tolist()
        out: list[Any] = [None] * ec.n
        rows = range(ec.n) if col.valid is None else np.flatnonzero(col.valid).tolist()
        for r in rows:
            v = vals[r]
            if v is None:
                continue
            start, stop = slice_bound(starts[r]), slice_bound(stops[r])
            if start is None:
                ec.errors.fail_row(r, f"colon start is not int: {starts[r]!r}")
                continue
            if stop is None:
                ec.errors.fail_row(r, f"colon end is not int: {stops[r]!r}")
                continue
            if isinstance(v, list):
                out[r], message = slice_array(v, start, stop)
                if message:
                    ec.errors.fail_row(r, message)
            elif isinstance(v, dict):
                ec.errors.fail_row(r, "[] is an invalid operation for map[string]interface {}")
            else:
                ec.errors.fail_row(r, f"invalid operation {go_repr(v)} [] "
                                      f"*xsql.BracketEvalResult(&{{{start} {stop}}})")
        return Column.from_values(out)


class Unary(Node):
    """A node of one operand."""

    def __init__(self, operand: Node) -> None:
        self.operand = operand

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


class Binary(Node):
    """A node of two operands."""

    def __init__(self, left: Node, right: Node) -> None:
        self.left = left
        self.right = right

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


class Arith(Binary):
    def __init__(self, op: str, left: Node, right: Node) -> None:
        self.op = op
        super().__init__(left, right)
        lk, rk = left.kind, right.kind
        if lk in ops.NUMERIC and rk in ops.NUMERIC:
            self.kind = "float" if "float" in (lk, rk) else "bigint"

    def eval(self, ec: EvalContext) -> Column:
        return ops.arith(self.op, self.left.eval(ec), self.right.eval(ec), ec.errors,
                         a_const=isinstance(self.left, Const), b_const=isinstance(self.right, Const))


class Neg(Unary):
    def __init__(self, operand: Node) -> None:
        super().__init__(operand)
        self.kind = operand.kind

    def eval(self, ec: EvalContext) -> Column:
        col = self.operand.eval(ec)
        if col.kind in ops.NUMERIC:
            return Column(col.kind, -col.values, col.valid)
        return ops.arith("-", Column.constant(0, ec.n), col, ec.errors)


class Compare(Binary):
    kind = BOOLEAN

    def __init__(self, op: str, left: Node, right: Node) -> None:
        self.op = op
        super().__init__(left, right)

    def eval(self, ec: EvalContext) -> Column:
        res = ops.compare(
            self.op, self.left.eval(ec), self.right.eval(ec), ec.errors,
            a_const=isinstance(self.left, Const), b_const=isinstance(self.right, Const),
        )
        return bool_column(res)


class _Connective(Binary):
    """AND / OR in three-valued logic: `_kernel(a, a_valid, b, b_valid) -> (values, valid)`."""

    kind = BOOLEAN
    _kernel: Any

    def eval(self, ec: EvalContext) -> Column:
        a, av = _as_bool(self.left.eval(ec))
        b, bv = _as_bool(self.right.eval(ec))
        values, valid = self._kernel(a, av, b, bv)
        return Column(BOOLEAN, values, valid)


class And(_Connective):
    _kernel = staticmethod(_logic.and_)


class Or(_Connective):
    _kernel = staticmethod(_logic.or_)


class Not(Unary):
    kind = BOOLEAN

    def eval(self, ec: EvalContext) -> Column:
        a, av = _as_bool(self.operand.eval(ec))
        values, valid = _logic.not_(a, av)
        return Column(BOOLEAN, values, valid)


class IsNull(Unary):
    kind = BOOLEAN

    def __init__(self, operand: Node, negate: bool) -> None:
        super().__init__(operand)
        self.negate = negate

    def eval(self, ec: EvalContext) -> Column:
        valid = self.operand.eval(ec).validity()
        return bool_column(valid.copy() if self.negate else ~valid)


class Like(Node):
    """`x [NOT] LIKE pattern`: `%` any run, `_` one character, `\\` escapes; nil gives false."""

    kind = BOOLEAN

    def __init__(self, operand: Node, pattern: Node, negate: bool) -> None:
        self.operand = operand
        self.pattern = pattern
        self.negate = negate

    def children(self) -> tuple[Node, ...]:
        return (self.operand, self.pattern)

    def eval(self, ec: EvalContext) -> Column:
        col = self.operand.eval(ec)
        if isinstance(self.pattern, Const) and isinstance(self.pattern.value, str):
            pattern = self.pattern.value
            if col.dictionary is not None:
                lut = _strings.like_dictionary(col.dictionary, pattern)
                return bool_column(_strings.gather_bool(col.values, lut, col.valid, self.negate))
            vals = col.values if col.kind == STRING else col.decoded()
            return bool_column(_strings.like_values(vals, col.valid, pattern, "\\", self.negate))
        pats = self.pattern.eval(ec).to_pylist()
        vals = col.decoded()
        res = np.fromiter(
            (isinstance(vals[r], str) and isinstance(p, str)
             and _strings.like_regex(p, "\\").fullmatch(vals[r]) is not None
             for r, p in enumerate(pats)), dtype=np.bool_, count=ec.n)
        if self.negate:
            res = ~res & col.validity()
        return bool_column(res)


class Case(Node):
    """Searched CASE (conditions) or simple CASE (`operand` compared with each WHEN value).
    Each THEN is evaluated only on the rows it selects, so a branch can't fail other rows."""

    def __init__(self, operand: Node | None, whens: list[tuple[Node, Node]], default: Node | None) -> None:
        self.operand = operand
        self.whens = whens
        self.default = default
        kinds = {t.kind for _, t in whens} | ({default.kind} if default else set())
        self.kind = kinds.pop() if len(kinds) == 1 else None

    def children(self) -> tuple[Node, ...]:
        out: list[Node] = [self.operand] if self.operand else []
        for w, t in self.whens:
            out += [w, t]
        if self.default:
            out.append(self.default)
        return tuple(out)

    def eval(self, ec: EvalContext) -> Column:
        n = ec.n
        remaining = np.ones(n, dtype=np.bool_)
        parts: list[tuple[np.ndarray, Node]] = []
        base = self.operand.eval(ec) if self.operand else None
        for when, then in self.whens:
            if base is not None:
                cond = ops.compare("=", base, when.eval(ec), ec.errors, b_const=isinstance(when, Const))
            else:
                cond = truth(when.eval(ec))
            hit = cond & remaining
            if hit.any():
                parts.append((hit, then))
                remaining &= ~hit
        if self.default is not None and remaining.any():
            parts.append((remaining, self.default))
        return _scatter(ec, parts, self.kind)


def _scatter(ec: EvalContext, parts: list[tuple[np.ndarray, Node]], kind: str | None) -> Column:
    n = ec.n
    if not parts:
        return Column.nulls(n, kind or ANY)
    if len(parts) == 1 and parts[0][0].all():
        return parts[0][1].eval(ec)
    results = []
    for mask, node in parts:
        idx = np.flatnonzero(mask)
        sub = EvalContext(ec.batch.take(idx), {k: v.take(idx) for k, v in ec.env.items()},
                          func_ctx=ec.func_ctx)
        col = node.eval(sub)
        for r, message in sub.errors.row_messages():  # each row keeps its own error
            ec.errors.fail_row(int(idx[r]), message)
        results.append((idx, col))
    kinds = {c.kind for _, c in results}
    valid = np.zeros(n, dtype=np.bool_)
    if len(kinds) == 1 and (k := kinds.pop()) in ("bigint", "float", "boolean", "datetime"):
        out = np.zeros(n, dtype=results[0][1].values.dtype)
        for idx, col in results:
            out[idx] = col.values
            valid[idx] = col.validity()
        return Column(k, out, valid)
    obj = np.full(n, None, dtype=object)
    for idx, col in results:
        obj[idx] = col.decoded()
        valid[idx] = col.validity()
    final_kind = results[0][1].kind if len({c.kind for _, c in results}) == 1 else ANY
    return Column(final_kind, obj, valid)


class Call(Node):
    """A scalar function from the registry, evaluated over whole columns.

    `func_id` is the call's position among the function calls of the rule's SQL (set by the
    planner for plugin and external functions: the call site that scopes the function's
    state); the runtime binds `func_ctx`, this call site's FunctionContext, before the rule
    starts. An unbound call passes the operator's context (`EvalContext.func_ctx`).
    """

    func_id: int | None = None
    func_ctx: Any = None

    def __init__(self, name: str, fdef: Any, args: list[Node]) -> None:
        self.name = name
        self.fdef = fdef
        self.args = args
        self.kind = getattr(fdef, "return_kind", None)

    def children(self) -> tuple[Node, ...]:
        return tuple(self.args)

    def eval(self, ec: EvalContext) -> Column:
        from kuiper.errors import EvalError

        cols = [a.eval(ec) for a in self.args]
        fctx = self.func_ctx if self.func_ctx is not None else ec.func_ctx
        try:
            return self.fdef.exec_batch(cols, ec.n, fctx)
        except EvalError as e:
            partial = getattr(e, "partial", None)
            if partial is not None:  # the function already knows which rows failed
                ec.errors.fail(e.failed, str(e))
                return partial
            if ec.n == 1:
                ec.errors.fail(np.ones(1, dtype=np.bool_), str(e))
                return Column.nulls(1)
            # find the failing rows one by one so the other rows still produce results
            out: list[Any] = [None] * ec.n
            for r in range(ec.n):
                try:
                    out[r] = self.fdef.exec_batch([c.slice(r, r + 1) for c in cols], 1,
                                                  fctx).to_pylist()[0]
                except EvalError as e1:
                    ec.errors.fail_row(r, str(e1))
            return Column.from_values(out)

    def __repr__(self) -> str:
        return f"Call({self.name}, {self.args})"


__all__ = [
    "EvalContext", "Node", "Const", "FieldRef", "AliasRef", "MetaRef", "Nested", "Index", "Slice",
    "Arith", "Neg", "Compare", "And", "Or", "Not", "IsNull", "Like", "Case",
    "Call", "STRUCT",
]
