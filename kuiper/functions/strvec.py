"""Whole-column string functions on the kuiper/_core/strfuncs kernels.

`string_kernel(kernel, kind, fallback)` wraps a row-wise `exec_batch` (the fallback) with a
kernel path for the common case: the first argument a string column, the others constant
strings. `kernel(values, valid, *constants)` walks an object array of str once in C; over a
dictionary-encoded column it runs over the dictionary and the result is gathered by code
(boolean and integer results; string results keep the per-distinct-value path, which keeps the
dictionary). A kernel gives the same values as the fallback's Python `str` methods.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kuiper.api.batch import STRING, Column
from kuiper.functions.registry import ExecBatch
from kuiper.functions.vector import constant_column, scalar_arg

Kernel = Callable[..., np.ndarray]


def string_kernel(kernel: Kernel, kind: str, fallback: ExecBatch, *, on_null: Any = None,
                  ) -> ExecBatch:
    """An exec_batch running `kernel(values, valid, *constant_args)` over whole columns, and
    `fallback` for other argument shapes. Null rows give `on_null` (None = null)."""

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
            out = kernel(np.asarray(col.dictionary, dtype=object), None, *extra)[col.values]
        else:
            out = kernel(col.values, col.valid, *extra)
        valid = col.valid
        if valid is not None and on_null is not None and not valid.all():
            out[~valid] = on_null
            valid = None
        return Column(kind, out, valid)

    exec_batch.__doc__ = fallback.__doc__
    exec_batch.fallback = fallback  # type: ignore[attr-defined]
    return exec_batch
