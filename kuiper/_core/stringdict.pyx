# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Interning of byte strings to dense int32 codes with a C hash table (nogil-capable).

`StringDict` maps the content of a byte string to a code 0, 1, 2, ... in first-seen order.
Entries are copied into one malloc'd arena, so interning never creates a Python object and
can run without the GIL; `strings()` builds the Python str objects once, in code order, and
caches them until the dictionary grows. New entries are checked to be valid UTF-8.

Not thread-safe: one decode call at a time may use a given dictionary.
"""
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy

import numpy as np

cdef bint utf8_valid(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF), as Python decodes it."""
    cdef Py_ssize_t i = 0
    cdef unsigned char c, c1
    while i < n:
        c = s[i]
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2:
            return False
        if c < 0xE0:
            if i + 1 >= n or (s[i + 1] & 0xC0) != 0x80:
                return False
            i += 2
            continue
        if c < 0xF0:
            if i + 2 >= n:
                return False
            c1 = s[i + 1]
            if (c1 & 0xC0) != 0x80 or (s[i + 2] & 0xC0) != 0x80:
                return False
            if c == 0xE0 and c1 < 0xA0:
                return False
            if c == 0xED and c1 >= 0xA0:
                return False
            i += 3
            continue
        if c < 0xF5:
            if i + 3 >= n:
                return False
            c1 = s[i + 1]
            if ((c1 & 0xC0) != 0x80 or (s[i + 2] & 0xC0) != 0x80
                    or (s[i + 3] & 0xC0) != 0x80):
                return False
            if c == 0xF0 and c1 < 0x90:
                return False
            if c == 0xF4 and c1 >= 0x90:
                return False
            i += 4
            continue
        return False
    return True


cdef int _rehash(DictTable* t, Py_ssize_t nslots) noexcept nogil:
    cdef int32_t* slots = <int32_t*>malloc(nslots * sizeof(int32_t))
    cdef Py_ssize_t i, j, mask = nslots - 1
    if slots == NULL:
        return -1
    for i in range(nslots):
        slots[i] = -1
    for i in range(t.count):
        j = <Py_ssize_t>(t.hashes[i] & <uint64_t>mask)
        while slots[j] >= 0:
            j = (j + 1) & mask
        slots[j] = <int32_t>i
    free(t.slots)
    t.slots = slots
    t.mask = mask
    return 0


cdef int _reserve_entries(DictTable* t) noexcept nogil:
    cdef Py_ssize_t cap
    cdef void* p
    if t.count < t.entries_cap:
        return 0
    cap = t.entries_cap * 2 if t.entries_cap else 64
    p = realloc(t.offsets, cap * sizeof(int64_t))
    if p == NULL:
        return -1
    t.offsets = <int64_t*>p
    p = realloc(t.lengths, cap * sizeof(int32_t))
    if p == NULL:
        return -1
    t.lengths = <int32_t*>p
    p = realloc(t.hashes, cap * sizeof(uint64_t))
    if p == NULL:
        return -1
    t.hashes = <uint64_t*>p
    t.entries_cap = cap
    return 0


cdef int32_t dict_insert(DictTable* t, const unsigned char* s, Py_ssize_t n,
                         uint64_t h) noexcept nogil:
    """Add `s[:n]` (known to be absent, with hash h) and return its new code."""
    cdef int32_t code
    cdef Py_ssize_t need, cap, i
    cdef char* arena
    if n > 0x7FFFFFFF or t.count >= 0x7FFFFFFF:
        return DICT_NOMEM
    if not utf8_valid(s, n):
        return DICT_BADUTF8
    if t.slots == NULL or (t.count + 1) * 2 > t.mask + 1:
        if _rehash(t, (t.mask + 1) * 2 if t.slots != NULL else 256) < 0:
            return DICT_NOMEM
    if _reserve_entries(t) < 0:
        return DICT_NOMEM
    need = t.arena_len + n
    if need > t.arena_cap:
        cap = t.arena_cap * 2 if t.arena_cap else 4096
        while cap < need:
            cap *= 2
        arena = <char*>realloc(t.arena, cap)
        if arena == NULL:
            return DICT_NOMEM
        t.arena = arena
        t.arena_cap = cap
    if n:
        memcpy(t.arena + t.arena_len, s, n)
    code = <int32_t>t.count
    t.offsets[code] = t.arena_len
    t.lengths[code] = <int32_t>n
    t.hashes[code] = h
    t.arena_len = need
    t.count += 1
    i = <Py_ssize_t>(h & <uint64_t>t.mask)
    while t.slots[i] >= 0:
        i = (i + 1) & t.mask
    t.slots[i] = code
    return code


cdef class StringDict:
    """Byte strings -> dense int32 codes; `strings()` gives the str of every code."""

    def __cinit__(self, initial=None):
        self.table.arena = NULL
        self.table.arena_len = 0
        self.table.arena_cap = 0
        self.table.offsets = NULL
        self.table.lengths = NULL
        self.table.hashes = NULL
        self.table.count = 0
        self.table.entries_cap = 0
        self.table.slots = NULL
        self.table.mask = 0
        self._strings = None
        self._strings_n = -1

    def __init__(self, initial=None):
        if initial is not None:
            for s in initial:
                self.intern(s)

    def __dealloc__(self):
        free(self.table.arena)
        free(self.table.offsets)
        free(self.table.lengths)
        free(self.table.hashes)
        free(self.table.slots)

    def __len__(self):
        return self.table.count

    def intern(self, s) -> int:
        """The code of `s` (bytes, or str encoded as UTF-8), adding it if new."""
        cdef bytes b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        cdef int32_t code = dict_intern(&self.table, <const unsigned char*>(<char*>b), len(b))
        if code == DICT_BADUTF8:
            raise ValueError("not valid UTF-8")
        if code < 0:
            raise MemoryError()
        return code

    def code_of(self, s) -> int:
        """The code of `s` (str or bytes), or -1 when it is not in the dictionary."""
        cdef bytes b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        cdef const unsigned char* p = <const unsigned char*>(<char*>b)
        cdef Py_ssize_t n = len(b)
        return dict_lookup(&self.table, p, n, hash_bytes(p, n))

    def strings(self):
        """Object array of str, index = code (cached until the dictionary grows)."""
        cdef Py_ssize_t i, n = self.table.count
        if self._strings is not None and self._strings_n == n:
            return self._strings
        out = np.empty(n, dtype=object)
        cdef object[:] view = out
        cdef Py_ssize_t start = 0
        if self._strings is not None and 0 <= self._strings_n <= n:
            out[:self._strings_n] = self._strings
            start = self._strings_n
        for i in range(start, n):
            view[i] = PyUnicode_DecodeUTF8(self.table.arena + self.table.offsets[i],
                                           self.table.lengths[i], NULL)
        self._strings = out
        self._strings_n = n
        return out

    def __repr__(self):
        return f"StringDict({self.table.count} strings)"
