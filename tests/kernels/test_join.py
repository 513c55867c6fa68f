"""join kernel against its numpy twin in _reference_agg."""
from __future__ import annotations

import numpy as np
import pytest

from kuiper._core import _reference_agg as ref
from kuiper._core import join

RNG = np.random.default_rng(5)


@pytest.mark.parametrize("nl,nr", [(0, 5), (5, 0), (40, 7), (7, 40), (200, 200)])
@pytest.mark.parametrize("with_nulls", [False, True])
def test_hash_join(nl, nr, with_nulls):
    left = RNG.integers(0, 10, nl)
    right = RNG.integers(0, 10, nr)
    lv = RNG.random(nl) > 0.3 if with_nulls else None
    rv = RNG.random(nr) > 0.3 if with_nulls else None
    got = join.hash_join_int64(left, right, lv, rv)
    want = ref.hash_join_int64(left, right, lv, rv)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
