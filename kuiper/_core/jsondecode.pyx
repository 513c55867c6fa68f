# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""JSON objects straight into typed column buffers for a declared schema, without the GIL.

API
---
``StringDict`` (from ``kuiper._core.stringdict``, re-exported here) interns strings to codes.

``decode_json_lines(buf, start, stop, field_names, field_kinds, dicts, max_rows, final=True)``
    Parses newline-delimited JSON objects in ``buf[start:stop]`` (any bytes-like object).

    - ``field_names``: list of ``bytes`` keys; ``field_kinds``: int8 array of ``K_BIGINT=0,
      K_FLOAT=1, K_BOOLEAN=2, K_STRING=3, K_RAW=4``; ``dicts``: one ``StringDict`` per
      ``K_STRING`` field, None elsewhere.
    - Stops after ``max_rows`` rows. Blank (whitespace-only) lines are skipped. With
      ``final=False`` a last line that has no ``\\n`` is left unconsumed (a partial read).
    - Returns ``(values, valid, nrows, end, errors)``: per field a values array (int64 /
      float64 / bool / int32 codes / for RAW an int64 ``(n, 2)`` array of (offset into buf,
      length) of the raw JSON text) and a bool validity array; ``end`` is the offset after the
      last consumed line; ``errors`` lists ``(line_start_offset, line_index, message,
      rows_before)`` with ``line_index`` counted from 0 over every line of this call (blank
      ones included) and ``rows_before`` the number of rows decoded before that line (where
      a caller that decodes the line another way puts its rows back).

``decode_json_objects(payloads, field_names, field_kinds, dicts, max_rows=-1)``
    The same for a list of separate payloads (``bytes``), one JSON object each (newlines are
    ordinary whitespace here). RAW values are an int64 ``(n, 3)`` array of (payload index,
    offset, length). ``end`` is the number of payloads consumed; errors are
    ``(0, payload_index, message, rows_before)``. Rows are the consumed payloads minus the errored ones,
    in order.

