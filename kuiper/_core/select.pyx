# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Row selection: mask -> indices, typed gathers, and a fused filter of several columns.

``filter_indices(mask, valid=None)``: int64 positions where mask (and valid) is True.
``take_int64 / take_float64 / take_int32 / take_bool / take_object(values, indices)``:
values[indices] (indices must be in range; they are not checked).
``compact(mask, arrays)``: each array filtered by mask, in one counting pass.
"""
from cpython.object cimport PyObject
from libc.stdint cimport int32_t, int64_t, uint8_t

import numpy as np

cimport numpy as cnp

cnp.import_array()

ctypedef fused item_t:
    int64_t
    double
    int32_t
    uint8_t


def filter_indices(mask, valid=None):
    m = np.ascontiguousarray(mask, dtype=np.bool_)
    cdef Py_ssize_t n = m.shape[0], i, k = 0, count = 0
    cdef const uint8_t* pm = <const uint8_t*>cnp.PyArray_DATA(m)
    cdef const uint8_t* pv = NULL
    if valid is not None:
        v = np.ascontiguousarray(valid, dtype=np.bool_)
        if v.shape[0] != n:
            raise ValueError("mask and validity differ in length")
        pv = <const uint8_t*>cnp.PyArray_DATA(v)
    with nogil:
        for i in range(n):
            count += pm[i] & (pv[i] if pv != NULL else 1)
    out = np.empty(count, dtype=np.int64)
    cdef int64_t* po = <int64_t*>cnp.PyArray_DATA(out)
    with nogil:
        for i in range(n):
            if pm[i] & (pv[i] if pv != NULL else 1):
                po[k] = i
                k += 1
    return out


cdef void _take(const item_t[:] values, const int64_t[:] idx, item_t[:] out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(idx.shape[0]):
        out[i] = values[idx[i]]


def take_int64(values, indices):
    cdef const int64_t[:] idx = np.ascontiguousarray(indices, dtype=np.int64)
    cdef const int64_t[:] v = np.ascontiguousarray(values, dtype=np.int64)
    out = np.empty(idx.shape[0], dtype=np.int64)
    cdef int64_t[:] o = out
    with nogil:
        _take[int64_t](v, idx, o)
    return out


def take_float64(values, indices):
    cdef const int64_t[:] idx = np.ascontiguousarray(indices, dtype=np.int64)
    cdef const double[:] v = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty(idx.shape[0], dtype=np.float64)
    cdef double[:] o = out
    with nogil:
        _take[double](v, idx, o)
    return out


def take_int32(values, indices):
    cdef const int64_t[:] idx = np.ascontiguousarray(indices, dtype=np.int64)
    cdef const int32_t[:] v = np.ascontiguousarray(values, dtype=np.int32)
    out = np.empty(idx.shape[0], dtype=np.int32)
    cdef int32_t[:] o = out
    with nogil:
        _take[int32_t](v, idx, o)
    return out


def take_bool(values, indices):
    cdef const int64_t[:] idx = np.ascontiguousarray(indices, dtype=np.int64)
    cdef const uint8_t[:] v = np.ascontiguousarray(values, dtype=np.bool_).view(np.uint8)
    out = np.empty(idx.shape[0], dtype=np.bool_)
    cdef uint8_t[:] o = out.view(np.uint8)
    with nogil:
        _take[uint8_t](v, idx, o)
    return out


def take_object(values, indices):
    cdef const int64_t[:] idx = np.ascontiguousarray(indices, dtype=np.int64)
    cdef cnp.ndarray v = np.ascontiguousarray(values, dtype=object)
    cdef Py_ssize_t i, n = idx.shape[0]
    out = np.empty(n, dtype=object)
    cdef PyObject** src = <PyObject**>cnp.PyArray_DATA(v)
    cdef object[:] o = out
    for i in range(n):
        o[i] = <object>src[idx[i]]
    return out


def compact(mask, list arrays):
    """[a[mask] for a in arrays] with the indices computed once (None entries stay None)."""
    idx = filter_indices(mask)
    out = []
    for a in arrays:
        if a is None:
            out.append(None)
            continue
        a = np.asarray(a)
        if a.ndim != 1:
            out.append(a[idx])
        elif a.dtype == np.int64:
            out.append(take_int64(a, idx))
        elif a.dtype == np.float64:
            out.append(take_float64(a, idx))
        elif a.dtype == np.int32:
            out.append(take_int32(a, idx))
        elif a.dtype == np.bool_:
            out.append(take_bool(a, idx))
        elif a.dtype == object:
            out.append(take_object(a, idx))
        else:
            out.append(a[idx])
    return out
