# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Null-aware arithmetic + - * / % and bitwise & | ^ over int64/float64 columns.

``add(a, a_valid, b, b_valid) -> (values, valid)``: nil in, nil out (``valid`` is None when
neither side has a validity array). int64 with float64 computes in float64. int64 follows Go:
wrapping overflow, ``/`` truncates toward zero, ``%`` takes the sign of the dividend,
``MinInt64 / -1 == MinInt64`` and ``MinInt64 % -1 == 0``.

``div`` and ``mod`` return ``(values, valid, zero_div)``: ``zero_div`` is a bool array, True on
valid rows whose divisor is 0 (eKuiper raises "divided by zero" there, for floats too), or
None when there is no such row. int64 rows with a zero divisor hold 0; float64 rows hold the
IEEE result (±Inf/NaN, ``fmod`` for ``%``) so a caller may also keep Go's float behaviour.

Scalar forms ``add_scalar(a, a_valid, s, scalar_left=False)`` etc. compute ``a op s`` (or
``s op a`` with ``scalar_left``) for a non-null scalar. Bitwise ops are int64 only.
"""
from libc.math cimport fmod
from libc.stdint cimport int64_t, uint8_t, uint64_t

import numpy as np

cimport numpy as cnp

cnp.import_array()

ctypedef fused num_t:
    int64_t
    double

cdef enum:
    ADD = 0
    SUB = 1
    MUL = 2
    DIV = 3
    MOD = 4
    BAND = 5
    BOR = 6
    BXOR = 7

cdef int64_t INT64_MIN = -0x7FFFFFFFFFFFFFFF - 1


cdef inline int64_t _idiv(int64_t x, int64_t y) noexcept nogil:
    if y == 0:
        return 0
    if y == -1:
        return <int64_t>(<uint64_t>0 - <uint64_t>x)   # wraps for MinInt64, as Go does
    return x // y   # cdivision: truncates toward zero like Go


cdef inline int64_t _imod(int64_t x, int64_t y) noexcept nogil:
    if y == 0 or y == -1:
        return 0
    return x % y    # cdivision: sign of the dividend like Go


cdef inline num_t _apply(int op, num_t x, num_t y) noexcept nogil:
    if num_t is double:
        if op == ADD:
            return x + y
        if op == SUB:
            return x - y
        if op == MUL:
            return x * y
        if op == DIV:
            return x / y
        return fmod(x, y)
    else:
        if op == ADD:
            return <int64_t>(<uint64_t>x + <uint64_t>y)
        if op == SUB:
            return <int64_t>(<uint64_t>x - <uint64_t>y)
        if op == MUL:
            return <int64_t>(<uint64_t>x * <uint64_t>y)
        if op == DIV:
            return _idiv(x, y)
        if op == MOD:
            return _imod(x, y)
        if op == BAND:
            return x & y
        if op == BOR:
            return x | y
        return x ^ y


cdef void _loop_aa(int op, const num_t[:] a, const num_t[:] b, num_t[:] out) noexcept nogil:
    cdef Py_ssize_t i, n = out.shape[0]
    # one loop per operator so the compiler can vectorize the simple ones
    if op == ADD:
        for i in range(n):
            out[i] = _apply(ADD, a[i], b[i])
    elif op == SUB:
        for i in range(n):
            out[i] = _apply(SUB, a[i], b[i])
    elif op == MUL:
        for i in range(n):
            out[i] = _apply(MUL, a[i], b[i])
    else:
        for i in range(n):
            out[i] = _apply(op, a[i], b[i])


cdef void _loop_as(int op, const num_t[:] a, num_t s, bint scalar_left,
                   num_t[:] out) noexcept nogil:
    cdef Py_ssize_t i, n = out.shape[0]
    if scalar_left:
        for i in range(n):
            out[i] = _apply(op, s, a[i])
    elif op == ADD:
        for i in range(n):
            out[i] = _apply(ADD, a[i], s)
    elif op == SUB:
        for i in range(n):
            out[i] = _apply(SUB, a[i], s)
    elif op == MUL:
        for i in range(n):
            out[i] = _apply(MUL, a[i], s)
    else:
        for i in range(n):
            out[i] = _apply(op, a[i], s)


cdef object _and_valid(object av, object bv):
    if av is None:
        return None if bv is None else np.array(bv, dtype=np.bool_, copy=True)
    if bv is None:
        return np.array(av, dtype=np.bool_, copy=True)
    return np.logical_and(av, bv)


cdef object _zero_mask(object divisor, object valid):
    zero = divisor == 0
    if valid is not None:
        zero &= valid
    return zero if zero.any() else None


cdef tuple _binary(int op, object a, object a_valid, object b, object b_valid):
    a = np.asarray(a)
    b = np.asarray(b)
    cdef Py_ssize_t n = a.shape[0]
    if b.shape[0] != n:
        raise ValueError("operands differ in length")
    is_float = a.dtype.kind == "f" or b.dtype.kind == "f"
    if is_float and op >= BAND:
        raise TypeError("bitwise operators need bigint operands")
    dtype = np.float64 if is_float else np.int64
    a = np.ascontiguousarray(a, dtype=dtype)
    b = np.ascontiguousarray(b, dtype=dtype)
    out = np.empty(n, dtype=dtype)
    cdef const double[:] af, bf
    cdef double[:] of
    cdef const int64_t[:] ai, bi
    cdef int64_t[:] oi
    if is_float:
        af = a
        bf = b
        of = out
        with nogil:
            _loop_aa[double](op, af, bf, of)
    else:
        ai = a
        bi = b
        oi = out
        with nogil:
            _loop_aa[int64_t](op, ai, bi, oi)
    valid = _and_valid(a_valid, b_valid)
    if op == DIV or op == MOD:
        return out, valid, _zero_mask(b, valid)
    return out, valid


cdef tuple _scalar(int op, object a, object a_valid, object s, bint scalar_left):
    a = np.asarray(a)
    cdef Py_ssize_t n = a.shape[0]
    is_float = a.dtype.kind == "f" or isinstance(s, float)
    if is_float and op >= BAND:
        raise TypeError("bitwise operators need bigint operands")
    dtype = np.float64 if is_float else np.int64
    a = np.ascontiguousarray(a, dtype=dtype)
    out = np.empty(n, dtype=dtype)
    cdef const double[:] af
    cdef double[:] of
    cdef const int64_t[:] ai
    cdef int64_t[:] oi
    cdef double sf
    cdef int64_t si
    if is_float:
        af = a
        of = out
        sf = s
        with nogil:
            _loop_as[double](op, af, sf, scalar_left, of)
    else:
        ai = a
        oi = out
        si = s
        with nogil:
            _loop_as[int64_t](op, ai, si, scalar_left, oi)
    valid = _and_valid(a_valid, None)
    if op == DIV or op == MOD:
        if scalar_left:
            return out, valid, _zero_mask(a, valid)
        zero = None
        if s == 0:
            zero = np.ones(n, dtype=np.bool_) if valid is None else valid.copy()
            if not zero.any():
                zero = None
        return out, valid, zero
    return out, valid


def add(a, a_valid, b, b_valid):
    return _binary(ADD, a, a_valid, b, b_valid)


def sub(a, a_valid, b, b_valid):
    return _binary(SUB, a, a_valid, b, b_valid)


def mul(a, a_valid, b, b_valid):
    return _binary(MUL, a, a_valid, b, b_valid)


def div(a, a_valid, b, b_valid):
    return _binary(DIV, a, a_valid, b, b_valid)


def mod(a, a_valid, b, b_valid):
    return _binary(MOD, a, a_valid, b, b_valid)


def bitand(a, a_valid, b, b_valid):
    return _binary(BAND, a, a_valid, b, b_valid)


def bitor(a, a_valid, b, b_valid):
    return _binary(BOR, a, a_valid, b, b_valid)


def bitxor(a, a_valid, b, b_valid):
    return _binary(BXOR, a, a_valid, b, b_valid)


def add_scalar(a, a_valid, s, bint scalar_left=False):
    return _scalar(ADD, a, a_valid, s, scalar_left)


def sub_scalar(a, a_valid, s, bint scalar_left=False):
    return _scalar(SUB, a, a_valid, s, scalar_left)


def mul_scalar(a, a_valid, s, bint scalar_left=False):
    return _scalar(MUL, a, a_valid, s, scalar_left)


def div_scalar(a, a_valid, s, bint scalar_left=False):
    return _scalar(DIV, a, a_valid, s, scalar_left)


def mod_scalar(a, a_valid, s, bint scalar_left=False):
    return _scalar(MOD, a, a_valid, s, scalar_left)


def bitand_scalar(a, a_valid, s, bint scalar_left=False):
    return _scalar(BAND, a, a_valid, s, scalar_left)


def bitor_scalar(a, a_valid, s, bint scalar_left=False):
    return _scalar(BOR, a, a_valid, s, scalar_left)


def bitxor_scalar(a, a_valid, s, bint scalar_left=False):
    return _scalar(BXOR, a, a_valid, s, scalar_left)
