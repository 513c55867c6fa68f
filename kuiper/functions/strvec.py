"""Whole-column string kernels: numpy's `np.strings` ufuncs over StringDType arrays.

`string_kernel(op, kind)` wraps a row-wise `exec_batch` (the fallback) with a vectorized path
for the common case: the first argument a string column, the others constant strings. An
object-array column is converted to StringDType once (in C) and `op` runs over it; for a
dictionary-encoded column `op` runs over the dictionary and the result is gathered by code
(boolean and integer results; string results keep the per-distinct-value path, which keeps
the dictionary). `op` must give the same values as the fallback's Python `str` methods.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kuiper.api.batch import STRING, Column
from kuiper.functions.registry import ExecBatch
from kuiper.functions.vector import constant_column, scalar_arg

_SDT = np.dtypes.StringDType()

StringOp = Callable[..., np.ndarray]


def as_strings(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """An object array of str as a StringDType array; null rows become ""."""
    if valid is not None and not valid.all():
        values = np.where(valid, values, "")
    return values.astype(_SDT)


def string_kernel(op: StringOp, kind: str, fallback: ExecBatch, *, on_null: Any = None,
                  ) -> ExecBatch:
    """An exec_batch running `op(strings, *constant_args)` over whole columns, `fallback` for
    other argument shapes. Null rows give `on_null` (None = null)."""

    def exec_batch(args: list[Column], n: int, ctx: Any) -> Column:
        col = args[0]
        if col.kind != STRING or len(col) != n or n == 0:
            return fallback(args, n, ctx)
        extra: list[Any] = []
        for arg in args[1:]:
            is_const, value = scalar_arg(arg, n)
            if not is_const or not (value is None or isinstance(value, str)):
                return fallback(args, n, ctx)
            extra.append(value)
        if any(v is None for v in extra):
            return constant_column(on_null, n, kind)
        if col.dictionary is not None:
            if kind == STRING:
                return fallback(args, n, ctx)
            out = op(as_strings(col.dictionary, None), *extra)[col.values]
        else:
            out = op(as_strings(col.values, col.valid), *extra)
            if kind == STRING:
                out = out.astype(object)
        valid = col.valid
        if valid is not None and on_null is not None and not valid.all():
            out[~valid] = on_null
            valid = None
        return Column(kind, out, valid)

    exec_batch.__doc__ = fallback.__doc__
    exec_batch.fallback = fallback  # type: ignore[attr-defined]
    return exec_batch
