"""hashagg kernels against their numpy twins in _reference_agg."""
from __future__ import annotations

import numpy as np
import pytest

from kuiper._core import _reference_agg as ref
from kuiper._core import hashagg

RNG = np.random.default_rng(7)


def _valid(n: int, with_nulls: bool) -> np.ndarray | None:
    return RNG.random(n) > 0.2 if with_nulls else None


@pytest.mark.parametrize("with_nulls", [False, True])
@pytest.mark.parametrize("n", [0, 1, 17, 5000])
def test_factorize_int64(n, with_nulls):
    vals = RNG.integers(-50, 50, n)
    valid = _valid(n, with_nulls)
    got = hashagg.factorize_int64(vals, valid)
    want = ref.factorize_int64(vals, valid)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]
    np.testing.assert_array_equal(got[2], want[2])


@pytest.mark.parametrize("with_nulls", [False, True])
def test_factorize_float64_zero_and_nan(with_nulls):
    vals = np.array([0.0, -0.0, np.nan, 1.5, np.nan, 1.5, 2.0] * 30)
    valid = _valid(len(vals), with_nulls)
    got = hashagg.factorize_float64(vals, valid)
    want = ref.factorize_float64(vals, valid)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]


@pytest.mark.parametrize("with_nulls", [False, True])
def test_factorize_codes_and_combine(with_nulls):
    codes = RNG.integers(0, 9, 1000).astype(np.int32)
    valid = _valid(1000, with_nulls)
    a = hashagg.factorize_codes(codes, 9, valid)
    want = ref.factorize_codes(codes, 9, valid)
    np.testing.assert_array_equal(a[0], want[0])
    b = hashagg.factorize_int64(RNG.integers(0, 4, 1000))
    got = hashagg.combine_group_ids(a[0], a[1], b[0], b[1])
    want = ref.combine_group_ids(a[0], a[1], b[0], b[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
@pytest.mark.parametrize("with_nulls", [False, True])
def test_reductions(dtype, with_nulls):
    n, ng = 3000, 37
    ids = RNG.integers(0, ng, n).astype(np.int64)
    vals = (RNG.random(n) * 100).astype(dtype)
    valid = _valid(n, with_nulls)
    for got, want in [
        (hashagg.group_sum(vals, valid, ids, ng), ref.group_sum(vals, valid, ids, ng)),
        (hashagg.group_minmax(vals, valid, ids, ng, True), ref.group_minmax(vals, valid, ids, ng, True)),
        (hashagg.group_minmax(vals, valid, ids, ng, False), ref.group_minmax(vals, valid, ids, ng, False)),
    ]:
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w)
    np.testing.assert_array_equal(hashagg.group_count(valid, ids, ng), ref.group_count(valid, ids, ng))
    np.testing.assert_array_equal(hashagg.group_last_row(valid, ids, ng), ref.group_last_row(valid, ids, ng))


@pytest.mark.parametrize("with_nulls", [False, True])
def test_welford_variance(with_nulls):
    n, ng = 2000, 11
    ids = RNG.integers(0, ng, n).astype(np.int64)
    vals = RNG.normal(1e6, 3.0, n)
    valid = _valid(n, with_nulls)
    for g, w in zip(hashagg.group_var(vals, valid, ids, ng), ref.group_var(vals, valid, ids, ng)):
        np.testing.assert_allclose(g, w, rtol=1e-9)


def test_group_order_is_stable():
    ids = RNG.integers(0, 5, 100).astype(np.int64)
    got = hashagg.group_order(ids, 5)
    want = ref.group_order(ids, 5)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
