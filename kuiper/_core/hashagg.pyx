# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Hash group-by and segmented reductions over whole columns.

"Which rows" apart from "what to compute": the factorize functions turn key columns into dense
group ids (0, 1, 2, ... in first-seen order, null rows sharing one group of their own); every
reduction then takes `(values, valid, group_ids, n_groups)` and returns one value per group.
`valid` is a uint8 view of a validity mask, or None when the column has no nulls.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

import numpy as np

ctypedef fused number:
    int64_t
    double


cdef inline uint64_t _mix(uint64_t x) noexcept nogil:
    x ^= x >> 30
    x *= <uint64_t>0xbf58476d1ce4e5b9
    x ^= x >> 27
    x *= <uint64_t>0x94d049bb133111eb
    x ^= x >> 31
    return x


cdef inline uint64_t _double_bits(double v) noexcept nogil:
    cdef uint64_t bits
    if v == 0.0:
        v = 0.0  # -0.0 and 0.0 are one key
    if v != v:
        return <uint64_t>0x7ff8000000000000  # every NaN is one key
    memcpy(&bits, &v, 8)
    return bits


cdef int64_t _factorize_bits(const uint64_t* keys, const uint8_t* valid, Py_ssize_t n,
                             int64_t* out, int64_t* first) noexcept nogil:
    """Open addressing over 64-bit keys; returns the group count."""
    cdef Py_ssize_t cap = 16, i, slot, mask
    while cap < 2 * n + 2:
        cap <<= 1
    mask = cap - 1
    cdef int64_t ngroups = 0, null_group = -1, g
    cdef uint64_t k
    cdef int64_t* table = <int64_t*>malloc(cap * sizeof(int64_t))
    cdef uint64_t* tkeys = <uint64_t*>malloc(cap * sizeof(uint64_t))
    if table == NULL or tkeys == NULL:
        free(table)
        free(tkeys)
        return -1
    for i in range(cap):
        table[i] = -1
    for i in range(n):
        if valid != NULL and not valid[i]:
            if null_group < 0:
                null_group = ngroups
                first[ngroups] = i
                ngroups += 1
            out[i] = null_group
            continue
        k = keys[i]
        slot = <Py_ssize_t>(_mix(k) & <uint64_t>mask)
        while True:
            g = table[slot]
            if g < 0:
                table[slot] = ngroups
                tkeys[slot] = k
                first[ngroups] = i
                out[i] = ngroups
                ngroups += 1
                break
            if tkeys[slot] == k:
                out[i] = g
                break
            slot = (slot + 1) & mask
    free(table)
    free(tkeys)
    return ngroups


cdef tuple _factorize(object keys_u64, object valid):
    cdef const uint64_t[:] kv = keys_u64
    cdef Py_ssize_t n = kv.shape[0]
    cdef const uint8_t[:] vv
    cdef const uint8_t* vp = NULL
    if valid is not None:
        vv = valid
        vp = &vv[0] if n else NULL
    out = np.empty(n, dtype=np.int64)
    first = np.empty(n + 1, dtype=np.int64)
    cdef int64_t[:] ov = out
    cdef int64_t[:] fv = first
    cdef int64_t ng = 0
    if n:
        with nogil:
            ng = _factorize_bits(&kv[0], vp, n, &ov[0], &fv[0])
        if ng < 0:
            raise MemoryError("factorize: out of memory")
    return out, int(ng), first[:ng].copy()


def factorize_int64(values, valid=None):
    """int64 keys -> (group_ids int64[n], n_groups, first_row int64[n_groups])."""
    return _factorize(np.ascontiguousarray(values, dtype=np.int64).view(np.uint64),
                      None if valid is None else np.ascontiguousarray(valid).view(np.uint8))


def factorize_float64(values, valid=None):
    """float64 keys (0.0 == -0.0, NaNs equal) -> (group_ids, n_groups, first_row)."""
    cdef const double[:] dv = np.ascontiguousarray(values, dtype=np.float64)
    cdef Py_ssize_t i, n = dv.shape[0]
    bits = np.empty(n, dtype=np.uint64)
    cdef uint64_t[:] bv = bits
    with nogil:
        for i in range(n):
            bv[i] = _double_bits(dv[i])
    return _factorize(bits, None if valid is None else np.ascontiguousarray(valid).view(np.uint8))


def factorize_codes(codes, int64_t n_codes, valid=None):
    """Dictionary codes (int32 in [0, n_codes)) -> (group_ids, n_groups, first_row); no hashing."""
    cdef const int32_t[:] cv = np.ascontiguousarray(codes, dtype=np.int32)
    cdef Py_ssize_t i, n = cv.shape[0]
    cdef const uint8_t[:] vv
    cdef bint has_valid = valid is not None
    if has_valid:
        vv = np.ascontiguousarray(valid).view(np.uint8)
    lut = np.full(n_codes + 1, -1, dtype=np.int64)  # last slot: the null group
    out = np.empty(n, dtype=np.int64)
    first = np.empty(n + 1, dtype=np.int64)
    cdef int64_t[:] lv = lut
    cdef int64_t[:] ov = out
    cdef int64_t[:] fv = first
    cdef int64_t ng = 0, c
    with nogil:
        for i in range(n):
            if has_valid and not vv[i]:
                c = n_codes
            else:
                c = cv[i]
            if lv[c] < 0:
                lv[c] = ng
                fv[ng] = i
                ng += 1
            ov[i] = lv[c]
    return out, int(ng), first[:ng].copy()


