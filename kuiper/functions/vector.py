"""Helpers that lift Python scalar functions and numpy ufuncs over Columns, null-aware.

Argument columns hold `n` rows or 1 row (a constant broadcast to every row). `rowwise(fn)`
calls `fn` once per row (or once per distinct string when the varying argument is a string
column: `lower(deviceId)` over 1M rows calls `str.lower` once per distinct device id), and
`numeric_unary(ufunc)` runs a numpy ufunc over a whole numeric column. Scalar functions
signal eKuiper-worded errors with `FuncError`; any other exception becomes an EvalError that
names the bad value. `registry.builtin` prefixes the function name.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from kuiper.api.batch import (
    ANY,
    BIGINT,
    BOOLEAN,
    BYTEA,
    DATETIME,
    FLOAT,
    STRING,
    Column,
    infer_kind,
)
from kuiper.errors import EvalError
from kuiper.functions.gostyle import go_repr

_NUMPY_KINDS = {BIGINT: np.int64, FLOAT: np.float64, BOOLEAN: np.bool_, DATETIME: np.int64}


class FuncError(EvalError):
    """An error raised by a function body, worded as eKuiper words it."""


def fail(message: str) -> NoReturn:
    """Raise a FuncError (a function's runtime error) with `message`."""
    raise FuncError(message)


# --- columns ------------------------------------------------------------------------------
def and_valid(*masks: np.ndarray | None) -> np.ndarray | None:
    """The rows valid in every mask (None = all valid)."""
    out: np.ndarray | None = None
    for m in masks:
        if m is None:
            continue
        out = m.copy() if out is None else (out & m)
    return out


def broadcast(col: Column, n: int) -> Column:
    """A 1-row column repeated to `n` rows; an `n`-row column as it is."""
    if len(col) == n or len(col) != 1:
        return col
    idx = np.zeros(n, dtype=np.intp)
    return col.take(idx)


def value_at(col: Column, i: int) -> Any:
    """Row `i` as a Python value (None for null)."""
    if col.valid is not None and not col.valid[i]:
        return None
    if col.dictionary is not None:
        return col.dictionary[col.values[i]]
    v = col.values[i]
    return v.item() if isinstance(v, np.generic) else v


def pylist(col: Column, n: int) -> list[Any]:
    """The column's `n` values as Python objects, None for nulls."""
    if len(col) == 1 and n != 1:
        return [value_at(col, 0)] * n
    return col.to_pylist()


def scalar_arg(col: Column, n: int) -> tuple[bool, Any]:
    """(True, value) when every row of `col` holds the same value (or null), else (False, None)."""
    m = len(col)
    if m == 1 or n <= 1:
        return True, value_at(col, 0) if m else None
    if m != n:
        return False, None
    valid = col.valid
    if valid is not None:
        if valid.all():
            valid = None
        elif not valid.any():
            return True, None
        else:
            return False, None
    vals = col.values
    if col.dictionary is not None or vals.dtype != object:
        if bool((vals == vals[0]).all()):
            return True, value_at(col, 0)
        return False, None
    if col.kind in (STRING, BYTEA):
        first = vals[0]
        if isinstance(first, str | bytes) and bool((vals == first).all()):
            return True, first
    return False, None


def make_column(values: Sequence[Any], kind: str | None = None) -> Column:
    """A column from Python values (None = null); kind inferred when not given."""
    if kind is None:
        kind = infer_kind(values)
        if kind == FLOAT and any(type(v) is int for v in values):
            kind = ANY  # keep each row's own int or float, as eKuiper does
    return Column.from_values(list(values), kind)


def constant_column(value: Any, n: int, kind: str | None = None) -> Column:
    """`value` in each of `n` rows, of `kind` (None value = nulls of that kind)."""
    if value is None:
        return Column.nulls(n, kind or ANY)
    col = Column.constant(value, n)
    if kind is not None and col.kind != kind:
        dtype = _NUMPY_KINDS.get(kind)
        values = col.values.astype(dtype) if dtype is not None else col.values.astype(object)
        col = Column(kind, values)
    return col


def factorize(col: Column) -> Column:
    """A string column with a dictionary (object-array strings get one built)."""
    if col.dictionary is not None or col.kind != STRING:
        return col
    codes = np.zeros(len(col), dtype=np.int32)
    index: dict[Any, int] = {}
    valid = col.validity()
    for i, v in enumerate(col.values.tolist()):
        if valid[i]:
            codes[i] = index.setdefault(v, len(index))
    dictionary = np.empty(len(index), dtype=object)
    dictionary[:] = list(index)
    return Column(STRING, codes, col.valid, dictionary)


# --- row-wise lifting ---------------------------------------------------------------------
def _call(fn: Callable[..., Any], row: Sequence[Any]) -> Any:
    try:
        return fn(*row)
    except EvalError:
        raise
    except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError) as exc:
        bad = ", ".join(go_repr(v) for v in row) if row else ""
        raise FuncError(f"{exc} (arguments: {bad})") from None


