"""Other functions: isnull, coalesce, newuuid, tstamp, get_keyed_state, delay."""
from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np

from kuiper.api.batch import ANY, BIGINT, BOOLEAN, DATETIME, STRING, Column, kind_of
from kuiper.functions.builtin.conversion import CAST_KIND, cast_value, to_int
from kuiper.functions.checks import int_args, literal_in
from kuiper.functions.gostyle import go_str
from kuiper.functions.registry import LITERAL, VALUE, builtin
from kuiper.functions.vector import broadcast, common_kind, fail, make_column, pylist, scalar_arg
from kuiper.state import keyed


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


_KEYED_TYPES = ("bigint", "float", "string", "boolean", "datetime")


@builtin("get_keyed_state", 3, arg_modes=(VALUE, LITERAL),
         validate=literal_in(1, _KEYED_TYPES, "expect one of following value for the 2nd "
                             "parameter: bigint, float, string, boolean, datetime"))
def _get_keyed_state(args: list[Column], n: int, ctx: Any) -> Column:
    """The value stored under the key (kuiper.state.keyed) cast to the type; the default
    (as given) when the key has no value."""
    _, target = scalar_arg(args[1], n)
    if target not in _KEYED_TYPES:
        fail("expect one of following value for the 2nd parameter: bigint, float, string, "
             "boolean, datetime")
    keys, defaults = pylist(args[0], n), pylist(args[2], n)
    missing = object()
    out: list[Any] = []
    for key, default in zip(keys, defaults, strict=True):
        value = missing if key is None else keyed.get_state(go_str(key), missing)
        out.append(default if value is missing else cast_value(value, target))
    kind = CAST_KIND[target]
    want = BIGINT if kind == DATETIME else kind  # datetimes are epoch-ms ints
    if all(v is None or kind_of(v) == want for v in out):
        return make_column(out, kind)
    return make_column(out)  # a default of another type: the column holds both


@builtin("delay", 2, validate=int_args(0))
def _delay(args: list[Column], n: int, ctx: Any) -> Column:
    """The second argument, after sleeping the first argument's milliseconds. A micro-batch
    sleeps once, for its longest delay (eKuiper sleeps per row; rows that arrive one at a
    time see the same delay)."""
    is_const, ms = scalar_arg(args[0], n)
    delays = [ms] if is_const else pylist(args[0], n)
    longest = max((to_int(v) for v in delays if v is not None), default=0)
    if longest > 0:
        time.sleep(longest / 1000)
    return broadcast(args[1], n)