Semantics
---------
- Keys not in ``field_names`` are skipped, whatever their value (validated, not decoded).
- A missing field or JSON ``null`` gives valid False. Duplicate keys: the last one wins.
- bigint: JSON integers in int64 range, or numbers with a fraction/exponent whose value is
  written as an integer (``12.0`` and ``1e3`` are errors, as in eKuiper). float: any number, rounded exactly as Python's ``float(text)``
  (Clinger's fast path, ``strtod`` otherwise). boolean: ``true``/``false``. string: a string
  (escapes decoded, surrogate pairs joined; new dictionary entries must be valid UTF-8).
  RAW: any value, returned as its source text span for the caller to decode.
- A line that is not a JSON object, is malformed, has trailing characters, or holds a
  wrong-typed declared field gives no row and one error; the next line is decoded as usual.
- Skipped string values are checked for JSON escapes and control characters but not for
  UTF-8 validity. Nesting deeper than ``max_depth`` containers (keyword argument of both
  functions, default 512; the top-level object is level 1) is an error
  (``malformed JSON at byte N: nesting too deep``).
"""
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc, strtod
from libc.string cimport memchr, memcmp, memcpy

import numpy as np

cimport numpy as cnp

from kuiper._core.stringdict cimport (
    DICT_BADUTF8,
    DictTable,
    StringDict,
    _load8,
    bytes_eq,
    dict_intern,
)

cdef extern from *:
    """
    #define KP_CTZ64(x) __builtin_ctzll(x)
    """
    int KP_CTZ64(uint64_t) noexcept nogil

cnp.import_array()

ctypedef unsigned char uchar

K_BIGINT = 0
K_FLOAT = 1
K_BOOLEAN = 2
K_STRING = 3
K_RAW = 4

cdef enum:
    KB = 0
    KF = 1
    KBOOL = 2
    KS = 3
    KR = 4
    C_MAX_DEPTH = 512

DEFAULT_MAX_DEPTH = C_MAX_DEPTH  # containers nested in a document, the top-level object: 1

# error codes
cdef enum:
    E_NONE = 0
    E_SYNTAX = 1
    E_TYPE = 2
    E_RANGE = 3
    E_NOT_INTEGRAL = 4
    E_BADUTF8 = 5
    E_NOMEM = 6
    E_NOT_OBJECT = 7

# syntax details
cdef enum:
    S_VALUE = 0
    S_KEY = 1
    S_COLON = 2
    S_COMMA_OBJ = 3
    S_COMMA_ARR = 4
    S_NUMBER = 5
    S_ESCAPE = 6
    S_CONTROL = 7
    S_UNTERMINATED = 8
    S_LITERAL = 9
    S_TRAILING = 10
    S_DEPTH = 11
    S_SURROGATE = 12

_SYNTAX_TEXT = (
    "expected a value", "expected a string key", "expected ':'",
    "expected ',' or '}'", "expected ',' or ']'", "invalid number", "invalid escape",
    "control character in string", "unterminated string", "invalid literal",
    "trailing characters after the object", "nesting too deep", "invalid \\u surrogate",
)
_KIND_NAMES = ("bigint", "float", "boolean", "string", "any")

cdef struct FieldSpec:
    const uchar* name
    Py_ssize_t name_len
    int kind
    bint plain               # name has no '"' or '\\': raw bytes can be matched directly
    char* values
    uint8_t* valid
    DictTable* dict

cdef struct Ctx:
    const uchar* base         # RAW offsets are relative to this
    const uchar* ws           # whitespace table (lines mode: no '\n')
    FieldSpec* fields
    int nf
    int guess
    int raw_cols
    Py_ssize_t raw_tag        # payload index (objects mode)
    int err
    int detail
    int err_field
    const uchar* err_pos
    uchar* scratch
    Py_ssize_t scratch_cap
    int max_depth             # deepest container level allowed (top-level object: 1)

cdef struct ErrRec:
    Py_ssize_t start
    Py_ssize_t index
    Py_ssize_t row
    Py_ssize_t col
    int err
    int detail
    int field

cdef struct NumInfo:
    uint64_t mant
    int ndig
    int exp10
    bint neg
    bint is_int
    bint truncated

cdef uchar WS_LINE[256]
cdef uchar WS_ALL[256]
cdef uchar STR_SPECIAL[256]
cdef uchar HEXVAL[256]
cdef double P10[23]


cdef void _init_tables() noexcept:
    cdef int i
    for i in range(256):
        WS_LINE[i] = 0
        WS_ALL[i] = 0
        STR_SPECIAL[i] = 1 if (i < 0x20 or i == 34 or i == 92) else 0
        HEXVAL[i] = 255
    WS_LINE[32] = WS_LINE[9] = WS_LINE[13] = 1
    WS_ALL[32] = WS_ALL[9] = WS_ALL[13] = WS_ALL[10] = 1
    for i in range(10):
        HEXVAL[48 + i] = i
    for i in range(6):
        HEXVAL[65 + i] = 10 + i
        HEXVAL[97 + i] = 10 + i
    P10[0] = 1.0
    for i in range(1, 23):
        P10[i] = P10[i - 1] * 10.0   # exact up to 1e22


_init_tables()
globals()["StringDict"] = StringDict   # re-export the cimported type


# --- small scanners -------------------------------------------------------------------------

cdef inline const uchar* skip_ws(const uchar* ws, const uchar* p, const uchar* end) noexcept nogil:
    while p < end and ws[p[0]]:
        p += 1
    return p


cdef inline const uchar* fail(Ctx* cx, int err, int detail, const uchar* p) noexcept nogil:
    cx.err = err
    cx.detail = detail
    cx.err_pos = p
    return NULL


cdef inline const uchar* scan_number(Ctx* cx, const uchar* p, const uchar* end,
                                     NumInfo* ni) noexcept nogil:
    """Validate JSON number grammar at p; fill mantissa (<= 19 digits) and exponent."""
    cdef int d, e = 0, esign = 1
    ni.mant = 0
    ni.ndig = 0
    ni.exp10 = 0
    ni.neg = False
    ni.is_int = True
    ni.truncated = False
    if p < end and p[0] == 45:  # '-'
        ni.neg = True
        p += 1
    if p >= end:
        return fail(cx, E_SYNTAX, S_NUMBER, p)
    if p[0] == 48:  # '0'
        p += 1
    elif 49 <= p[0] <= 57:
        while p < end and 48 <= p[0] <= 57:
            d = p[0] - 48
            if ni.ndig < 19:
                ni.mant = ni.mant * 10 + d
                ni.ndig += 1
            else:
                ni.truncated = True
                ni.exp10 += 1
            p += 1
    else:
        return fail(cx, E_SYNTAX, S_NUMBER, p)
    if p < end and p[0] == 46:  # '.'
        ni.is_int = False
        p += 1
        if p >= end or not (48 <= p[0] <= 57):
            return fail(cx, E_SYNTAX, S_NUMBER, p)
        while p < end and 48 <= p[0] <= 57:
            d = p[0] - 48
            if ni.ndig == 0 and d == 0:
                ni.exp10 -= 1
            elif ni.ndig < 19:
                ni.mant = ni.mant * 10 + d
                ni.ndig += 1
                ni.exp10 -= 1
            elif d != 0:
                ni.truncated = True
            p += 1
    if p < end and (p[0] == 101 or p[0] == 69):  # e E
        ni.is_int = False
        p += 1
        if p < end and (p[0] == 43 or p[0] == 45):
            if p[0] == 45:
                esign = -1
            p += 1
        if p >= end or not (48 <= p[0] <= 57):
            return fail(cx, E_SYNTAX, S_NUMBER, p)
        while p < end and 48 <= p[0] <= 57:
            if e < 100000:
                e = e * 10 + (p[0] - 48)
            p += 1
        ni.exp10 += esign * e
    return p


cdef double number_value(const uchar* start, const uchar* stop, NumInfo* ni) noexcept nogil:
    """The double nearest to the number text, as Python's float(text) gives."""
    cdef double v
    cdef char local[64]
    cdef char* tmp
    cdef Py_ssize_t n
    if not ni.truncated:
        if ni.mant == 0:
            v = 0.0
            return -v if ni.neg else v
        if ni.mant <= (<uint64_t>1 << 53) and -22 <= ni.exp10 <= 22:
            v = <double>ni.mant
            if ni.exp10 >= 0:
                v = v * P10[ni.exp10]
            else:
                v = v / P10[-ni.exp10]
            return -v if ni.neg else v
    n = stop - start
    if n < 64:
        memcpy(local, start, n)
        local[n] = 0
        return strtod(local, NULL)
    tmp = <char*>malloc(n + 1)
    if tmp == NULL:
        return 0.0
    memcpy(tmp, start, n)
    tmp[n] = 0
    v = strtod(tmp, NULL)
    free(tmp)
    return v


cdef inline const uchar* scan_plain(const uchar* p, const uchar* end) noexcept nogil:
    """The first position >= p holding '"', a backslash or a control byte (or end).
    Eight bytes at a time: a byte-equality / byte-less-than test per word (SWAR); the lowest
    flagged byte is always a true hit because borrows only propagate upwards."""
    cdef uint64_t w, x, t
    while p + 8 <= end:
        w = _load8(p)
        x = w ^ <uint64_t>0x2222222222222222ULL
        t = (x - <uint64_t>0x0101010101010101ULL) & ~x
        x = w ^ <uint64_t>0x5C5C5C5C5C5C5C5CULL
        t |= (x - <uint64_t>0x0101010101010101ULL) & ~x
        t |= (w - <uint64_t>0x2020202020202020ULL) & ~w
        t &= <uint64_t>0x8080808080808080ULL
        if t:
            return p + (KP_CTZ64(t) >> 3)
        p += 8
    while p < end and not STR_SPECIAL[p[0]]:
        p += 1
    return p


cdef inline const uchar* skip_number(Ctx* cx, const uchar* p, const uchar* end) noexcept nogil:
    """Validate and skip a JSON number without computing its value."""
    if p < end and p[0] == 45:
        p += 1
    if p >= end:
        return fail(cx, E_SYNTAX, S_NUMBER, p)
    if p[0] == 48:
        p += 1
    elif 49 <= p[0] <= 57:
        p += 1
        while p < end and 48 <= p[0] <= 57:
            p += 1
    else:
        return fail(cx, E_SYNTAX, S_NUMBER, p)
    if p < end and p[0] == 46:
        p += 1
        if p >= end or not (48 <= p[0] <= 57):
            return fail(cx, E_SYNTAX, S_NUMBER, p)
        while p < end and 48 <= p[0] <= 57:
            p += 1
    if p < end and (p[0] == 101 or p[0] == 69):
        p += 1
        if p < end and (p[0] == 43 or p[0] == 45):
            p += 1
        if p >= end or not (48 <= p[0] <= 57):
            return fail(cx, E_SYNTAX, S_NUMBER, p)
        while p < end and 48 <= p[0] <= 57:
            p += 1
    return p


cdef inline const uchar* skip_string(Ctx* cx, const uchar* p, const uchar* end) noexcept nogil:
    """p at the opening quote; returns the position after the closing quote."""
    cdef uchar c
    p += 1
    while True:
        p = scan_plain(p, end)
        if p >= end:
            return fail(cx, E_SYNTAX, S_UNTERMINATED, p)
        c = p[0]
        if c == 34:
            return p + 1
        if c != 92:
            return fail(cx, E_SYNTAX, S_CONTROL, p)
        if p + 1 >= end:
            return fail(cx, E_SYNTAX, S_UNTERMINATED, p)
        c = p[1]
        if c == 117:  # u
            if (p + 5 >= end or HEXVAL[p[2]] == 255 or HEXVAL[p[3]] == 255
                    or HEXVAL[p[4]] == 255 or HEXVAL[p[5]] == 255):
                return fail(cx, E_SYNTAX, S_ESCAPE, p)
            p += 6
        elif (c == 34 or c == 92 or c == 47 or c == 98 or c == 102 or c == 110 or c == 114
              or c == 116):
            p += 2
        else:
            return fail(cx, E_SYNTAX, S_ESCAPE, p)


cdef int scratch_reserve(Ctx* cx, Py_ssize_t need) noexcept nogil:
    cdef Py_ssize_t cap
    cdef uchar* s
    if need <= cx.scratch_cap:
        return 0
    cap = cx.scratch_cap * 2 if cx.scratch_cap else 256
    while cap < need:
        cap *= 2
    s = <uchar*>realloc(cx.scratch, cap)
    if s == NULL:
        return -1
    cx.scratch = s
    cx.scratch_cap = cap
    return 0


cdef inline int hex4(const uchar* p) noexcept nogil:
    return (HEXVAL[p[0]] << 12) | (HEXVAL[p[1]] << 8) | (HEXVAL[p[2]] << 4) | HEXVAL[p[3]]


cdef const uchar* read_string(Ctx* cx, const uchar* p, const uchar* end,
                              const uchar** out, Py_ssize_t* out_len) noexcept nogil:
    """p at the opening quote. Sets out/out_len to the decoded UTF-8 bytes: a span of the
    input when there is no escape, else the scratch buffer. Returns the position after the
    closing quote."""
    cdef const uchar* start = p + 1
    cdef const uchar* q = start
    cdef Py_ssize_t n = 0
    cdef uchar c
    cdef int cp, lo
    q = scan_plain(q, end)
    if q < end and q[0] == 34:
        out[0] = start
        out_len[0] = q - start
        return q + 1
    # slow path: decode escapes into the scratch buffer
    n = q - start
    if scratch_reserve(cx, n + 64) < 0:
        return fail(cx, E_NOMEM, 0, q)
    memcpy(cx.scratch, start, n)
    while True:
        while q < end and not STR_SPECIAL[q[0]]:
            if scratch_reserve(cx, n + 8) < 0:
                return fail(cx, E_NOMEM, 0, q)
            cx.scratch[n] = q[0]
            n += 1
            q += 1
        if q >= end:
            return fail(cx, E_SYNTAX, S_UNTERMINATED, q)
        c = q[0]
        if c == 34:
            out[0] = cx.scratch
            out_len[0] = n
            return q + 1
        if c != 92:
            return fail(cx, E_SYNTAX, S_CONTROL, q)
        if q + 1 >= end:
            return fail(cx, E_SYNTAX, S_UNTERMINATED, q)
        if scratch_reserve(cx, n + 8) < 0:
            return fail(cx, E_NOMEM, 0, q)
        c = q[1]
        if c == 117:  # \u followed by 4 hex digits
            if (q + 5 >= end or HEXVAL[q[2]] == 255 or HEXVAL[q[3]] == 255
                    or HEXVAL[q[4]] == 255 or HEXVAL[q[5]] == 255):
                return fail(cx, E_SYNTAX, S_ESCAPE, q)
            cp = hex4(q + 2)
            q += 6
            if 0xD800 <= cp <= 0xDBFF:
                if (q + 5 < end and q[0] == 92 and q[1] == 117 and HEXVAL[q[2]] != 255
                        and HEXVAL[q[3]] != 255 and HEXVAL[q[4]] != 255
                        and HEXVAL[q[5]] != 255):
                    lo = hex4(q + 2)
                    if not (0xDC00 <= lo <= 0xDFFF):
                        return fail(cx, E_SYNTAX, S_SURROGATE, q)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    q += 6
                else:
                    return fail(cx, E_SYNTAX, S_SURROGATE, q)
            elif 0xDC00 <= cp <= 0xDFFF:
                return fail(cx, E_SYNTAX, S_SURROGATE, q)
            if cp < 0x80:
                cx.scratch[n] = <uchar>cp
                n += 1
            elif cp < 0x800:
                cx.scratch[n] = <uchar>(0xC0 | (cp >> 6))
                cx.scratch[n + 1] = <uchar>(0x80 | (cp & 0x3F))
                n += 2
            elif cp < 0x10000:
                cx.scratch[n] = <uchar>(0xE0 | (cp >> 12))
                cx.scratch[n + 1] = <uchar>(0x80 | ((cp >> 6) & 0x3F))
                cx.scratch[n + 2] = <uchar>(0x80 | (cp & 0x3F))
                n += 3
            else:
                cx.scratch[n] = <uchar>(0xF0 | (cp >> 18))
                cx.scratch[n + 1] = <uchar>(0x80 | ((cp >> 12) & 0x3F))
                cx.scratch[n + 2] = <uchar>(0x80 | ((cp >> 6) & 0x3F))
                cx.scratch[n + 3] = <uchar>(0x80 | (cp & 0x3F))
                n += 4
            continue
        if c == 34 or c == 92 or c == 47:
            cx.scratch[n] = c
        elif c == 98:
            cx.scratch[n] = 8
        elif c == 102:
            cx.scratch[n] = 12
        elif c == 110:
            cx.scratch[n] = 10
        elif c == 114:
            cx.scratch[n] = 13
        elif c == 116:
            cx.scratch[n] = 9
        else:
            return fail(cx, E_SYNTAX, S_ESCAPE, q)
        n += 1
        q += 2


cdef inline const uchar* match_literal(Ctx* cx, const uchar* p, const uchar* end,
                                       const char* lit, Py_ssize_t n) noexcept nogil:
    if end - p < n or memcmp(p, lit, n) != 0:
        return fail(cx, E_SYNTAX, S_LITERAL, p)
    return p + n


cdef const uchar* skip_value(Ctx* cx, const uchar* p, const uchar* end, int depth) noexcept nogil:
    """Validate and skip any JSON value at p."""
    cdef uchar c
    if p >= end:
        return fail(cx, E_SYNTAX, S_VALUE, p)
    c = p[0]
    if c == 34:
        return skip_string(cx, p, end)
    if c == 45 or 48 <= c <= 57:
        return skip_number(cx, p, end)
    if c == 123:  # {
        if depth >= cx.max_depth:
            return fail(cx, E_SYNTAX, S_DEPTH, p)
        p = skip_ws(cx.ws, p + 1, end)
        if p < end and p[0] == 125:
            return p + 1
        while True:
            if p >= end or p[0] != 34:
                return fail(cx, E_SYNTAX, S_KEY, p)
            p = skip_string(cx, p, end)
            if p == NULL:
                return NULL
            p = skip_ws(cx.ws, p, end)
            if p >= end or p[0] != 58:
                return fail(cx, E_SYNTAX, S_COLON, p)
            p = skip_ws(cx.ws, p + 1, end)
            p = skip_value(cx, p, end, depth + 1)
            if p == NULL:
                return NULL
            p = skip_ws(cx.ws, p, end)
            if p < end and p[0] == 44:
                p = skip_ws(cx.ws, p + 1, end)
                continue
            if p < end and p[0] == 125:
                return p + 1
            return fail(cx, E_SYNTAX, S_COMMA_OBJ, p)
    if c == 91:  # [
        if depth >= cx.max_depth:
            return fail(cx, E_SYNTAX, S_DEPTH, p)
        p = skip_ws(cx.ws, p + 1, end)
        if p < end and p[0] == 93:
            return p + 1
        while True:
            p = skip_value(cx, p, end, depth + 1)
            if p == NULL:
                return NULL
            p = skip_ws(cx.ws, p, end)
            if p < end and p[0] == 44:
                p = skip_ws(cx.ws, p + 1, end)
                continue
            if p < end and p[0] == 93:
                return p + 1
            return fail(cx, E_SYNTAX, S_COMMA_ARR, p)
    if c == 116:
        return match_literal(cx, p, end, "true", 4)
    if c == 102:
        return match_literal(cx, p, end, "false", 5)
    if c == 110:
        return match_literal(cx, p, end, "null", 4)
    return fail(cx, E_SYNTAX, S_VALUE, p)


cdef inline const uchar* type_error(Ctx* cx, const uchar* p, const uchar* end,
                                    int fi) noexcept nogil:
    """A declared field holds a value of another type (or something that is not JSON)."""
    cdef uchar c
    if p >= end:
        return fail(cx, E_SYNTAX, S_VALUE, p)
    c = p[0]
    if (c == 34 or c == 45 or 48 <= c <= 57 or c == 123 or c == 91 or c == 116
            or c == 102):
        cx.err_field = fi
        cx.detail = c
        cx.err = E_TYPE
        cx.err_pos = p
        return NULL
    return fail(cx, E_SYNTAX, S_VALUE, p)


cdef inline int find_field(Ctx* cx, const uchar* k, Py_ssize_t n) noexcept nogil:
    cdef int i
    cdef FieldSpec* f
    for i in range(cx.nf):
        f = &cx.fields[i]
        if f.name_len == n and bytes_eq(f.name, k, n):
            return i
    return -1


cdef const uchar* parse_field_value(Ctx* cx, const uchar* p, const uchar* end, int fi,
                                    Py_ssize_t row) noexcept nogil:
    cdef FieldSpec* f = &cx.fields[fi]
    cdef uchar c
    cdef NumInfo ni
    cdef const uchar* q
    cdef const uchar* s
    cdef Py_ssize_t n
    cdef int32_t code
    cdef double d
    cdef int64_t* raw
    if p >= end:
        return fail(cx, E_SYNTAX, S_VALUE, p)
    c = p[0]
    if c == 110:  # null
        q = match_literal(cx, p, end, "null", 4)
        if q != NULL:
            f.valid[row] = 0
        return q
    if f.kind == KF:
        if c == 45 or 48 <= c <= 57:
            q = scan_number(cx, p, end, &ni)
            if q == NULL:
                return NULL
            (<double*>f.values)[row] = number_value(p, q, &ni)
            f.valid[row] = 1
            return q
        return type_error(cx, p, end, fi)
    if f.kind == KS:
        if c == 34:
            q = read_string(cx, p, end, &s, &n)
            if q == NULL:
                return NULL
            code = dict_intern(f.dict, s, n)
            if code < 0:
                cx.err_field = fi
                return fail(cx, E_BADUTF8 if code == DICT_BADUTF8 else E_NOMEM, 0, p)
            (<int32_t*>f.values)[row] = code
            f.valid[row] = 1
            return q
        return type_error(cx, p, end, fi)
    if f.kind == KB:
        if c == 45 or 48 <= c <= 57:
            q = scan_number(cx, p, end, &ni)
            if q == NULL:
                return NULL
            cx.err_field = fi
            if ni.is_int:
                if ni.truncated or ni.mant > (<uint64_t>0x7FFFFFFFFFFFFFFF) + ni.neg:
                    return fail(cx, E_RANGE, 0, p)
                (<int64_t*>f.values)[row] = (<int64_t>(<uint64_t>0 - ni.mant)
                                             if ni.neg else <int64_t>ni.mant)
            else:  # eKuiper (fastjson Int64) rejects 12.0 and 1e3 for a bigint field
                return fail(cx, E_NOT_INTEGRAL, 0, p)
            f.valid[row] = 1
            return q
        return type_error(cx, p, end, fi)
    if f.kind == KBOOL:
        if c == 116:
            q = match_literal(cx, p, end, "true", 4)
            if q != NULL:
                (<uint8_t*>f.values)[row] = 1
                f.valid[row] = 1
            return q
        if c == 102:
            q = match_literal(cx, p, end, "false", 5)
            if q != NULL:
                (<uint8_t*>f.values)[row] = 0
                f.valid[row] = 1
            return q
        return type_error(cx, p, end, fi)
    # RAW
    q = skip_value(cx, p, end, 1)
    if q == NULL:
        return NULL
    raw = (<int64_t*>f.values) + row * cx.raw_cols
    if cx.raw_cols == 3:
        raw[0] = cx.raw_tag
        raw += 1
    raw[0] = p - cx.base
    raw[1] = q - p
    f.valid[row] = 1
    return q


cdef const uchar* parse_object(Ctx* cx, const uchar* p, const uchar* end,
                               Py_ssize_t row) noexcept nogil:
    """p at '{'; decode one object into row `row`. Returns the position after '}'."""
    cdef int i, fi
    cdef const uchar* k
    cdef Py_ssize_t kn
    cdef FieldSpec* g
    cdef const uchar* const_ws = cx.ws
    for i in range(cx.nf):
        cx.fields[i].valid[row] = 0
    cx.guess = 0
    p = skip_ws(const_ws, p + 1, end)
    if p < end and p[0] == 125:
        return p + 1
    while True:
        if p >= end or p[0] != 34:
            return fail(cx, E_SYNTAX, S_KEY, p)
        # keys usually come in the same order on every line: try the expected field first
        g = &cx.fields[cx.guess]
        kn = g.name_len
        if (cx.nf and g.plain and end - p > kn + 1 and p[kn + 1] == 34
                and bytes_eq(p + 1, g.name, kn)):
            fi = cx.guess
            p += kn + 2
        else:
            p = read_string(cx, p, end, &k, &kn)
            if p == NULL:
                return NULL
            fi = find_field(cx, k, kn) if cx.nf else -1
        if p < end and p[0] == 58:
            p += 1
        else:
            p = skip_ws(const_ws, p, end)
            if p >= end or p[0] != 58:
                return fail(cx, E_SYNTAX, S_COLON, p)
            p += 1
        p = skip_ws(const_ws, p, end)
        if fi >= 0:
            p = parse_field_value(cx, p, end, fi, row)
            cx.guess = fi + 1 if fi + 1 < cx.nf else 0
        else:
            p = skip_value(cx, p, end, 1)
        if p == NULL:
            return NULL
        if p < end and p[0] == 44:
            p += 1
        else:
            p = skip_ws(const_ws, p, end)
            if p < end and p[0] == 44:
                p += 1
            elif p < end and p[0] == 125:
                return p + 1
            else:
                return fail(cx, E_SYNTAX, S_COMMA_OBJ, p)
        p = skip_ws(const_ws, p, end)


cdef int record_error(ErrRec** errs, Py_ssize_t* n, Py_ssize_t* cap, Ctx* cx,
                      Py_ssize_t start, Py_ssize_t index, Py_ssize_t col,
                      Py_ssize_t row) noexcept nogil:
    cdef ErrRec* e
    cdef Py_ssize_t newcap
    if n[0] >= cap[0]:
        newcap = cap[0] * 2 if cap[0] else 16
        e = <ErrRec*>realloc(errs[0], newcap * sizeof(ErrRec))
        if e == NULL:
            return -1
        errs[0] = e
        cap[0] = newcap
    e = &errs[0][n[0]]
    e.start = start
    e.index = index
    e.row = row
    e.col = col
    e.err = cx.err
    e.detail = cx.detail
    e.field = cx.err_field
    n[0] += 1
    return 0


# --- Python-facing wrappers -----------------------------------------------------------------

cdef str _got_name(int c):
    if c == 34:
        return "string"
    if c == 123:
        return "object"
    if c == 91:
        return "array"
    if c == 116 or c == 102:
        return "boolean"
    return "number"


cdef str _message(ErrRec* e, list names, const int8_t[:] kinds):
    cdef str fname
    if e.err == E_NOT_OBJECT:
        return "not a JSON object"
    if e.err == E_SYNTAX:
        return f"malformed JSON at byte {e.col}: {_SYNTAX_TEXT[e.detail]}"
    if e.err == E_NOMEM:
        return "out of memory"
    fname = (<bytes>names[e.field]).decode("utf-8", "replace")
    if e.err == E_TYPE:
        return (f'field "{fname}": expected {_KIND_NAMES[kinds[e.field]]}, '
                f"got {_got_name(e.detail)}")
    if e.err == E_RANGE:
        return f'field "{fname}": number out of bigint range'
    if e.err == E_NOT_INTEGRAL:
        return f'field "{fname}": expected bigint, got a number with a fraction or exponent'
    if e.err == E_BADUTF8:
        return f'field "{fname}": string is not valid UTF-8'
    return "decode error"


cdef class _Columns:
    """Output buffers for one decode call and the FieldSpec array pointing into them."""
    cdef FieldSpec* specs
    cdef int nf
    cdef list values
    cdef list valid
    cdef list names
    cdef Py_ssize_t cap

    def __dealloc__(self):
        free(self.specs)

    cdef int setup(self, list field_names, const int8_t[:] kinds, list dicts,
                   Py_ssize_t cap, int raw_cols) except -1:
        cdef int i, nf = len(field_names)
        cdef int kind
        cdef cnp.ndarray arr, va
        cdef StringDict sd
        if kinds.shape[0] != nf or len(dicts) != nf:
            raise ValueError("field_names, field_kinds and dicts must have the same length")
        self.nf = nf
        self.cap = cap
        self.names = [bytes(n) for n in field_names]
        self.values = []
        self.valid = []
        self.specs = <FieldSpec*>calloc((nf if nf else 1), sizeof(FieldSpec))
        if self.specs == NULL:
            raise MemoryError()
        for i in range(nf):
            kind = kinds[i]
            if kind == KB:
                arr = np.zeros(cap, dtype=np.int64)
            elif kind == KF:
                arr = np.zeros(cap, dtype=np.float64)
            elif kind == KBOOL:
                arr = np.zeros(cap, dtype=np.bool_)
            elif kind == KS:
                arr = np.zeros(cap, dtype=np.int32)
                if not isinstance(dicts[i], StringDict):
                    raise TypeError(f"field {self.names[i]!r}: a string field needs a StringDict")
            elif kind == KR:
                arr = np.zeros((cap, raw_cols), dtype=np.int64)
            else:
                raise ValueError(f"unknown field kind {kind}")
            va = np.zeros(cap, dtype=np.bool_)
            self.values.append(arr)
            self.valid.append(va)
            self.specs[i].name = <const uchar*>(<char*>(<bytes>self.names[i]))
            self.specs[i].name_len = len(self.names[i])
            self.specs[i].kind = kind
            self.specs[i].plain = b'"' not in self.names[i] and b"\\" not in self.names[i]
            self.specs[i].values = <char*>cnp.PyArray_DATA(arr)
            self.specs[i].valid = <uint8_t*>cnp.PyArray_DATA(va)
            if kind == KS:
                sd = <StringDict>dicts[i]
                self.specs[i].dict = &sd.table
            else:
                self.specs[i].dict = NULL
        return 0

    cdef tuple finish(self, Py_ssize_t nrows):
        cdef list vals = []
        cdef list valid = []
        cdef bint shrink = nrows * 2 < self.cap and self.cap > 1024
        for v, m in zip(self.values, self.valid):
            if shrink:
                vals.append(v[:nrows].copy())
                valid.append(m[:nrows].copy())
            else:
                vals.append(v[:nrows])
                valid.append(m[:nrows])
        return vals, valid


cdef inline void ctx_init(Ctx* cx, _Columns cols, const uchar* base, const uchar* ws,
                          int raw_cols) noexcept:
    cx.base = base
    cx.ws = ws
    cx.fields = cols.specs
    cx.nf = cols.nf
    cx.guess = 0
    cx.raw_cols = raw_cols
    cx.raw_tag = 0
    cx.err = E_NONE
    cx.detail = 0
    cx.err_field = -1
    cx.err_pos = NULL
    cx.scratch = NULL
    cx.scratch_cap = 0
    cx.max_depth = C_MAX_DEPTH


cdef list _errors(ErrRec* errs, Py_ssize_t n, list names, const int8_t[:] kinds):
    cdef Py_ssize_t i
    return [(errs[i].start, errs[i].index, _message(&errs[i], names, kinds), errs[i].row)
            for i in range(n)]


def decode_json_lines(buf, Py_ssize_t start, Py_ssize_t stop, list field_names,
                      const int8_t[:] field_kinds, list dicts, Py_ssize_t max_rows,
                      bint final=True, int max_depth=DEFAULT_MAX_DEPTH):
    """Decode newline-delimited JSON objects of buf[start:stop]; see the module docstring."""
    cdef const uchar[:] view = buf
    cdef Py_ssize_t size = view.shape[0]
    cdef Py_ssize_t cap, nrows = 0, line_no = 0, nerr = 0, errcap = 0, nl_count
    cdef const uchar* base
    cdef const uchar* p
    cdef const uchar* q
    cdef const uchar* ls
    cdef const uchar* stop_p
    cdef const uchar* nl
    cdef ErrRec* errs = NULL
    cdef Ctx cx
    cdef _Columns cols
    cdef bint failed = False
    if start < 0:
        start = 0
    if stop > size or stop < 0:
        stop = size
    if stop < start:
        stop = start
    if max_rows < 0:
        max_rows = stop - start
    base = &view[0] if size > 0 else <const uchar*>""
    stop_p = base + stop
    if not final:
        # only complete lines: stop after the last '\n'
        q = stop_p
        while q > base + start and (q - 1)[0] != 10:
            q -= 1
        stop_p = q
    cap = min(max_rows, (stop_p - (base + start)) // 2 + 1)
    if cap > 65536:
        nl_count = 1
        with nogil:
            p = base + start
            while p < stop_p:
                nl = <const uchar*>memchr(p, 10, stop_p - p)
                if nl == NULL:
                    break
                nl_count += 1
                p = nl + 1
        cap = min(cap, nl_count)
    cols = _Columns()
    cols.setup(field_names, field_kinds, dicts, cap, 2)
    ctx_init(&cx, cols, base, WS_LINE, 2)
    cx.max_depth = max(max_depth, 1)
    p = base + start
    try:
        with nogil:
            while p < stop_p and nrows < cap:
                ls = p
                q = skip_ws(WS_LINE, p, stop_p)
                if q >= stop_p:
                    p = q
                    break
                if q[0] == 10:
                    p = q + 1
                    line_no += 1
                    continue
                if q[0] == 123:
                    q = parse_object(&cx, q, stop_p, nrows)
                    if q != NULL:
                        q = skip_ws(WS_LINE, q, stop_p)
                        if q < stop_p and q[0] != 10:
                            q = fail(&cx, E_SYNTAX, S_TRAILING, q)
                else:
                    q = fail(&cx, E_NOT_OBJECT, 0, q)
                if q != NULL:
                    nrows += 1
                    p = q + 1 if q < stop_p else q
                else:
                    if record_error(&errs, &nerr, &errcap, &cx, ls - base, line_no,
                                    cx.err_pos - ls, nrows) < 0:
                        failed = True
                        break
                    cx.err_field = -1
                    q = cx.err_pos if cx.err_pos != NULL and cx.err_pos >= ls else ls
                    nl = <const uchar*>memchr(q, 10, stop_p - q) if q < stop_p else NULL
                    p = nl + 1 if nl != NULL else stop_p
                line_no += 1
        if failed or cx.err == E_NOMEM:
            raise MemoryError()
        values, valid = cols.finish(nrows)
        errors = _errors(errs, nerr, cols.names, field_kinds)
    finally:
        free(errs)
        free(cx.scratch)
    return values, valid, nrows, p - base, errors


def decode_json_objects(list payloads, list field_names, const int8_t[:] field_kinds,
                        list dicts, Py_ssize_t max_rows=-1, int max_depth=DEFAULT_MAX_DEPTH):
    """Decode one JSON object per payload; see the module docstring."""
    cdef tuple items = tuple(p if isinstance(p, bytes) else bytes(p) for p in payloads)
    cdef Py_ssize_t npay = len(items)
    cdef Py_ssize_t i, nrows = 0, nerr = 0, errcap = 0, consumed = 0
    cdef const uchar** ptrs = NULL
    cdef Py_ssize_t* lens = NULL
    cdef const uchar* p
    cdef const uchar* q
    cdef const uchar* end
    cdef ErrRec* errs = NULL
    cdef Ctx cx
    cdef _Columns cols
    cdef bint failed = False
    cdef Py_ssize_t cap = npay if max_rows < 0 else min(npay, max_rows)
    cols = _Columns()
    cols.setup(field_names, field_kinds, dicts, cap, 3)
    ctx_init(&cx, cols, NULL, WS_ALL, 3)
    cx.max_depth = max(max_depth, 1)
    ptrs = <const uchar**>malloc((npay + 1) * sizeof(uchar*))
    lens = <Py_ssize_t*>malloc((npay + 1) * sizeof(Py_ssize_t))
    try:
        if ptrs == NULL or lens == NULL:
            raise MemoryError()
        for i in range(npay):
            ptrs[i] = <const uchar*>(<char*>(<bytes>items[i]))
            lens[i] = len(<bytes>items[i])
        with nogil:
            i = 0
            while i < npay and nrows < cap:
                p = ptrs[i]
                end = p + lens[i]
                cx.base = p
                cx.raw_tag = i
                q = skip_ws(WS_ALL, p, end)
                if q < end and q[0] == 123:
                    q = parse_object(&cx, q, end, nrows)
                    if q != NULL:
                        q = skip_ws(WS_ALL, q, end)
                        if q < end:
                            q = fail(&cx, E_SYNTAX, S_TRAILING, q)
                else:
                    q = fail(&cx, E_NOT_OBJECT, 0, q)
                if q != NULL:
                    nrows += 1
                elif record_error(&errs, &nerr, &errcap, &cx, 0, i, cx.err_pos - p,
                                  nrows) < 0:
                    failed = True
                    break
                cx.err_field = -1
                i += 1
            consumed = i
        if failed or cx.err == E_NOMEM:
            raise MemoryError()
        values, valid = cols.finish(nrows)
        errors = _errors(errs, nerr, cols.names, field_kinds)
    finally:
        free(errs)
        free(cx.scratch)
        free(ptrs)
        free(lens)
    return values, valid, nrows, consumed, errors


cdef Py_ssize_t _deep_at(const uchar* p, Py_ssize_t n, int max_depth) noexcept nogil:
    """Offset of the first '{' or '[' nested deeper than max_depth in p[:n] (strings skipped),
    or -1."""
    cdef Py_ssize_t i = 0
    cdef int depth = 0
    cdef uchar c
    while i < n:
        c = p[i]
        if c == 34:  # a string: to its closing quote
            i += 1
            while i < n and p[i] != 34:
                i += 2 if p[i] == 92 else 1
        elif c == 123 or c == 91:
            depth += 1
            if depth > max_depth:
                return i
        elif c == 125 or c == 93:
            depth -= 1
        i += 1
    return -1


def too_deep(list payloads, int max_depth):
    """(index, byte offset) of the payloads that nest containers deeper than max_depth
    (the top-level value is level 1); the guard in front of parsers without a limit of
    their own (orjson's is 1024)."""
    cdef list out = []
    cdef Py_ssize_t i, at
    cdef const uchar* p
    cdef Py_ssize_t n
    cdef bytes b
    for i in range(len(payloads)):
        b = payloads[i] if type(payloads[i]) is bytes else bytes(payloads[i])
        n = len(b)
        if n <= max_depth:
            continue
        p = <const uchar*>(<char*>b)
        with nogil:
            at = _deep_at(p, n, max_depth)
        if at >= 0:
            out.append((i, at))
    return out
