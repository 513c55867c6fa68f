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

from kuiper._core import arith as _arith
from kuiper._core import compare as _compare
from kuiper.api.batch import BIGINT, BOOLEAN, DATETIME, FLOAT, STRING, Column, kind_of
from kuiper.expr.nulls import both_valid
from kuiper.functions.gostyle import go_str, go_type

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
    """Rows that failed evaluation, with one message per failure kind; each row also keeps the
    first error it met (where eKuiper stops evaluating it), kept column-wise until asked."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.mask: np.ndarray | None = None
        self.messages: list[str] = []
        self._parts: list[tuple[np.ndarray, str]] = []  # (rows newly failed, their message)

    def fail(self, rows: np.ndarray, message: str) -> None:
        if not rows.any():
            return
        new = rows if self.mask is None else rows & ~self.mask
        if new.any():
            self._parts.append((np.flatnonzero(new), message))
        self.mask = rows.copy() if self.mask is None else (self.mask | rows)
        self.messages.append(message)

    def fail_row(self, i: int, message: str) -> None:
        rows = np.zeros(self.n, dtype=np.bool_)
        rows[i] = True
        self.fail(rows, message)

    @property
    def mark(self) -> int:
        """A position in the failures so far (see `prefix_since`)."""
        return len(self._parts)

    def prefix_since(self, mark: int, prefix: str) -> None:
        """Put `prefix` before the first errors of the rows that failed since `mark`."""
        self._parts[mark:] = [(rows, prefix + msg) for rows, msg in self._parts[mark:]]

    def row_messages(self) -> list[tuple[int, str]]:
        """(row, its first error) for every failed row, in row order."""
        out = [(int(r), msg) for rows, msg in self._parts for r in rows.tolist()]
        out.sort(key=lambda e: e[0])
        return out

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
        raise _invalid(x, op, y)
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
            raise ZeroDivisionError("divided by zero")
        return x / y
    if op == "%":
        if both_int:
            if y == 0:
                raise ZeroDivisionError("divided by zero")
            r = abs(x) % abs(y)
            return r if x >= 0 else -r
        if y == 0:
            raise ZeroDivisionError("divided by zero")
        return float(np.fmod(x, y))
    if not both_int:
        raise _invalid(x, op, y)
    if op == "&":
        return x & y
    if op == "|":
        return x | y
    return x ^ y


def _invalid(x: Any, op: str, y: Any) -> TypeError:
    """eKuiper's invalidOpError text: `invalid operation %T(%v) op %T(%v)`."""
    return TypeError(f"invalid operation {go_type(x)}({go_str(x)}) {op} {go_type(y)}({go_str(y)})")


def arith(
    op: str, a: Column, b: Column, errors: RowErrors, *, a_const: bool = False, b_const: bool = False
) -> Column:
    """`a op b` with nil propagation; failed rows are nil and recorded in `errors`.

    Numbers run through the `_core.arith` kernels (a literal side uses the scalar form)."""
    n = len(a)
    if a.kind in NUMERIC and b.kind in NUMERIC:
        kind = _num_kind(a.kind, b.kind)
        if kind == FLOAT and op in ("&", "|", "^"):
            bad = np.ones(n, dtype=np.bool_) if both_valid(a, b) is None else both_valid(a, b).copy()
            errors.fail(bad, f"invalid operation: bitwise {op} needs integers")
            return Column(FLOAT, np.zeros(n), np.zeros(n, dtype=np.bool_))
        dtype = np.float64 if kind == FLOAT else np.int64
        name = _KERNEL_NAMES[op]
        if b_const and (b.valid is None or b.valid[0]) and n:
            res = getattr(_arith, name + "_scalar")(a.values.astype(dtype, copy=False), a.valid,
                                                    dtype(b.values[0]).item())
        elif a_const and (a.valid is None or a.valid[0]) and n:
            res = getattr(_arith, name + "_scalar")(b.values.astype(dtype, copy=False), b.valid,
                                                    dtype(a.values[0]).item(), True)
        else:
            res = getattr(_arith, name)(a.values.astype(dtype, copy=False), a.valid,
                                        b.values.astype(dtype, copy=False), b.valid)
        values, valid = res[0], res[1]
        if len(res) == 3 and res[2] is not None:
            zero = res[2]
            errors.fail(zero, "divided by zero")
            valid = ~zero if valid is None else valid & ~zero
        return Column(kind, values, valid)
    # row-wise: dynamic kinds (schemaless 'any'), or a type error to report per row
    valid = both_valid(a, b)
    xs = a.decoded().tolist()
    ys = b.decoded().tolist()
    ok = np.ones(n, dtype=np.bool_) if valid is None else valid
    out: list[Any] = [None] * n
    for i in np.flatnonzero(ok).tolist():
        try:
            out[i] = _py_arith(op, xs[i], ys[i])
        except (TypeError, ZeroDivisionError) as e:
            errors.fail_row(i, str(e))
    return Column.from_values(out)


_KERNEL_NAMES = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod",
                 "&": "bitand", "|": "bitor", "^": "bitxor"}
