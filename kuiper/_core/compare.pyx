# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Null-aware comparisons =, !=, <, <=, >, >= over int64/float64 columns.

Every function returns one bool array (never null), following eKuiper's rule for nil
(internal/xsql/valuer.go, simpleDataEval): with a nil on either side,
``=``, ``<=``, ``>=`` are true only when both sides are nil; ``!=`` is true unless both are
nil; ``<`` and ``>`` are false. NaN compares as in Go/C (only ``!=`` is true).

Array forms ``eq(a, a_valid, b, b_valid)``: int64 with float64 compares as float64.
Scalar forms ``eq_scalar(a, a_valid, s)`` compare to a non-null scalar (flip the operator for
``s < a``). ``*_valid`` is a bool array or None (no nulls).
"""
from libc.stdint cimport int64_t, uint8_t

import numpy as np

cimport numpy as cnp

cnp.import_array()

ctypedef fused num_t:
    int64_t
    double

cdef enum:
    EQ = 0
    NE = 1
    LT = 2
    LE = 3
    GT = 4
    GE = 5


cdef void _cmp_arrays(int op, const num_t[:] a, const num_t[:] b, uint8_t[:] out) noexcept nogil:
    cdef Py_ssize_t i, n = out.shape[0]
    if op == EQ:
        for i in range(n):
            out[i] = a[i] == b[i]
    elif op == NE:
        for i in range(n):
            out[i] = a[i] != b[i]
    elif op == LT:
        for i in range(n):
            out[i] = a[i] < b[i]
    elif op == LE:
        for i in range(n):
            out[i] = a[i] <= b[i]
    elif op == GT:
        for i in range(n):
            out[i] = a[i] > b[i]
    else:
        for i in range(n):
            out[i] = a[i] >= b[i]


cdef void _cmp_scalar(int op, const num_t[:] a, num_t s, uint8_t[:] out) noexcept nogil:
    cdef Py_ssize_t i, n = out.shape[0]
    if op == EQ:
        for i in range(n):
            out[i] = a[i] == s
    elif op == NE:
        for i in range(n):
            out[i] = a[i] != s
    elif op == LT:
        for i in range(n):
            out[i] = a[i] < s
    elif op == LE:
        for i in range(n):
            out[i] = a[i] <= s
    elif op == GT:
        for i in range(n):
            out[i] = a[i] > s
    else:
        for i in range(n):
            out[i] = a[i] >= s


cdef inline uint8_t _nil_result(int op, uint8_t av, uint8_t bv) noexcept nogil:
    """The result when at least one side is nil (eKuiper's simpleDataEval)."""
    cdef uint8_t both_nil = (not av) and (not bv)
    if op == EQ or op == LE or op == GE:
        return both_nil
    if op == NE:
        return not both_nil
    return 0


cdef void _apply_nils(int op, const uint8_t* av, const uint8_t* bv, uint8_t[:] out) noexcept nogil:
    cdef Py_ssize_t i, n = out.shape[0]
    cdef uint8_t x, y
    for i in range(n):
        x = av[i] if av != NULL else 1
        y = bv[i] if bv != NULL else 1
        if not (x and y):
            out[i] = _nil_result(op, x, y)


cdef const uint8_t* _valid_ptr(object valid, Py_ssize_t n, list keep) except? NULL:
    cdef cnp.ndarray arr
    if valid is None:
        return NULL
    arr = np.ascontiguousarray(valid, dtype=np.bool_)
    if arr.shape[0] != n:
        raise ValueError("validity length does not match values")
    keep.append(arr)
    return <const uint8_t*>cnp.PyArray_DATA(arr)


cdef object _compare(int op, object a, object a_valid, object b, object b_valid):
    a = np.asarray(a)
    b = np.asarray(b)
    cdef Py_ssize_t n = a.shape[0]
    if b.shape[0] != n:
        raise ValueError("operands differ in length")
    if a.dtype != b.dtype or a.dtype.kind == "f":
        a = np.ascontiguousarray(a, dtype=np.float64)
        b = np.ascontiguousarray(b, dtype=np.float64)
    else:
        a = np.ascontiguousarray(a, dtype=np.int64)
        b = np.ascontiguousarray(b, dtype=np.int64)
    out = np.empty(n, dtype=np.bool_)
    cdef uint8_t[:] o = out.view(np.uint8)
    cdef list keep = []
    cdef const uint8_t* av = _valid_ptr(a_valid, n, keep)
    cdef const uint8_t* bv = _valid_ptr(b_valid, n, keep)
    cdef const double[:] af, bf
    cdef const int64_t[:] ai, bi
    if a.dtype == np.float64:
        af = a
        bf = b
        with nogil:
            _cmp_arrays[double](op, af, bf, o)
    else:
        ai = a
        bi = b
        with nogil:
            _cmp_arrays[int64_t](op, ai, bi, o)
    if av != NULL or bv != NULL:
        with nogil:
            _apply_nils(op, av, bv, o)
    return out


cdef object _compare_scalar(int op, object a, object a_valid, object s):
    a = np.asarray(a)
    cdef Py_ssize_t n = a.shape[0]
    out = np.empty(n, dtype=np.bool_)
    cdef uint8_t[:] o = out.view(np.uint8)
    cdef list keep = []
    cdef const uint8_t* av = _valid_ptr(a_valid, n, keep)
    cdef const double[:] af
    cdef const int64_t[:] ai
    cdef double sf
    cdef int64_t si
    if a.dtype.kind == "f" or isinstance(s, float):
        af = np.ascontiguousarray(a, dtype=np.float64)
        sf = s
        with nogil:
            _cmp_scalar[double](op, af, sf, o)
    else:
        ai = np.ascontiguousarray(a, dtype=np.int64)
        si = s
        with nogil:
            _cmp_scalar[int64_t](op, ai, si, o)
    if av != NULL:
        with nogil:
            _apply_nils(op, av, NULL, o)
    return out


def eq(a, a_valid, b, b_valid):
    return _compare(EQ, a, a_valid, b, b_valid)


def ne(a, a_valid, b, b_valid):
    return _compare(NE, a, a_valid, b, b_valid)


def lt(a, a_valid, b, b_valid):
    return _compare(LT, a, a_valid, b, b_valid)


def le(a, a_valid, b, b_valid):
    return _compare(LE, a, a_valid, b, b_valid)


def gt(a, a_valid, b, b_valid):
    return _compare(GT, a, a_valid, b, b_valid)


def ge(a, a_valid, b, b_valid):
    return _compare(GE, a, a_valid, b, b_valid)


def eq_scalar(a, a_valid, s):
    return _compare_scalar(EQ, a, a_valid, s)


def ne_scalar(a, a_valid, s):
    return _compare_scalar(NE, a, a_valid, s)


def lt_scalar(a, a_valid, s):
    return _compare_scalar(LT, a, a_valid, s)


def le_scalar(a, a_valid, s):
    return _compare_scalar(LE, a, a_valid, s)


def gt_scalar(a, a_valid, s):
    return _compare_scalar(GT, a, a_valid, s)


def ge_scalar(a, a_valid, s):
    return _compare_scalar(GE, a, a_valid, s)
