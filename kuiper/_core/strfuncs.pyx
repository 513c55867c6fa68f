# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""String function kernels over object arrays of str, with a validity mask.

Each walks the column once in C, calling CPython's unicode API per value (no Python-level
call per row). Null rows (``valid[i]`` false) give the ``null`` argument's value.

- ``str_len(values, valid, null) -> int64``: characters (code points).
- ``utf8_len(values, valid, null) -> int64``: bytes of the UTF-8 encoding.
- ``starts_with(values, valid, prefix, null) / ends_with(...) -> bool``.
- ``find(values, valid, sub, null) -> int64``: byte offset (UTF-8) of the first ``sub``, -1
  (Go's ``strings.Index``).
- ``lower(values, valid) / upper(values, valid) / strip(values, valid, side) -> object``:
  ``str.lower/upper/strip/lstrip/rstrip``; ASCII values are done in C (an unchanged value is
  reused, not copied), others go through the str method. side: 0 both, 1 left, 2 right.
  Null rows hold None.
- ``concat(parts, n) -> object``: row-wise concatenation of constant strs and (values, valid)
  pairs; a null counts as "" (eKuiper's concat).
"""
from cpython.unicode cimport PyUnicode_Find, PyUnicode_Tailmatch
from libc.stdint cimport int64_t, uint8_t

import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    object PyUnicode_Substring(object s, Py_ssize_t start, Py_ssize_t end)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_IS_ASCII(object o)
    void* PyUnicode_DATA(object o)
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL


cdef inline bint _is_valid(const uint8_t[:] v, bint has_valid, Py_ssize_t i):
    return (not has_valid) or v[i] != 0


cdef const uint8_t[:] _mask(valid, Py_ssize_t n):
    if valid is None:
        return np.ones(1, dtype=np.uint8)
    return np.ascontiguousarray(valid).view(np.uint8)


def str_len(values, valid, int64_t null=0):
    cdef object[:] s = values
    cdef Py_ssize_t i, n = s.shape[0]
    cdef bint hv = valid is not None
    cdef const uint8_t[:] v = _mask(valid, n)
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[:] o = out
    for i in range(n):
        o[i] = PyUnicode_GET_LENGTH(s[i]) if _is_valid(v, hv, i) else null
    return out


def utf8_len(values, valid, int64_t null=0):
    cdef object[:] s = values
    cdef Py_ssize_t i, size, n = s.shape[0]
    cdef bint hv = valid is not None
    cdef const uint8_t[:] v = _mask(valid, n)
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[:] o = out
    for i in range(n):
        if not _is_valid(v, hv, i):
            o[i] = null
            continue
        x = s[i]
        if PyUnicode_IS_ASCII(x):
            o[i] = PyUnicode_GET_LENGTH(x)
        else:
            PyUnicode_AsUTF8AndSize(x, &size)
            o[i] = size
    return out


cdef _tailmatch(values, valid, str sub, int direction, bint null):
    cdef object[:] s = values
    cdef Py_ssize_t i, n = s.shape[0]
    cdef bint hv = valid is not None
    cdef const uint8_t[:] v = _mask(valid, n)
    out = np.empty(n, dtype=np.bool_)
    cdef uint8_t[:] o = out.view(np.uint8)
    for i in range(n):
        if _is_valid(v, hv, i):
            x = s[i]
            o[i] = PyUnicode_Tailmatch(x, sub, 0, PyUnicode_GET_LENGTH(x), direction) == 1
        else:
            o[i] = null
    return out


def starts_with(values, valid, str prefix, bint null=False):
    return _tailmatch(values, valid, prefix, -1, null)


def ends_with(values, valid, str suffix, bint null=False):
    return _tailmatch(values, valid, suffix, 1, null)


def find(values, valid, str sub, int64_t null=-1):
    cdef object[:] s = values
    cdef Py_ssize_t i, at, n = s.shape[0]
    cdef bint hv = valid is not None
    cdef const uint8_t[:] v = _mask(valid, n)
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[:] o = out
    for i in range(n):
        if _is_valid(v, hv, i):
            x = s[i]
            at = PyUnicode_Find(x, sub, 0, PyUnicode_GET_LENGTH(x), 1)
            if at > 0 and not PyUnicode_IS_ASCII(x):
                at = len((<str>x)[:at].encode("utf-8"))
            o[i] = at
        else:
            o[i] = null
    return out


cdef inline bint _ascii_space(uint8_t c):
    return c == 32 or (9 <= c <= 13) or (28 <= c <= 31)


cdef _case(values, valid, bint to_upper):
    cdef object[:] s = values
    cdef Py_ssize_t i, j, m, n = s.shape[0]
    cdef bint hv = valid is not None, same
    cdef const uint8_t[:] v = _mask(valid, n)
    cdef const uint8_t* p
    cdef uint8_t* q
    cdef uint8_t lo = 97 if to_upper else 65
    cdef uint8_t hi = 122 if to_upper else 90
    out = np.empty(n, dtype=object)
    cdef object[:] o = out
    for i in range(n):
        if not _is_valid(v, hv, i):
            o[i] = None
            continue
        x = s[i]
        if not PyUnicode_IS_ASCII(x):
            o[i] = x.upper() if to_upper else x.lower()
            continue
        p = <const uint8_t*>PyUnicode_DATA(x)
        m = PyUnicode_GET_LENGTH(x)
        same = True
        for j in range(m):
            if lo <= p[j] <= hi:
                same = False
                break
        if same:
            o[i] = x
            continue
        y = PyUnicode_New(m, 127)  # an ASCII result, written in place
        q = <uint8_t*>PyUnicode_DATA(y)
        for j in range(m):
            q[j] = p[j] ^ 32 if lo <= p[j] <= hi else p[j]
        o[i] = y
    return out


def lower(values, valid):
    return _case(values, valid, False)


def upper(values, valid):
    return _case(values, valid, True)


def strip(values, valid, int side=0):
    cdef object[:] s = values
    cdef Py_ssize_t i, m, start, end, n = s.shape[0]
    cdef bint hv = valid is not None
    cdef const uint8_t[:] v = _mask(valid, n)
    cdef const uint8_t* p
    out = np.empty(n, dtype=object)
    cdef object[:] o = out
    for i in range(n):
        if not _is_valid(v, hv, i):
            o[i] = None
            continue
        x = s[i]
        if PyUnicode_IS_ASCII(x):
            m = PyUnicode_GET_LENGTH(x)
            p = <const uint8_t*>PyUnicode_DATA(x)
            start, end = 0, m
            if side != 2:
                while start < end and _ascii_space(p[start]):
                    start += 1
            if side != 1:
                while end > start and _ascii_space(p[end - 1]):
                    end -= 1
            o[i] = x if (start == 0 and end == m) else PyUnicode_Substring(x, start, end)
        elif side == 0:
            o[i] = x.strip()
        elif side == 1:
            o[i] = x.lstrip()
        else:
            o[i] = x.rstrip()
    return out


def concat(list parts, Py_ssize_t n):
    """Row-wise concatenation of ``parts``: each a constant str or a pair (object array of str,
    valid mask or None); a null row of a part counts as "" (eKuiper's concat)."""
    cdef Py_ssize_t i, k, m = len(parts)
    cdef list columns = []
    cdef list col
    for part in parts:
        if isinstance(part, str):
            columns.append(part)
        else:
            values, valid = part
            if valid is not None and not valid.all():
                values = np.where(valid, values, "")
            columns.append(values.tolist())
    out = np.empty(n, dtype=object)
    cdef object[:] o = out
    cdef str acc
    if m == 0:
        out[:] = ""
        return out
    for i in range(n):
        first = columns[0]
        acc = first if isinstance(first, str) else (<list>first)[i]
        for k in range(1, m):
            c = columns[k]
            acc = acc + (c if isinstance(c, str) else (<list>c)[i])
        o[i] = acc
    return out
