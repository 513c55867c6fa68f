"""Binary operators on columns with eKuiper's typing: a typed vector path, a row-wise fallback.

Numbers: int op int stays int (division truncates toward zero as in Go), int op float is float.
Datetime (epoch ms) mixes with numbers as an int. Comparing mismatched kinds or doing
arithmetic on strings/booleans is a row error ("invalid operation"), reported by the caller.
"""
from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from kuiper.api.batch import BIGINT, BOOLEAN, DATETIME, FLOAT, STRING, Column, kind_of
from kuiper.expr.nulls import both_valid

NUMERIC = (BIGINT, FLOAT, DATETIME)

ARITH_OPS = ("+", "-", "*", "/", "%", "&", "|", "^")
COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=")

_PY_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_NP_COMPARE = {
    "=": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


class RowErrors:
    """Rows that failed evaluation, with one message per failure kind."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.mask: np.ndarray | None = None
        self.messages: list[str] = []

    def fail(self, rows: np.ndarray, message: str) -> None:
        if not rows.any():
            return
        self.mask = rows.copy() if self.mask is None else (self.mask | rows)
        self.messages.append(message)

    def fail_row(self, i: int, message: str) -> None:
        rows = np.zeros(self.n, dtype=np.bool_)
        rows[i] = True
        self.fail(rows, message)

    @property
    def any(self) -> bool:
        return self.mask is not None and bool(self.mask.any())


def _num_kind(a: str, b: str) -> str:
    return FLOAT if FLOAT in (a, b) else BIGINT


# --- arithmetic ----------------------------------------------------------------------------
def _py_arith(op: str, x: Any, y: Any) -> Any:
    if isinstance(x, bool) or isinstance(y, bool) or not isinstance(x, int | float) or not isinstance(
        y, int | float
    ):
        raise TypeError(f"invalid operation {_typename(x)}({x!r}) {op} {_typename(y)}({y!r})")
    both_int = isinstance(x, int) and isinstance(y, int)
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op == "/":
        if both_int:
            if y == 0:
                raise ZeroDivisionError("divided by zero")
            q = abs(x) // abs(y)
            return q if (x >= 0) == (y >= 0) else -q
        if y == 0:
            return float("inf") * (1 if x > 0 else -1) if x else float("nan")
        return x / y
    if op == "%":
        if both_int:
            if y == 0:
                raise ZeroDivisionError("divided by zero")
            r = abs(x) % abs(y)
            return r if x >= 0 else -r
        return float(np.fmod(x, y))
    if not both_int:
        raise TypeError(f"invalid operation {_typename(x)}({x!r}) {op} {_typename(y)}({y!r})")
    if op == "&":
        return x & y
    if op == "|":
        return x | y
    return x ^ y


def _typename(v: Any) -> str:
    return {BIGINT: "int64", FLOAT: "float64", STRING: "string", BOOLEAN: "bool"}.get(
        kind_of(v), type(v).__name__
    )


def arith(op: str, a: Column, b: Column, errors: RowErrors) -> Column:
    """`a op b` with nil propagation; failed rows are nil and recorded in `errors`."""
    n = len(a)
    valid = both_valid(a, b)
    if a.kind in NUMERIC and b.kind in NUMERIC:
        kind = _num_kind(a.kind, b.kind)
        if kind == FLOAT:
            x = a.values.astype(np.float64, copy=False)
            y = b.values.astype(np.float64, copy=False)
            if op in ("&", "|", "^"):
                bad = np.ones(n, dtype=np.bool_) if valid is None else valid.copy()
                errors.fail(bad, f"invalid operation: bitwise {op} needs integers")
                return Column(FLOAT, np.zeros(n), np.zeros(n, dtype=np.bool_))
            with np.errstate(all="ignore"):
                vals = _FLOAT_OPS[op](x, y)
            return Column(FLOAT, vals, valid)
        x = a.values
        y = b.values
        if op in ("/", "%"):
            zero = y == 0
            if valid is not None:
                zero &= valid
            if zero.any():
                errors.fail(zero, "divided by zero")
                y = np.where(zero, 1, y)
                valid = ~zero if valid is None else valid & ~zero
            if op == "/":
                q = np.abs(x) // np.abs(y)
                vals = np.where((x >= 0) == (y >= 0), q, -q)
            else:
                vals = np.fmod(x, y)
        else:
            with np.errstate(all="ignore"):
                vals = _INT_OPS[op](x, y)
        return Column(BIGINT, vals, valid)
    # row-wise: dynamic kinds (schemaless 'any'), or a type error to report per row
    xs = a.decoded()
    ys = b.decoded()
    ok = np.ones(n, dtype=np.bool_) if valid is None else valid
    out: list[Any] = [None] * n
    for i in np.flatnonzero(ok).tolist():
        try:
            out[i] = _py_arith(op, xs[i], ys[i])
        except (TypeError, ZeroDivisionError) as e:
            errors.fail_row(i, str(e))
    return Column.from_values(out)


_FLOAT_OPS = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": np.fmod,
}
_INT_OPS = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "&": np.bitwise_and,
    "|": np.bitwise_or,
    "^": np.bitwise_xor,
}


# --- comparison ----------------------------------------------------------------------------
def _py_compare(op: str, x: Any, y: Any) -> bool:
    kx, ky = kind_of(x), kind_of(y)
    if kx in (BIGINT, FLOAT) and ky in (BIGINT, FLOAT):
        return _PY_COMPARE[op](x, y)
    if kx != ky:
        raise TypeError(f"invalid operation {_typename(x)}({x!r}) {op} {_typename(y)}({y!r})")
    if kx == BOOLEAN and op not in ("=", "!="):
        raise TypeError(f"invalid operation bool({x!r}) {op} bool({y!r})")
    return _PY_COMPARE[op](x, y)


def compare(
    op: str, a: Column, b: Column, errors: RowErrors, *, a_const: bool = False, b_const: bool = False
) -> np.ndarray:
    """`a op b` as a bool array; nil on either side gives false (eKuiper).

    `a_const`/`b_const` say an operand is a literal, which lets a dictionary-encoded string
    column be compared once per distinct string."""
    valid = both_valid(a, b)
    if a.kind in NUMERIC and b.kind in NUMERIC:
        if a.kind == FLOAT or b.kind == FLOAT:
            res = _NP_COMPARE[op](a.values.astype(np.float64, copy=False),
                                  b.values.astype(np.float64, copy=False))
        else:
            res = _NP_COMPARE[op](a.values, b.values)
        return res if valid is None else res & valid
    if a.kind == STRING and b.kind == STRING:
        return _compare_strings(op, a, b, valid, a_const, b_const)
    if a.kind == BOOLEAN and b.kind == BOOLEAN and op in ("=", "!="):
        res = _NP_COMPARE[op](a.values, b.values)
        return res if valid is None else res & valid
    n = len(a)
    xs = a.decoded()
    ys = b.decoded()
    ok = np.ones(n, dtype=np.bool_) if valid is None else valid
    out = np.zeros(n, dtype=np.bool_)
    for i in np.flatnonzero(ok).tolist():
        try:
            out[i] = _py_compare(op, xs[i], ys[i])
        except TypeError as e:
            errors.fail_row(i, str(e))
    return out


def _compare_strings(
    op: str, a: Column, b: Column, valid: np.ndarray | None, a_const: bool, b_const: bool
) -> np.ndarray:
    # a dictionary column against one constant: decide once per dictionary entry, then gather
    for col, other, flip, const in ((a, b, False, b_const), (b, a, True, a_const)):
        if col.dictionary is not None and const and len(other.values):
            const = other.decoded()[0]
            fn = _PY_COMPARE[_FLIP[op] if flip else op]
            lut = np.fromiter((fn(s, const) for s in col.dictionary), dtype=np.bool_,
                              count=len(col.dictionary))
            res = lut[col.values] if len(lut) else np.zeros(len(col.values), dtype=np.bool_)
            return res if valid is None else res & valid
    xs = a.decoded()
    ys = b.decoded()
    fn = _PY_COMPARE[op]
    ok = np.ones(len(xs), dtype=np.bool_) if valid is None else valid
    out = np.zeros(len(xs), dtype=np.bool_)
    for i in np.flatnonzero(ok).tolist():
        out[i] = fn(xs[i], ys[i])
    return out


_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
