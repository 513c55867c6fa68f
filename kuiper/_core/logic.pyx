# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""AND / OR / NOT over bool columns with validity, following eKuiper.

eKuiper (internal/xsql/valuer.go, evalBinaryExpr + simpleDataEval) short-circuits on the left
operand and otherwise yields nil when either side is nil:

- ``a AND b``: a is false -> false; else a or b nil -> nil; else a && b
  (so ``nil AND false`` is nil while ``false AND nil`` is false).
- ``a OR b``: a is true -> true; else a or b nil -> nil; else a || b.
- ``NOT a``: nil -> nil.

A WHERE clause keeps a row only when the condition is a non-nil true, so a nil result
behaves as false there. Each function returns ``(values, valid)``; ``valid`` is None when no
input has a validity array. Values under a False validity bit are False.
"""
from libc.stdint cimport uint8_t

import numpy as np

cimport numpy as cnp

cnp.import_array()


cdef void _and_loop(const uint8_t* a, const uint8_t* av, const uint8_t* b, const uint8_t* bv,
                    uint8_t* out, uint8_t* ov, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint8_t x, xv, y, yv
    for i in range(n):
        xv = av[i] if av != NULL else 1
        yv = bv[i] if bv != NULL else 1
        x = a[i] and xv
        y = b[i] and yv
        if xv and not x:
            out[i] = 0
            ov[i] = 1
        elif not xv or not yv:
            out[i] = 0
            ov[i] = 0
        else:
            out[i] = y
            ov[i] = 1


cdef void _or_loop(const uint8_t* a, const uint8_t* av, const uint8_t* b, const uint8_t* bv,
                   uint8_t* out, uint8_t* ov, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint8_t x, xv, y, yv
    for i in range(n):
        xv = av[i] if av != NULL else 1
        yv = bv[i] if bv != NULL else 1
        x = a[i] and xv
        y = b[i] and yv
        if x:
            out[i] = 1
            ov[i] = 1
        elif not xv or not yv:
            out[i] = 0
            ov[i] = 0
        else:
            out[i] = y
            ov[i] = 1


cdef inline const uint8_t* _ptr(object arr) except? NULL:
    if arr is None:
        return NULL
    return <const uint8_t*>cnp.PyArray_DATA(arr)


cdef object _bools(object x, Py_ssize_t n):
    if x is None:
        return None
    x = np.ascontiguousarray(x, dtype=np.bool_)
    if x.shape[0] != n:
        raise ValueError("operands differ in length")
    return x


cdef tuple _binary(bint is_and, object a, object a_valid, object b, object b_valid):
    a = np.ascontiguousarray(a, dtype=np.bool_)
    cdef Py_ssize_t n = a.shape[0]
    b = _bools(b, n)
    a_valid = _bools(a_valid, n)
    b_valid = _bools(b_valid, n)
    out = np.empty(n, dtype=np.bool_)
    ov = np.empty(n, dtype=np.bool_)
    cdef const uint8_t* pa = _ptr(a)
    cdef const uint8_t* pb = _ptr(b)
    cdef const uint8_t* pav = _ptr(a_valid)
    cdef const uint8_t* pbv = _ptr(b_valid)
    cdef uint8_t* po = <uint8_t*>cnp.PyArray_DATA(out)
    cdef uint8_t* pov = <uint8_t*>cnp.PyArray_DATA(ov)
    with nogil:
        if is_and:
            _and_loop(pa, pav, pb, pbv, po, pov, n)
        else:
            _or_loop(pa, pav, pb, pbv, po, pov, n)
    if a_valid is None and b_valid is None:
        return out, None
    return out, ov


def and_(a, a_valid, b, b_valid):
    """eKuiper AND: see the module docstring."""
    return _binary(True, a, a_valid, b, b_valid)


def or_(a, a_valid, b, b_valid):
    """eKuiper OR: see the module docstring."""
    return _binary(False, a, a_valid, b, b_valid)


def not_(a, a_valid):
    """NOT: nil stays nil."""
    a = np.ascontiguousarray(a, dtype=np.bool_)
    cdef Py_ssize_t i, n = a.shape[0]
    a_valid = _bools(a_valid, n)
    out = np.empty(n, dtype=np.bool_)
    cdef const uint8_t* pa = _ptr(a)
    cdef const uint8_t* pav = _ptr(a_valid)
    cdef uint8_t* po = <uint8_t*>cnp.PyArray_DATA(out)
    with nogil:
        for i in range(n):
            po[i] = (not pa[i]) and (pav == NULL or pav[i])
    return out, (None if a_valid is None else a_valid.copy())


def truthy(a, a_valid):
    """The rows where a condition holds (non-nil true): what WHERE and FILTER keep."""
    a = np.ascontiguousarray(a, dtype=np.bool_)
    if a_valid is None:
        return a.copy()
    return np.logical_and(a, a_valid)
