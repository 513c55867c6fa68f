"""Numpy twins of the hashagg, windows and join kernels: same signatures, the test oracle."""
from __future__ import annotations

import numpy as np


def _first_seen(keys: list) -> tuple[np.ndarray, int, np.ndarray]:
    ids: dict = {}
    out = np.empty(len(keys), dtype=np.int64)
    first: list[int] = []
    for i, k in enumerate(keys):
        g = ids.get(k)
        if g is None:
            g = ids[k] = len(ids)
            first.append(i)
        out[i] = g
    return out, len(ids), np.array(first, dtype=np.int64)


def _with_nulls(values: list, valid: np.ndarray | None) -> list:
    if valid is None:
        return values
    return [v if ok else ("\0null",) for v, ok in zip(values, valid.tolist())]


def factorize_int64(values, valid=None):
    return _first_seen(_with_nulls(np.asarray(values, dtype=np.int64).tolist(), valid))


def factorize_float64(values, valid=None):
    vals = ["nan" if v != v else (0.0 if v == 0 else v)
            for v in np.asarray(values, dtype=np.float64).tolist()]
    return _first_seen(_with_nulls(vals, valid))


def factorize_codes(codes, n_codes, valid=None):
    return _first_seen(_with_nulls(np.asarray(codes).tolist(), valid))


def combine_group_ids(a, n_a, b, n_b):
    return _first_seen(list(zip(np.asarray(a).tolist(), np.asarray(b).tolist())))


def _rows(valid, n):
    return np.ones(n, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)


def group_count(valid, group_ids, n_groups):
    ok = _rows(valid, len(group_ids))
    return np.bincount(group_ids[ok], minlength=n_groups).astype(np.int64)


def group_sum(values, valid, group_ids, n_groups):
    ok = _rows(valid, len(values))
    sums = np.zeros(n_groups, dtype=values.dtype)
    np.add.at(sums, group_ids[ok], values[ok])
    return sums, group_count(valid, group_ids, n_groups)


def group_minmax(values, valid, group_ids, n_groups, is_max):
    ok = _rows(valid, len(values))
    out = np.zeros(n_groups, dtype=values.dtype)
    counts = group_count(valid, group_ids, n_groups)
    for g in range(n_groups):
        sel = values[ok & (group_ids == g)]
        if len(sel):
            out[g] = sel.max() if is_max else sel.min()
    return out, counts


def group_var(values, valid, group_ids, n_groups):
    ok = _rows(valid, len(values))
    counts = group_count(valid, group_ids, n_groups)
    means = np.zeros(n_groups)
    m2 = np.zeros(n_groups)
    for g in range(n_groups):
        sel = values[ok & (group_ids == g)]
        if len(sel):
            means[g] = sel.mean()
            m2[g] = ((sel - sel.mean()) ** 2).sum()
    return counts, means, m2


def group_last_row(valid, group_ids, n_groups):
    ok = _rows(valid, len(group_ids))
    out = np.full(n_groups, -1, dtype=np.int64)
    for i in np.flatnonzero(ok):
        out[group_ids[i]] = i
    return out


def group_order(group_ids, n_groups):
    order = np.argsort(group_ids, kind="stable").astype(np.int64)
    counts = np.bincount(group_ids, minlength=n_groups)
    return order, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def tumbling_starts(ts, size):
    return (np.asarray(ts) // size) * size


def hopping_assign(ts, size, hop):
    rows, starts = [], []
    for i, t in enumerate(np.asarray(ts).tolist()):
        s = (t // hop) * hop
        found = []
        while s > t - size:
            found.append(s)
            s -= hop
        for s in reversed(found):
            rows.append(i)
            starts.append(s)
    return np.array(rows, dtype=np.int64), np.array(starts, dtype=np.int64)


def range_bounds(sorted_ts, lo, hi, lo_open, hi_closed):
    ts = np.asarray(sorted_ts)
    starts = np.searchsorted(ts, lo, side="right" if lo_open else "left")
    ends = np.searchsorted(ts, hi, side="right" if hi_closed else "left")
    return starts.astype(np.int64), np.maximum(ends, starts).astype(np.int64)


def hash_join_int64(left, right, left_valid=None, right_valid=None):
    lv = _rows(left_valid, len(left))
    rv = _rows(right_valid, len(right))
    li, ri = [], []
    for i, a in enumerate(np.asarray(left).tolist()):
        if not lv[i]:
            continue
        for j, b in enumerate(np.asarray(right).tolist()):
            if rv[j] and a == b:
                li.append(i)
                ri.append(j)
    return np.array(li, dtype=np.int64), np.array(ri, dtype=np.int64)
