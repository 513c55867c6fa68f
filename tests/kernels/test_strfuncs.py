"""kuiper/_core/strfuncs kernels against their Python twins (_reference_strfuncs)."""
from __future__ import annotations

import random

import numpy as np
import pytest

from kuiper._core import _reference_strfuncs as ref
from kuiper._core import strfuncs

_PIECES = ["a", "Z", " ", "\t", "\x1f", "\u00a0", "é", "ß", "İ", "日本", "x1", "\n", "-"]


def _column(n: int, seed: int, nulls: bool) -> tuple[np.ndarray, np.ndarray | None]:
    rng = random.Random(seed)
    values = np.empty(n, dtype=object)
    values[:] = ["".join(rng.choices(_PIECES, k=rng.randint(0, 7))) for _ in range(n)]
    valid = np.array([rng.random() > 0.15 for _ in range(n)]) if nulls else None
    return values, valid


CALLS = [("str_len", ()), ("utf8_len", ()), ("starts_with", ("a",)), ("ends_with", ("日本",)),
         ("find", ("x1",)), ("find", ("",)), ("starts_with", ("",)), ("lower", ()),
         ("upper", ()), ("strip", (0,)), ("strip", (1,)), ("strip", (2,))]


@pytest.mark.parametrize("name,extra", CALLS, ids=[f"{c[0]}{c[1]}" for c in CALLS])
@pytest.mark.parametrize("nulls", [False, True])
def test_kernel_matches_reference(name: str, extra: tuple, nulls: bool) -> None:
    values, valid = _column(2000, len(name) * 7 + len(extra), nulls)
    got = getattr(strfuncs, name)(values, valid, *extra)
    want = getattr(ref, name)(values, valid, *extra)
    assert got.dtype == want.dtype
    assert got.tolist() == want.tolist()


def test_unchanged_ascii_values_are_reused() -> None:
    values = np.empty(2, dtype=object)
    values[:] = ["already lower", "Mixed"]
    out = strfuncs.lower(values, None)
    assert out[0] is values[0] and out[1] == "mixed"
    assert strfuncs.strip(values, None)[0] is values[0]


def test_empty_column() -> None:
    empty = np.empty(0, dtype=object)
    assert strfuncs.str_len(empty, None).shape == (0,)
    assert strfuncs.lower(empty, np.zeros(0, dtype=np.bool_)).shape == (0,)


@pytest.mark.parametrize("nulls", [False, True])
def test_concat_matches_reference(nulls: bool) -> None:
    a, va = _column(1000, 11, nulls)
    b, vb = _column(1000, 12, nulls)
    parts = [(a, va), "-", (b, vb), ""]
    got = strfuncs.concat(parts, 1000)
    assert got.tolist() == ref.concat(parts, 1000).tolist()
    assert strfuncs.concat([], 2).tolist() == ["", ""]