def _strings_result(results: list[Any], codes: np.ndarray, valid: np.ndarray | None) -> Column:
    """Per-dictionary-entry string results gathered by row codes, deduplicated."""
    new_index: dict[str, int] = {}
    entry_code = np.zeros(len(results), dtype=np.int32)
    entry_ok = np.zeros(len(results), dtype=np.bool_)
    for e, r in enumerate(results):
        if r is not None:
            entry_code[e] = new_index.setdefault(r, len(new_index))
            entry_ok[e] = True
    dictionary = np.empty(len(new_index), dtype=object)
    dictionary[:] = list(new_index)
    row_ok = entry_ok[codes]
    out_valid = and_valid(valid, row_ok)
    if out_valid is not None and out_valid.all():
        out_valid = None
    return Column(STRING, entry_code[codes], out_valid, dictionary)


def _map_dictionary(
    fn: Callable[..., Any],
    col: Column,
    pos: int,
    fixed: list[Any],
    kind: str | None,
) -> Column:
    """Apply `fn` once per dictionary entry used by `col` (argument `pos`), gather by codes."""
    d = col.dictionary
    assert d is not None
    if len(d) == 0:
        return Column.nulls(len(col), kind or ANY)
    codes = col.values
    valid = col.valid
    used_mask = np.zeros(len(d), dtype=np.bool_)
    used_mask[codes if valid is None else codes[valid]] = True
    used = np.flatnonzero(used_mask).tolist()
    results: list[Any] = [None] * len(d)
    row = list(fixed)
    for e in used:
        row[pos] = d[e]
        results[e] = _call(fn, row)
    if kind is None:
        kind = infer_kind(results[e] for e in used)
        if kind == FLOAT and any(type(results[e]) is int for e in used):
            kind = ANY
    if kind == STRING:
        return _strings_result(results, codes, valid)
    entries = make_column(results, kind)
    out = entries.take(codes)
    out.valid = and_valid(valid, None if entries.valid is None else out.valid)
    return out


def apply_rows(
    fn: Callable[..., Any],
    args: Sequence[Column],
    n: int,
    kind: str | None = None,
    *,
    on_null: Any = None,
    pass_nulls: bool = False,
) -> Column:
    """`fn(*row)` for each row. A row with a null argument gives `on_null` unless `pass_nulls`."""
    if not args:
        return make_column([_call(fn, ()) for _ in range(n)], kind)
    scalars = [scalar_arg(a, n) for a in args]
    varying = [i for i, (is_const, _) in enumerate(scalars) if not is_const]
    fixed = [v for _, v in scalars]
    if not varying:  # every argument constant: compute once
        if not pass_nulls and any(v is None for v in fixed):
            return constant_column(on_null, n, kind)
        return constant_column(_call(fn, fixed), n, kind)
    if not pass_nulls and any(fixed[i] is None for i in range(len(args)) if i not in varying):
        return constant_column(on_null, n, kind)
    if len(varying) == 1 and args[varying[0]].kind == STRING:
        pos = varying[0]
        col = factorize(args[pos])
        out = _map_dictionary(fn, col, pos, fixed, kind)
        if col.has_nulls() and (pass_nulls or on_null is not None):
            filler = on_null
            if pass_nulls:
                row = list(fixed)
                row[pos] = None
                filler = _call(fn, row)
            if filler is not None:
                out = _overlay(out, ~col.validity(), filler)
        return out
    lists = [pylist(a, n) if i in varying else None for i, a in enumerate(args)]
    out: list[Any] = [None] * n
    row = list(fixed)
    for r in range(n):
        has_null = False
        for i in varying:
            v = lists[i][r]  # type: ignore[index]
            row[i] = v
            if v is None:
                has_null = True
        if has_null and not pass_nulls:
            out[r] = on_null
        else:
            out[r] = _call(fn, row)
    return make_column(out, kind)


def _overlay(base: Column, mask: np.ndarray, value: Any) -> Column:
    """`base` with the rows under `mask` set to `value` (not null)."""
    dtype = _NUMPY_KINDS.get(base.kind)
    if dtype is not None and base.dictionary is None:
        vals = base.values.copy()
        vals[mask] = value
        valid = None if base.valid is None else (base.valid | mask)
        return Column(base.kind, vals, valid)
    vals = base.to_pylist()
    for i in np.flatnonzero(mask).tolist():
        vals[i] = value
    return make_column(vals, base.kind if base.kind != ANY else None)


def rowwise(
    fn: Callable[..., Any] | None = None,
    /,
    kind: str | None = None,
    *,
    on_null: Any = None,
    pass_nulls: bool = False,
) -> Any:
    """Lift a scalar Python function to an `exec_batch`; usable as `@rowwise(kind=STRING)`.

    Null in -> `on_null` out (None = null) unless `pass_nulls`, when `fn` sees None itself.
    The scalar function stays reachable as `.scalar` (array_map uses it).
    """

    def lift(f: Callable[..., Any]) -> Callable[[list[Column], int, Any], Column]:
        def exec_batch(args: list[Column], n: int, ctx: Any = None) -> Column:
            return apply_rows(f, args, n, kind, on_null=on_null, pass_nulls=pass_nulls)

        exec_batch.scalar = f  # type: ignore[attr-defined]
        exec_batch.__doc__ = f.__doc__
        return exec_batch

    return lift if fn is None else lift(fn)