def combine_group_ids(a, int64_t n_a, b, int64_t n_b):
    """Group ids of a two-column key from the ids of each column (first-seen order kept)."""
    if n_a * n_b < (1 << 62):
        combined = np.asarray(a, dtype=np.int64) * n_b + np.asarray(b, dtype=np.int64)
        return factorize_int64(combined)
    raise OverflowError("too many key combinations")


def group_count(valid, group_ids, int64_t n_groups):
    """Non-null rows per group (all rows when valid is None)."""
    cdef const int64_t[:] gv = group_ids
    cdef Py_ssize_t i, n = gv.shape[0]
    cdef const uint8_t[:] vv
    cdef bint has_valid = valid is not None
    if has_valid:
        vv = np.ascontiguousarray(valid).view(np.uint8)
    out = np.zeros(n_groups, dtype=np.int64)
    cdef int64_t[:] ov = out
    with nogil:
        for i in range(n):
            if has_valid and not vv[i]:
                continue
            ov[gv[i]] += 1
    return out


def group_sum(const number[:] values, valid, const int64_t[:] group_ids, int64_t n_groups):
    """(sums, counts) per group over non-null rows; sums keep the values' dtype."""
    cdef Py_ssize_t i, n = values.shape[0]
    cdef const uint8_t[:] vv
    cdef bint has_valid = valid is not None
    if has_valid:
        vv = np.ascontiguousarray(valid).view(np.uint8)
    if number is int64_t:
        sums = np.zeros(n_groups, dtype=np.int64)
    else:
        sums = np.zeros(n_groups, dtype=np.float64)
    counts = np.zeros(n_groups, dtype=np.int64)
    cdef number[:] sv = sums
    cdef int64_t[:] cv = counts
    cdef int64_t g
    with nogil:
        for i in range(n):
            if has_valid and not vv[i]:
                continue
            g = group_ids[i]
            sv[g] += values[i]
            cv[g] += 1
    return sums, counts


def group_minmax(const number[:] values, valid, const int64_t[:] group_ids, int64_t n_groups,
                 bint is_max):
    """(min or max, counts) per group over non-null rows; a group with count 0 has no value."""
    cdef Py_ssize_t i, n = values.shape[0]
    cdef const uint8_t[:] vv
    cdef bint has_valid = valid is not None
    if has_valid:
        vv = np.ascontiguousarray(valid).view(np.uint8)
    if number is int64_t:
        out = np.zeros(n_groups, dtype=np.int64)
    else:
        out = np.zeros(n_groups, dtype=np.float64)
    counts = np.zeros(n_groups, dtype=np.int64)
    cdef number[:] ov = out
    cdef int64_t[:] cv = counts
    cdef int64_t g
    cdef number v
    with nogil:
        for i in range(n):
            if has_valid and not vv[i]:
                continue
            g = group_ids[i]
            v = values[i]
            if cv[g] == 0 or (is_max and v > ov[g]) or (not is_max and v < ov[g]):
                ov[g] = v
            cv[g] += 1
    return out, counts


def group_var(const double[:] values, valid, const int64_t[:] group_ids, int64_t n_groups):
    """Welford per group: (counts, means, m2) over non-null rows."""
    cdef Py_ssize_t i, n = values.shape[0]
    cdef const uint8_t[:] vv
    cdef bint has_valid = valid is not None
    if has_valid:
        vv = np.ascontiguousarray(valid).view(np.uint8)
    counts = np.zeros(n_groups, dtype=np.int64)
    means = np.zeros(n_groups, dtype=np.float64)
    m2 = np.zeros(n_groups, dtype=np.float64)
    cdef int64_t[:] cv = counts
    cdef double[:] mv = means
    cdef double[:] qv = m2
    cdef int64_t g
    cdef double x, delta
    with nogil:
        for i in range(n):
            if has_valid and not vv[i]:
                continue
            g = group_ids[i]
            x = values[i]
            cv[g] += 1
            delta = x - mv[g]
            mv[g] += delta / cv[g]
            qv[g] += delta * (x - mv[g])
    return counts, means, m2


def group_last_row(valid, const int64_t[:] group_ids, int64_t n_groups):
    """The last non-null row of each group, -1 when a group has none."""
    cdef Py_ssize_t i, n = group_ids.shape[0]
    cdef const uint8_t[:] vv
    cdef bint has_valid = valid is not None
    if has_valid:
        vv = np.ascontiguousarray(valid).view(np.uint8)
    out = np.full(n_groups, -1, dtype=np.int64)
    cdef int64_t[:] ov = out
    with nogil:
        for i in range(n):
            if has_valid and not vv[i]:
                continue
            ov[group_ids[i]] = i
    return out


def group_order(const int64_t[:] group_ids, int64_t n_groups):
    """A stable counting sort by group: (order int64[n], offsets int64[n_groups + 1]);
    rows of group g are order[offsets[g]:offsets[g + 1]], in their original order."""
    cdef Py_ssize_t i, n = group_ids.shape[0]
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    cdef int64_t[:] fv = offsets
    cdef int64_t[:] ov = order
    cdef int64_t g
    cursor = np.empty(n_groups, dtype=np.int64)
    cdef int64_t[:] cur = cursor
    with nogil:
        for i in range(n):
            fv[group_ids[i] + 1] += 1
        for g in range(n_groups):
            fv[g + 1] += fv[g]
            cur[g] = fv[g]
        for i in range(n):
            g = group_ids[i]
            ov[cur[g]] = i
            cur[g] += 1
    return order, offsets
