"""compare / arith / logic / select / strings kernels against their _reference twins."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kuiper._core import _reference as ref
from kuiper._core import arith, compare, logic, select, strings

rng = np.random.default_rng(7)
N = 257


def _floats(n: int = N) -> np.ndarray:
    x = rng.normal(0, 10, n).round(1)
    x[::17] = np.nan
    x[::13] = -0.0
    x[::11] = 0.0
    x[5] = 1e308
    x[6] = 5e-324
    return x


def _ints(n: int = N) -> np.ndarray:
    x = rng.integers(-5, 6, n).astype(np.int64)
    x[3] = np.iinfo(np.int64).min
    x[4] = -1
    x[7] = np.iinfo(np.int64).max
    return x


def _valid(n: int = N, kind: str = "mixed") -> np.ndarray | None:
    if kind == "none":
        return None
    if kind == "all_null":
        return np.zeros(n, np.bool_)
    return rng.random(n) > 0.25


VALIDS = ["none", "mixed", "all_null"]
CMP = ["eq", "ne", "lt", "le", "gt", "ge"]
ARITH = ["add", "sub", "mul", "div", "mod"]


def _assert_same(got, want):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _assert_same(g, w)
    elif want is None:
        assert got is None
    else:
        assert got is not None
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype


@pytest.mark.parametrize("op", CMP)
@pytest.mark.parametrize("va", VALIDS)
@pytest.mark.parametrize("vb", VALIDS)
@pytest.mark.parametrize("dtypes", [("f", "f"), ("i", "i"), ("i", "f")])
def test_compare_arrays(op, va, vb, dtypes):
    a = _floats() if dtypes[0] == "f" else _ints()
    b = _floats() if dtypes[1] == "f" else _ints()
    av, bv = _valid(N, va), _valid(N, vb)
    _assert_same(getattr(compare, op)(a, av, b, bv), getattr(ref, op)(a, av, b, bv))


@pytest.mark.parametrize("op", CMP)
@pytest.mark.parametrize("va", VALIDS)
@pytest.mark.parametrize("scalar", [0, 3, 2.5, -0.0, float("nan")])
def test_compare_scalar(op, va, scalar):
    for a in (_floats(), _ints()):
        av = _valid(N, va)
        name = op + "_scalar"
        _assert_same(getattr(compare, name)(a, av, scalar), getattr(ref, name)(a, av, scalar))


def test_compare_nil_rule():
    a, b = np.array([1.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0])
    av, bv = np.array([True, False, False]), np.array([True, True, False])
    assert compare.eq(a, av, b, bv).tolist() == [True, False, True]
    assert compare.ne(a, av, b, bv).tolist() == [False, True, False]
    assert compare.lt(a, av, b, bv).tolist() == [False, False, False]
    assert compare.ge(a, av, b, bv).tolist() == [True, False, True]


def test_compare_empty():
    e = np.zeros(0)
    assert compare.gt(e, None, e, None).shape == (0,)
    assert compare.gt_scalar(e, e.astype(bool), 1.0).shape == (0,)


@pytest.mark.parametrize("op", ARITH + ["bitand", "bitor", "bitxor"])
@pytest.mark.parametrize("va", VALIDS)
@pytest.mark.parametrize("vb", VALIDS)
def test_arith_int(op, va, vb):
    a, b = _ints(), _ints()
    av, bv = _valid(N, va), _valid(N, vb)
    _assert_same(getattr(arith, op)(a, av, b, bv), getattr(ref, op)(a, av, b, bv))


@pytest.mark.parametrize("op", ARITH)
@pytest.mark.parametrize("va", VALIDS)
@pytest.mark.parametrize("mixed", [False, True])
def test_arith_float(op, va, mixed):
    a = _floats()
    b = _ints() if mixed else _floats()
    av, bv = _valid(N, va), _valid(N, "mixed")
    with np.errstate(all="ignore"):
        _assert_same(getattr(arith, op)(a, av, b, bv), getattr(ref, op)(a, av, b, bv))


@pytest.mark.parametrize("op", ARITH + ["bitand", "bitor", "bitxor"])
@pytest.mark.parametrize("scalar", [0, 3, -1, 1.8])
@pytest.mark.parametrize("left", [False, True])
def test_arith_scalar(op, scalar, left):
    name = op + "_scalar"
    for a in (_floats(), _ints()):
        if op.startswith("bit") and (a.dtype.kind == "f" or isinstance(scalar, float)):
            with pytest.raises(TypeError):
                getattr(arith, name)(a, None, scalar, left)
            continue
        av = _valid(N, "mixed")
        with np.errstate(all="ignore"):
            _assert_same(getattr(arith, name)(a, av, scalar, left),
                         getattr(ref, name)(a, av, scalar, left))


def test_int_division_follows_go():
    a = np.array([7, -7, 7, -7, np.iinfo(np.int64).min, 5], np.int64)
    b = np.array([2, 2, -2, -2, -1, 0], np.int64)
    q, valid, zero = arith.div(a, None, b, None)
    assert q.tolist() == [3, -3, -3, 3, np.iinfo(np.int64).min, 0]
    assert zero.tolist() == [False] * 5 + [True] and valid is None
    r, _, _ = arith.mod(a, None, b, None)
    assert r.tolist() == [1, -1, 1, -1, 0, 0]


def test_float_division_by_zero_is_ieee_and_flagged():
    v, _, zero = arith.div(np.array([1.0, -1.0, 0.0]), None, np.array([0.0, 0.0, 0.0]), None)
    assert v[0] == np.inf and v[1] == -np.inf and np.isnan(v[2]) and zero.all()


def test_benchmark_expression_shape():
    t = np.array([20.0, 31.0, 35.5])
    tf, valid = arith.add_scalar(*arith.mul_scalar(t, None, 1.8), 32.0)
    np.testing.assert_allclose(tf, t * 1.8 + 32)
    assert valid is None


@given(st.lists(st.sampled_from([True, False, None]), max_size=40),
       st.lists(st.sampled_from([True, False, None]), max_size=40))
@settings(max_examples=200, deadline=None)
def test_logic_three_valued(xs, ys):
    n = min(len(xs), len(ys))
    xs, ys = xs[:n], ys[:n]
    a = np.array([bool(x) for x in xs], np.bool_)
    b = np.array([bool(y) for y in ys], np.bool_)
    av = np.array([x is not None for x in xs], np.bool_)
    bv = np.array([y is not None for y in ys], np.bool_)
    for fn in ("and_", "or_"):
        _assert_same(getattr(logic, fn)(a, av, b, bv), getattr(ref, fn)(a, av, b, bv))
        _assert_same(getattr(logic, fn)(a, None, b, None), getattr(ref, fn)(a, None, b, None))
    _assert_same(logic.not_(a, av), ref.not_(a, av))
    _assert_same(logic.truthy(a, av), ref.truthy(a, av))


def test_logic_ekuiper_asymmetry():
    t, f = np.array([True]), np.array([False])
    valid, null = np.array([True]), np.array([False])
    assert logic.and_(f, valid, t, null) == (False, True)  # false AND nil -> false
    v, ok = logic.and_(f, null, f, valid)                   # nil AND false -> nil
    assert not ok[0]
    v, ok = logic.or_(t, valid, f, null)                    # true OR nil -> true
    assert v[0] and ok[0]


@pytest.mark.parametrize("vk", VALIDS)
def test_select(vk):
    mask = rng.random(N) > 0.5
    valid = _valid(N, vk)
    idx = select.filter_indices(mask, valid)
    _assert_same(idx, ref.filter_indices(mask, valid))
    f, i, c, b = _floats(), _ints(), rng.integers(0, 9, N).astype(np.int32), rng.random(N) > 0.5
    o = np.array([f"s{k}" for k in range(N)], dtype=object)
    for fn, arr in (("take_float64", f), ("take_int64", i), ("take_int32", c), ("take_bool", b),
                    ("take_object", o)):
        _assert_same(getattr(select, fn)(arr, idx), getattr(ref, fn)(arr, idx))
    got = select.compact(mask, [f, i, None, c, b, o])
    want = ref.compact(mask, [f, i, None, c, b, o])
    for g, w in zip(got, want, strict=True):
        _assert_same(g, w)


def test_select_empty():
    assert select.filter_indices(np.zeros(0, bool)).shape == (0,)
    assert select.take_float64(np.zeros(0), np.zeros(0, np.int64)).shape == (0,)


WORDS = np.array(["dev-042", "dev-1", "", "a%b", "a_b", "axb", "ABC", "日本語", "d\nx", "dev_",
                  "%", "\\"], dtype=object)


@pytest.mark.parametrize("pattern", ["dev%", "%", "", "_", "dev-___", "a\\%b", "a\\_b", "a_b",
                                     "%日%", "d%x", "%\\\\", "%_", "a.b", "[ab]%"])
def test_like(pattern):
    lut = strings.like_dictionary(WORDS, pattern)
    _assert_same(lut, ref.like_dictionary(WORDS, pattern))
    codes = rng.integers(0, len(WORDS), N).astype(np.int32)
    valid = _valid(N, "mixed")
    for neg in (False, True):
        _assert_same(strings.gather_bool(codes, lut, valid, neg),
                     ref.gather_bool(codes, lut, valid, neg))
        _assert_same(strings.like_values(WORDS[codes], valid, pattern, "\\", neg),
                     ref.like_values(WORDS[codes], valid, pattern, "\\", neg))
    _assert_same(strings.isin_codes(codes, valid, lut), ref.isin_codes(codes, valid, lut))


def test_like_custom_escape():
    assert strings.like_dictionary(np.array(["a%", "ab"], object), "a!%", "!").tolist() == [
        True, False]