# --- numeric ------------------------------------------------------------------------------
def _object_numbers(col: Column, n: int, target: str, strict_int: bool) -> tuple[np.ndarray, np.ndarray]:
    vals = pylist(col, n)
    out = np.zeros(n, dtype=np.float64 if target == FLOAT else np.int64)
    valid = np.zeros(n, dtype=np.bool_)
    name = "float64" if target == FLOAT else "int"
    for i, v in enumerate(vals):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float):
            fail(f"cannot convert {go_repr(v)} to {name}")
        if target == BIGINT and isinstance(v, float):
            if strict_int and not v.is_integer():
                fail(f"cannot convert {go_repr(v)} to int")
            v = int(v)
        out[i] = v
        valid[i] = True
    return out, valid


def _first_bad(col: Column, n: int, name: str) -> NoReturn:
    for v in pylist(col, n):
        if v is not None:
            fail(f"cannot convert {go_repr(v)} to {name}")
    raise AssertionError("unreachable")


def float_values(col: Column, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Float64 values and validity of a numeric argument (ints widen; other kinds fail)."""
    col = broadcast(col, n)
    if col.kind in (BIGINT, FLOAT, DATETIME):
        return col.values.astype(np.float64, copy=False), col.valid
    if not col.validity().any():
        return np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.bool_)
    if col.kind == ANY:
        return _object_numbers(col, n, FLOAT, False)
    _first_bad(col, n, "float64")


def int_values(col: Column, n: int, *, strict: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Int64 values and validity of an integer argument (integral floats pass when strict)."""
    col = broadcast(col, n)
    if col.kind in (BIGINT, DATETIME):
        return col.values, col.valid
    if not col.validity().any():
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.bool_)
    if col.kind == FLOAT:
        vals = col.values
        if strict:
            ok = np.isfinite(vals) & (np.floor(vals) == vals)
            bad = ~ok if col.valid is None else (~ok & col.valid)
            if bad.any():
                fail(f"cannot convert {go_repr(float(vals[np.argmax(bad)]))} to int")
        with np.errstate(invalid="ignore"):
            return np.trunc(np.nan_to_num(vals)).astype(np.int64), col.valid
    if col.kind == ANY:
        return _object_numbers(col, n, BIGINT, strict)
    _first_bad(col, n, "int")


def finite_valid(out: np.ndarray, valid: np.ndarray | None, *, nan_only: bool = True) -> np.ndarray | None:
    """`valid` minus rows whose result is NaN (or, with nan_only=False, also infinite)."""
    bad = np.isnan(out) if nan_only else ~np.isfinite(out)
    if not bad.any():
        return valid
    return and_valid(valid, ~bad)


def numeric_unary(
    ufunc: Callable[[np.ndarray], np.ndarray], *, nan_to_null: bool = True
) -> Callable[[list[Column], int, Any], Column]:
    """An exec_batch running `ufunc` over float64 values; NaN results become null."""

    def exec_batch(args: list[Column], n: int, ctx: Any = None) -> Column:
        vals, valid = float_values(args[0], n)
        with np.errstate(all="ignore"):
            out = np.asarray(ufunc(vals), dtype=np.float64)
        if nan_to_null:
            valid = finite_valid(out, valid)
        return Column(FLOAT, out, valid)

    return exec_batch


def numeric_binary(
    func: Callable[[np.ndarray, np.ndarray], np.ndarray], *, nan_to_null: bool = True
) -> Callable[[list[Column], int, Any], Column]:
    """An exec_batch running `func(a, b)` over float64 values; NaN results become null."""

    def exec_batch(args: list[Column], n: int, ctx: Any = None) -> Column:
        a, va = float_values(args[0], n)
        b, vb = float_values(args[1], n)
        rhs: np.ndarray | float = b
        if n > 1 and args[1].kind in (BIGINT, FLOAT) and vb is None and bool((b == b[0]).all()):
            rhs = float(b[0])  # a constant operand: numpy's scalar loops (x ** 2 squares)
        with np.errstate(all="ignore"):
            out = np.asarray(func(a, rhs), dtype=np.float64)
        valid = and_valid(va, vb)
        if nan_to_null:
            valid = finite_valid(out, valid)
        return Column(FLOAT, out, valid)

    return exec_batch


def common_kind(cols: Sequence[Column]) -> str:
    """The kind holding every column's values: shared kind, float for int/float mixes, else any."""
    kinds = {c.kind for c in cols if c.validity().any()} or {c.kind for c in cols}
    if len(kinds) == 1:
        return kinds.pop()
    if kinds <= {BIGINT, FLOAT}:
        return FLOAT
    return ANY
