# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""String predicates: LIKE and IN, evaluated once per dictionary entry, then gathered by code.

LIKE: ``%`` matches any run of characters (also none), ``_`` exactly one character, the
escape character (default backslash, as eKuiper's ``\\%`` / ``\\_``) makes the next character
literal; every other character is literal and the whole value must match. (eKuiper builds a
Go regexp and passes other regexp metacharacters through; here they are literal.)

- ``like_dictionary(strings, pattern, escape="\\\\") -> bool array``, one entry per code.
- ``gather_bool(codes, lut, valid=None, negate=False) -> bool array``: ``lut[codes] != negate``
  on valid rows, False on nil rows (a predicate over nil is false, like a comparison).
- ``isin_codes(codes, valid, lut) -> bool array``: ``lut[codes]`` on valid rows, else False.
- ``like_values(values, valid, pattern, escape="\\\\", negate=False) -> bool array`` for an
  object array of str (non-str values give False).
"""
import re

from libc.stdint cimport int32_t, uint8_t

import numpy as np

cimport numpy as cnp

cnp.import_array()


def like_regex(str pattern, escape="\\"):
    """The compiled regular expression equivalent to a LIKE pattern."""
    cdef list parts = []
    cdef Py_ssize_t i = 0, n = len(pattern)
    while i < n:
        c = pattern[i]
        if escape and c == escape and i + 1 < n:
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "%":
            parts.append(".*")
        elif c == "_":
            parts.append(".")
        else:
            parts.append(re.escape(c))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def like_dictionary(strings, str pattern, escape="\\"):
    """LIKE evaluated on each dictionary entry: a bool lookup table indexed by code."""
    rx = like_regex(pattern, escape)
    match = rx.fullmatch
    cdef object[:] s = np.asarray(strings, dtype=object)
    cdef Py_ssize_t i, n = s.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    cdef uint8_t[:] o = out.view(np.uint8)
    for i in range(n):
        v = s[i]
        o[i] = isinstance(v, str) and match(v) is not None
    return out


cdef void _gather(const int32_t* codes, const uint8_t* lut, Py_ssize_t nlut,
                  const uint8_t* valid, uint8_t neg, uint8_t* out,
                  Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef int32_t c
    for i in range(n):
        c = codes[i]
        if (valid != NULL and not valid[i]) or c < 0 or c >= nlut:
            out[i] = 0
        else:
            out[i] = lut[c] ^ neg


def gather_bool(codes, lut, valid=None, bint negate=False):
    """lut[codes] (xor negate) on valid rows, False elsewhere (and for out-of-range codes)."""
    c = np.ascontiguousarray(codes, dtype=np.int32)
    lt = np.ascontiguousarray(lut, dtype=np.bool_)
    cdef Py_ssize_t n = c.shape[0]
    cdef const uint8_t* pv = NULL
    if valid is not None:
        v = np.ascontiguousarray(valid, dtype=np.bool_)
        if v.shape[0] != n:
            raise ValueError("codes and validity differ in length")
        pv = <const uint8_t*>cnp.PyArray_DATA(v)
    out = np.empty(n, dtype=np.bool_)
    cdef const int32_t* pc = <const int32_t*>cnp.PyArray_DATA(c)
    cdef const uint8_t* pl = <const uint8_t*>cnp.PyArray_DATA(lt)
    cdef Py_ssize_t nl = lt.shape[0]
    cdef uint8_t* po = <uint8_t*>cnp.PyArray_DATA(out)
    with nogil:
        _gather(pc, pl, nl, pv, negate, po, n)
    return out


def isin_codes(codes, valid, lut):
    """IN over dictionary codes: lut[code] says whether that string is in the list."""
    return gather_bool(codes, lut, valid, False)


def like_values(values, valid, str pattern, escape="\\", bint negate=False):
    """LIKE over an object array of str (no dictionary)."""
    match = like_regex(pattern, escape).fullmatch
    cdef object[:] s = np.asarray(values, dtype=object)
    cdef Py_ssize_t i, n = s.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    cdef uint8_t[:] o = out.view(np.uint8)
    cdef const uint8_t[:] vv
    cdef bint has_valid = valid is not None
    if has_valid:
        vv = np.ascontiguousarray(valid, dtype=np.bool_).view(np.uint8)
    for i in range(n):
        if has_valid and not vv[i]:
            continue
        v = s[i]
        if isinstance(v, str):
            o[i] = (match(v) is not None) != negate
    return out
