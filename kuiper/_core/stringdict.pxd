# cython: language_level=3
"""C-level interface of the string dictionary (cimported by jsondecode)."""
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcpy


cdef struct DictTable:
    char* arena              # concatenated UTF-8 bytes of every entry
    Py_ssize_t arena_len
    Py_ssize_t arena_cap
    int64_t* offsets         # per code: start in arena
    int32_t* lengths         # per code: byte length
    uint64_t* hashes         # per code: hash, reused when the slot table grows
    Py_ssize_t count
    Py_ssize_t entries_cap
    int32_t* slots           # open addressing, linear probing; -1 = empty
    Py_ssize_t mask          # len(slots) - 1, a power of two minus one


cdef inline uint64_t _load8(const unsigned char* s) noexcept nogil:
    cdef uint64_t w
    memcpy(&w, s, 8)
    return w


cdef inline uint32_t _load4(const unsigned char* s) noexcept nogil:
    cdef uint32_t w
    memcpy(&w, s, 4)
    return w


cdef inline bint bytes_eq(const unsigned char* a, const unsigned char* b, Py_ssize_t n) noexcept nogil:
    """a[:n] == b[:n] without a library call for short strings."""
    cdef Py_ssize_t i = 0
    if n >= 8:
        while i + 8 <= n:
            if _load8(a + i) != _load8(b + i):
                return False
            i += 8
        return i == n or _load8(a + n - 8) == _load8(b + n - 8)
    if n >= 4:
        return _load4(a) == _load4(b) and _load4(a + n - 4) == _load4(b + n - 4)
    while i < n:
        if a[i] != b[i]:
            return False
        i += 1
    return True


# code >= 0; DICT_NOMEM when out of memory; DICT_BADUTF8 when a new entry is not UTF-8
cdef enum:
    DICT_NOMEM = -1
    DICT_BADUTF8 = -2

cdef int32_t dict_insert(DictTable* t, const unsigned char* s, Py_ssize_t n,
                         uint64_t h) noexcept nogil
cdef bint utf8_valid(const unsigned char* s, Py_ssize_t n) noexcept nogil


cdef inline uint64_t _mix(uint64_t h, uint64_t w) noexcept nogil:
    h = (h ^ w) * <uint64_t>0xbf58476d1ce4e5b9ULL
    return h ^ (h >> 29)


cdef inline uint64_t hash_bytes(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """Word-at-a-time multiply/xor-shift hash; short tails use overlapping loads."""
    cdef uint64_t h = <uint64_t>0x9E3779B97F4A7C15ULL ^ (<uint64_t>n * <uint64_t>0xff51afd7ed558ccdULL)
    cdef const unsigned char* last
    if n >= 8:
        last = s + n - 8
        while s < last:
            h = _mix(h, _load8(s))
            s += 8
        h = _mix(h, _load8(last))
    elif n >= 4:
        h = _mix(h, (<uint64_t>_load4(s) << 32) | _load4(s + n - 4))
    elif n > 0:
        h = _mix(h, (<uint64_t>s[0] << 16) | (<uint64_t>s[n >> 1] << 8) | s[n - 1])
    h ^= h >> 32
    return h


cdef inline int32_t dict_lookup(const DictTable* t, const unsigned char* s, Py_ssize_t n,
                         uint64_t h) noexcept nogil:
    cdef Py_ssize_t i
    cdef int32_t code
    if t.slots == NULL:
        return -1
    i = <Py_ssize_t>(h & <uint64_t>t.mask)
    while True:
        code = t.slots[i]
        if code < 0:
            return -1
        if (t.hashes[code] == h and t.lengths[code] == n
                and bytes_eq(<const unsigned char*>t.arena + t.offsets[code], s, n)):
            return code
        i = (i + 1) & t.mask


cdef inline int32_t dict_intern(DictTable* t, const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """The code of `s[:n]`, inserting it if new (DICT_NOMEM / DICT_BADUTF8 on failure)."""
    cdef uint64_t h = hash_bytes(s, n)
    cdef int32_t code = dict_lookup(t, s, n, h)
    if code >= 0:
        return code
    return dict_insert(t, s, n, h)


cdef class StringDict:
    cdef DictTable table
    cdef object _strings
    cdef Py_ssize_t _strings_n