# --- comparison ----------------------------------------------------------------------------
def nil_rule(op: str, res: np.ndarray, a_valid: np.ndarray | None, b_valid: np.ndarray | None) -> np.ndarray:
    """eKuiper's comparison with nil (valuer.go): `=`, `<=`, `>=` are true when both sides are
    nil; `!=` is true when exactly one is; `<`, `>` are false. `res` holds the result for rows
    where both sides have values."""
    if a_valid is None and b_valid is None:
        return res
    av = np.ones(len(res), dtype=np.bool_) if a_valid is None else a_valid
    bv = np.ones(len(res), dtype=np.bool_) if b_valid is None else b_valid
    out = res & av & bv
    if op in ("=", "<=", ">="):
        out |= ~av & ~bv
    elif op == "!=":
        out |= av ^ bv
    return out


def _py_compare(op: str, x: Any, y: Any) -> bool:
    kx, ky = kind_of(x), kind_of(y)
    if kx in (BIGINT, FLOAT) and ky in (BIGINT, FLOAT):
        return _PY_COMPARE[op](x, y)
    if kx != ky:
        raise _invalid(x, op, y)
    if kx == BOOLEAN and op not in ("=", "!="):
        raise TypeError(f"invalid operation bool({x!r}) {op} bool({y!r})")
    return _PY_COMPARE[op](x, y)


def compare_values(op: str, x: Any, y: Any) -> bool:
    """`x op y` for two non-nil values; TypeError (eKuiper's invalidOpError text) when their
    types do not compare."""
    return _py_compare(op, x, y)


_CMP_KERNELS = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}


def compare(
    op: str, a: Column, b: Column, errors: RowErrors, *, a_const: bool = False, b_const: bool = False
) -> np.ndarray:
    """`a op b` as a never-nil bool array, with eKuiper's nil rule (see `nil_rule`).

    `a_const`/`b_const` say an operand is a literal: numbers then use the scalar kernels, and a
    dictionary-encoded string column is compared once per distinct string."""
    n = len(a)
    if a.kind in NUMERIC and b.kind in NUMERIC:
        dtype = np.float64 if FLOAT in (a.kind, b.kind) else np.int64
        name = _CMP_KERNELS[op]
        if b_const and b.valid is None and n:
            return getattr(_compare, name + "_scalar")(a.values.astype(dtype, copy=False), a.valid,
                                                       dtype(b.values[0]).item())
        if a_const and a.valid is None and n:
            return getattr(_compare, _CMP_KERNELS[_FLIP[op]] + "_scalar")(
                b.values.astype(dtype, copy=False), b.valid, dtype(a.values[0]).item())
        return getattr(_compare, name)(a.values.astype(dtype, copy=False), a.valid,
                                       b.values.astype(dtype, copy=False), b.valid)
    valid = both_valid(a, b)
    if a.kind == STRING and b.kind == STRING:
        res = _compare_strings(op, a, b, valid, a_const, b_const)
        return nil_rule(op, res, a.valid, b.valid)
    if a.kind == BOOLEAN and b.kind == BOOLEAN and op in ("=", "!="):
        res = _NP_COMPARE[op](a.values, b.values)
        return nil_rule(op, res, a.valid, b.valid)
    xs = a.decoded().tolist()
    ys = b.decoded().tolist()
    ok = np.ones(n, dtype=np.bool_) if valid is None else valid
    out = np.zeros(n, dtype=np.bool_)
    for i in np.flatnonzero(ok).tolist():
        try:
            out[i] = _py_compare(op, xs[i], ys[i])
        except TypeError as e:
            errors.fail_row(i, str(e))
    return nil_rule(op, out, a.valid, b.valid)


def _compare_strings(
    op: str, a: Column, b: Column, valid: np.ndarray | None, a_const: bool, b_const: bool
) -> np.ndarray:
    # a dictionary column against one constant: decide once per dictionary entry, then gather
    for col, other, flip, const in ((a, b, False, b_const), (b, a, True, a_const)):
        if col.dictionary is not None and const and len(other.values):
            value = other.decoded()[0]
            lut = _dictionary_lut(_FLIP[op] if flip else op, col.dictionary, value)
            res = lut[col.values] if len(lut) else np.zeros(len(col.values), dtype=np.bool_)
            return res if valid is None else res & valid
    xs = a.decoded().tolist()
    ys = b.decoded().tolist()
    fn = _PY_COMPARE[op]
    ok = np.ones(len(xs), dtype=np.bool_) if valid is None else valid
    out = np.zeros(len(xs), dtype=np.bool_)
    for i in np.flatnonzero(ok).tolist():
        out[i] = fn(xs[i], ys[i])
    return out


def _dictionary_lut(op: str, dictionary: np.ndarray, value: Any) -> np.ndarray:
    """`entry op value` for each dictionary entry: elementwise in C for strings."""
    if isinstance(value, str):
        try:
            return np.asarray(_NP_COMPARE[op](dictionary, value), dtype=np.bool_)
        except TypeError:  # a non-string entry: compare one by one below
            pass
    fn = _PY_COMPARE[op]
    return np.fromiter((fn(s, value) for s in dictionary), dtype=np.bool_,
                       count=len(dictionary))


_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
