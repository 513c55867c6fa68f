"""Shared helpers for the function tests: build columns, call a built-in, compare results."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from kuiper.api.batch import STRING, Column
from kuiper.functions.registry import lookup


def dict_col(values: list[Any]) -> Column:
    """A dictionary-encoded string column (None = null)."""
    index: dict[str, int] = {}
    codes = np.zeros(len(values), dtype=np.int32)
    for i, v in enumerate(values):
        if v is not None:
            codes[i] = index.setdefault(v, len(index))
    dictionary = np.empty(len(index), dtype=object)
    dictionary[:] = list(index)
    valid = np.array([v is not None for v in values], dtype=np.bool_)
    return Column(STRING, codes, None if valid.all() else valid, dictionary)


def col(arg: Any) -> Column:
    if isinstance(arg, Column):
        return arg
    return Column.from_values(arg)


def call(name: str, *args: Any, n: int | None = None) -> Column:
    """Run built-in `name` over columns (lists become columns)."""
    cols = [col(a) for a in args]
    if n is None:
        n = max((len(c) for c in cols), default=1)
    fdef = lookup(name)
    assert fdef is not None, name
    out = fdef.exec_batch(cols, n, None)
    assert len(out) == n
    return out


def same(got: list[Any], want: list[Any]) -> bool:
    """Equal lists, floats compared approximately and by type."""
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if isinstance(w, float):
            if not isinstance(g, float) or not math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif isinstance(w, bool) or isinstance(g, bool):
            if g is not w:
                return False
        elif g != w or type(g) is not type(w):
            return False
    return True


def check(name: str, args: list[Any], want: list[Any], kind: str | None = None) -> None:
    out = call(name, *args)
    got = out.to_pylist()
    assert same(got, want), f"{name}{tuple(args)}: got {got!r}, want {want!r}"
    if kind is not None:
        assert out.kind == kind, f"{name}: kind {out.kind}, want {kind}"
