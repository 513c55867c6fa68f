# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Hash equi-join of two int64 key columns: the smaller side is hashed, the other probes it.

Keys are int64 (callers map strings/floats to joint codes first); null keys never match.
Returns the matching (left_row, right_row) pairs ordered by left row, then right row.
"""
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc

import numpy as np


cdef inline uint64_t _mix(uint64_t x) noexcept nogil:
    x ^= x >> 30
    x *= <uint64_t>0xbf58476d1ce4e5b9
    x ^= x >> 27
    x *= <uint64_t>0x94d049bb133111eb
    x ^= x >> 31
    return x


cdef object _join(const int64_t[:] build, object bvalid, const int64_t[:] probe, object pvalid):
    """(probe_rows, build_rows) of the matches, ordered by probe row then build row."""
    cdef Py_ssize_t nb = build.shape[0], np_ = probe.shape[0], i, slot, mask, cap = 16
    cdef const uint8_t[:] bv
    cdef const uint8_t[:] pv
    cdef bint has_bv = bvalid is not None, has_pv = pvalid is not None
    if has_bv:
        bv = bvalid
    if has_pv:
        pv = pvalid
    while cap < 2 * nb + 2:
        cap <<= 1
    mask = cap - 1
    # chained buckets: head[slot] -> first build row; nxt[row] -> next row with the same slot,
    # rows chained in ascending order so matches come out sorted by build row
    head = np.full(cap, -1, dtype=np.int64)
    tail = np.full(cap, -1, dtype=np.int64)
    nxt = np.full(max(nb, 1), -1, dtype=np.int64)
    cdef int64_t[:] hv = head
    cdef int64_t[:] tv = tail
    cdef int64_t[:] xv = nxt
    cdef int64_t r, total = 0, k = 0
    with nogil:
        for i in range(nb):
            if has_bv and not bv[i]:
                continue
            slot = <Py_ssize_t>(_mix(<uint64_t>build[i]) & <uint64_t>mask)
            if hv[slot] < 0:
                hv[slot] = i
            else:
                xv[tv[slot]] = i
            tv[slot] = i
        for i in range(np_):
            if has_pv and not pv[i]:
                continue
            slot = <Py_ssize_t>(_mix(<uint64_t>probe[i]) & <uint64_t>mask)
            r = hv[slot]
            while r >= 0:
                if build[r] == probe[i]:
                    total += 1
                r = xv[r]
    out_p = np.empty(total, dtype=np.int64)
    out_b = np.empty(total, dtype=np.int64)
    cdef int64_t[:] op = out_p
    cdef int64_t[:] ob = out_b
    with nogil:
        for i in range(np_):
            if has_pv and not pv[i]:
                continue
            slot = <Py_ssize_t>(_mix(<uint64_t>probe[i]) & <uint64_t>mask)
            r = hv[slot]
            while r >= 0:
                if build[r] == probe[i]:
                    op[k] = i
                    ob[k] = r
                    k += 1
                r = xv[r]
    return out_p, out_b


def hash_join_int64(left, right, left_valid=None, right_valid=None):
    """Inner equi-join pairs (left_rows, right_rows), sorted by left row then right row."""
    lk = np.ascontiguousarray(left, dtype=np.int64)
    rk = np.ascontiguousarray(right, dtype=np.int64)
    lv = None if left_valid is None else np.ascontiguousarray(left_valid).view(np.uint8)
    rv = None if right_valid is None else np.ascontiguousarray(right_valid).view(np.uint8)
    if len(rk) <= len(lk):
        return _join(rk, rv, lk, lv)
    ri, li = _join(lk, lv, rk, rv)
    order = np.lexsort((ri, li))
    return li[order], ri[order]
