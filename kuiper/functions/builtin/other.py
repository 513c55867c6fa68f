"""Other functions: isnull, coalesce, newuuid, tstamp."""
from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np

from kuiper.api.batch import ANY, BIGINT, BOOLEAN, STRING, Column
from kuiper.functions.registry import builtin
from kuiper.functions.vector import broadcast, common_kind, make_column, pylist


@builtin("isnull", 1, return_kind=BOOLEAN)
def _isnull(args: list[Column], n: int, ctx: Any) -> Column:
    """True where the argument is null (never null itself)."""
    col = broadcast(args[0], n)
    return Column(BOOLEAN, ~col.validity())


@builtin("coalesce", 1, None)
def _coalesce(args: list[Column], n: int, ctx: Any) -> Column:
    """The first non-null argument of each row."""
    cols = [broadcast(a, n) for a in args]
    kind = common_kind(cols)
    if kind in (BIGINT, "float", BOOLEAN, "datetime"):
        dtype = cols[0].values.dtype if kind != "float" else np.float64
        out = np.zeros(n, dtype=dtype)
        filled = np.zeros(n, dtype=np.bool_)
        for c in cols:
            take = c.validity() & ~filled
            out[take] = c.values[take]
            filled |= take
        return Column(kind, out, None if filled.all() else filled)
    lists = [pylist(c, n) for c in cols]
    vals = [next((lst[i] for lst in lists if lst[i] is not None), None) for i in range(n)]
    return make_column(vals, kind if kind != ANY else None)


@builtin("newuuid", 0, return_kind=STRING)
def _newuuid(args: list[Column], n: int, ctx: Any) -> Column:
    """A time-based (version 1) UUID per row, as Go's uuid.NewUUID."""
    return make_column([str(uuid.uuid1()) for _ in range(n)], STRING)


@builtin("tstamp", 0, return_kind=BIGINT)
def _tstamp(args: list[Column], n: int, ctx: Any) -> Column:
    """The current time in epoch milliseconds."""
    return Column(BIGINT, np.full(n, time.time_ns() // 1_000_000, dtype=np.int64))
