"""windows kernels against their numpy twins in _reference_agg."""
from __future__ import annotations

import numpy as np
import pytest

from kuiper._core import _reference_agg as ref
from kuiper._core import windows

RNG = np.random.default_rng(3)


def test_tumbling_starts_epoch_aligned_with_negatives():
    ts = RNG.integers(-100_000, 100_000, 1000)
    np.testing.assert_array_equal(windows.tumbling_starts(ts, 10_000), ref.tumbling_starts(ts, 10_000))
    assert windows.tumbling_starts(np.array([1_700_000_003_123]), 10_000)[0] == 1_700_000_000_000


@pytest.mark.parametrize("size,hop", [(10, 5), (10, 3), (6, 6), (4, 8)])
def test_hopping_assign(size, hop):
    ts = np.sort(RNG.integers(-50, 200, 300))
    got = windows.hopping_assign(ts, size, hop)
    want = ref.hopping_assign(ts, size, hop)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("lo_open", [False, True])
@pytest.mark.parametrize("hi_closed", [False, True])
def test_range_bounds(lo_open, hi_closed):
    ts = np.sort(RNG.integers(0, 100, 200))
    lo = RNG.integers(0, 100, 50)
    hi = lo + RNG.integers(0, 30, 50)
    got = windows.range_bounds(ts, lo, hi, lo_open, hi_closed)
    want = ref.range_bounds(ts, lo, hi, lo_open, hi_closed)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_session_bounds_timeout_and_open_tail():
    ts = np.array([1000, 1500, 1900, 5000, 5100, 9000], dtype=np.int64)
    rs, re, ws, we = windows.session_bounds(ts, 1000, 60_000, 9500, False)
    assert rs.tolist() == [0, 3] and re.tolist() == [3, 5]
    assert ws.tolist() == [1000, 5000] and we.tolist() == [2900, 6100]
    rs, re, ws, we = windows.session_bounds(ts, 1000, 60_000, 0, True)
    assert re.tolist() == [3, 5, 6] and we.tolist()[-1] == 10_000


def test_session_bounds_max_duration():
    ts = np.arange(0, 50_000, 500, dtype=np.int64) + 3
    rs, re, ws, we = windows.session_bounds(ts, 1000, 10_000, 10**9, False)
    assert we[0] == 20_000  # first multiple of 10 s more than 10 s after the start
    assert ts[re[0] - 1] < 20_000 <= ts[re[0]]
