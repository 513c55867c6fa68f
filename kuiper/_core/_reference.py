"""Pure-Python / numpy twins of the public kernels, same signatures: the oracle for tests."""
from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

K_BIGINT, K_FLOAT, K_BOOLEAN, K_STRING, K_RAW = 0, 1, 2, 3, 4
_KIND_NAMES = ("bigint", "float", "boolean", "string", "any")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# --- strings dictionary ---------------------------------------------------------------------
class StringDict:
    """Twin of kuiper._core.stringdict.StringDict."""

    def __init__(self, initial: Any = None) -> None:
        self._codes: dict[bytes, int] = {}
        self._list: list[str] = []
        for s in initial or ():
            self.intern(s)

    def __len__(self) -> int:
        return len(self._list)

    def intern(self, s: bytes | str) -> int:
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        code = self._codes.get(b)
        if code is None:
            text = b.decode("utf-8")  # raises on invalid UTF-8, as the kernel refuses it
            code = self._codes[b] = len(self._list)
            self._list.append(text)
        return code

    def code_of(self, s: bytes | str) -> int:
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        return self._codes.get(b, -1)

    def strings(self) -> np.ndarray:
        out = np.empty(len(self._list), dtype=object)
        out[:] = self._list
        return out


# --- JSON decoding --------------------------------------------------------------------------
class _RowError(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid literal {name}")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_WS = " \t\r\n"


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


def _top_level_spans(text: str) -> list[tuple[str, int, int]]:
    """(key, value_start, value_end) of a valid JSON object text, in document order."""
    i = _skip_ws(text, 0) + 1
    spans = []
    i = _skip_ws(text, i)
    if text[i] == "}":
        return spans
    while True:
        key, i = _DECODER.raw_decode(text, i)
        i = _skip_ws(text, i) + 1  # ':'
        i = _skip_ws(text, i)
        _, j = _DECODER.raw_decode(text, i)
        spans.append((key, i, j))
        i = _skip_ws(text, j)
        if text[i] == "}":
            return spans
        i = _skip_ws(text, i + 1)


def _convert(kind: int, name: str, value: Any, raw_text: str) -> Any:
    if value is None:
        return None
    if kind == K_FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _RowError(f'field "{name}": expected float, got {_got(value)}')
        return float(raw_text)
    if kind == K_BIGINT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _RowError(f'field "{name}": expected bigint, got {_got(value)}')
        if isinstance(value, int):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise _RowError(f'field "{name}": number out of bigint range')
            return value
        # eKuiper (fastjson Int64) rejects 12.0 and 1e3 for a bigint field
        raise _RowError(f'field "{name}": expected bigint, got a number with a fraction or exponent')
    if kind == K_BOOLEAN:
        if not isinstance(value, bool):
            raise _RowError(f'field "{name}": expected boolean, got {_got(value)}')
        return value
    if kind == K_STRING:
        if not isinstance(value, str):
            raise _RowError(f'field "{name}": expected string, got {_got(value)}')
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _RowError("malformed JSON: invalid \\u surrogate") from None
        return value
    return value  # RAW: the caller records the span


def _got(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _deep_at(data: bytes, max_depth: int) -> int:
    """Byte offset of the first container nested deeper than max_depth (strings skipped), or -1."""
    depth, i, n = 0, 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x22:
            i += 1
            while i < n and data[i] != 0x22:
                i += 2 if data[i] == 0x5C else 1
        elif c in (0x7B, 0x5B):
            depth += 1
            if depth > max_depth:
                return i
        elif c in (0x7D, 0x5D):
            depth -= 1
        i += 1
    return -1


def too_deep(payloads: list[bytes], max_depth: int) -> list[tuple[int, int]]:
    out = []
    for i, p in enumerate(payloads):
        at = _deep_at(bytes(p), max_depth)
        if at >= 0:
            out.append((i, at))
    return out


def _decode_record(data: bytes, names: list[str], kinds: list[int],
                   max_depth: int = 512) -> dict[int, Any]:
    """field index -> value (None = null) or (start, end) char span for RAW; raises on error."""
    if _deep_at(data, max_depth) >= 0:
        raise _RowError("malformed JSON: nesting too deep")
    # invalid UTF-8 outside the declared string fields is not checked (as the kernel, which
    # skips what it does not decode): undecodable bytes are kept as surrogate escapes
    text = data.decode("utf-8", "surrogateescape")
    try:
        obj = _DECODER.decode(text)
    except ValueError as e:
        raise _RowError(f"malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise _RowError("not a JSON object")
    index = {n: i for i, n in enumerate(names)}
    out: dict[int, Any] = {}
    for key, a, b in _top_level_spans(text):
        fi = index.get(key)
        if fi is None:
            continue
        raw_text = text[a:b]
        raw = raw_text.encode("utf-8", "surrogateescape")
        value = _DECODER.decode(raw_text)
        if kinds[fi] == K_STRING and isinstance(value, str):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _RowError(f'field "{names[fi]}": string is not valid UTF-8') from None
        v = _convert(kinds[fi], names[fi], value, raw_text)
        if kinds[fi] == K_RAW and v is not None:
            out[fi] = (len(text[:a].encode("utf-8", "surrogateescape")), len(raw))
        else:
            out[fi] = v
    return out


def _empty_columns(kinds: list[int], n: int, raw_cols: int) -> list[np.ndarray]:
    dt = {K_BIGINT: np.int64, K_FLOAT: np.float64, K_BOOLEAN: np.bool_, K_STRING: np.int32}
    return [
        np.zeros((n, raw_cols), np.int64) if k == K_RAW else np.zeros(n, dt[k]) for k in kinds
    ]


def _fill(values, valid, row, rec, kinds, dicts, prefix=()):
    for fi, v in rec.items():
        if v is None:
            continue
        if kinds[fi] == K_STRING:
            v = dicts[fi].intern(v.encode("utf-8"))
        elif kinds[fi] == K_RAW:
            v = (*prefix, *v)
        values[fi][row] = v
        valid[fi][row] = True


def decode_json_lines(buf, start, stop, field_names, field_kinds, dicts, max_rows, final=True,
                      max_depth=512):
    data = bytes(buf)
    stop = len(data) if stop < 0 or stop > len(data) else stop
    if not final:
        cut = data.rfind(b"\n", start, stop)
        stop = start if cut < 0 else cut + 1
    if max_rows < 0:
        max_rows = stop - start
    names = [bytes(n).decode("utf-8") for n in field_names]
    kinds = [int(k) for k in field_kinds]
    rows: list[dict[int, Any]] = []
    errors: list[tuple[int, int, str, int]] = []
    pos, line_no = start, 0
    while pos < stop and len(rows) < max_rows:
        nl = data.find(b"\n", pos, stop)
        line_end = stop if nl < 0 else nl
        line = data[pos:line_end]
        if line.strip(b" \t\r"):
            try:
                rec = _decode_record(line, names, kinds, max_depth)
                rec = {fi: (v if kinds[fi] != K_RAW or v is None else (v[0] + pos, v[1]))
                       for fi, v in rec.items()}
                rows.append(rec)
            except (_RowError, UnicodeDecodeError) as e:
                errors.append((pos, line_no, str(e), len(rows)))
        elif nl < 0:
            pos = stop
            break
        pos = line_end + 1 if nl >= 0 else stop
        line_no += 1
    n = len(rows)
    values = _empty_columns(kinds, n, 2)
    valid = [np.zeros(n, np.bool_) for _ in kinds]
    for r, rec in enumerate(rows):
        _fill(values, valid, r, rec, kinds, dicts)
    return values, valid, n, pos, errors


def decode_json_objects(payloads, field_names, field_kinds, dicts, max_rows=-1, max_depth=512):
    names = [bytes(n).decode("utf-8") for n in field_names]
    kinds = [int(k) for k in field_kinds]
    rows: list[tuple[int, dict[int, Any]]] = []
    errors: list[tuple[int, int, str, int]] = []
    cap = len(payloads) if max_rows < 0 else min(len(payloads), max_rows)
    i = 0
    while i < len(payloads) and len(rows) < cap:
        try:
            rows.append((i, _decode_record(bytes(payloads[i]), names, kinds, max_depth)))
        except (_RowError, UnicodeDecodeError) as e:
            errors.append((0, i, str(e), len(rows)))
        i += 1
    n = len(rows)
    values = _empty_columns(kinds, n, 3)
    valid = [np.zeros(n, np.bool_) for _ in kinds]
    for r, (pi, rec) in enumerate(rows):
        _fill(values, valid, r, rec, kinds, dicts, (pi,))
    return values, valid, n, i, errors


# --- comparisons ----------------------------------------------------------------------------
def _vmask(valid, n):
    return np.ones(n, np.bool_) if valid is None else np.asarray(valid, np.bool_)


def _compare(op, a, a_valid, b, b_valid):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.dtype.kind == "f":
        a, b = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore"):
        out = op(a, b)
    av, bv = _vmask(a_valid, len(a)), _vmask(b_valid, len(b))
    both_nil = ~av & ~bv
    some_nil = ~(av & bv)
    if op in (np.equal, np.less_equal, np.greater_equal):
        nil_result = both_nil
    elif op is np.not_equal:
        nil_result = ~both_nil
    else:
        nil_result = np.zeros(len(a), np.bool_)
    return np.where(some_nil, nil_result, out)


def eq(a, a_valid, b, b_valid):
    return _compare(np.equal, a, a_valid, b, b_valid)


def ne(a, a_valid, b, b_valid):
    return _compare(np.not_equal, a, a_valid, b, b_valid)


def lt(a, a_valid, b, b_valid):
    return _compare(np.less, a, a_valid, b, b_valid)


def le(a, a_valid, b, b_valid):
    return _compare(np.less_equal, a, a_valid, b, b_valid)


def gt(a, a_valid, b, b_valid):
    return _compare(np.greater, a, a_valid, b, b_valid)


def ge(a, a_valid, b, b_valid):
    return _compare(np.greater_equal, a, a_valid, b, b_valid)


def _scalar_cmp(op, a, a_valid, s):
    a = np.asarray(a)
    dtype = np.float64 if a.dtype.kind == "f" or isinstance(s, float) else np.int64
    return _compare(op, a.astype(dtype), a_valid, np.full(len(a), s, dtype), None)


def eq_scalar(a, a_valid, s):
    return _scalar_cmp(np.equal, a, a_valid, s)


def ne_scalar(a, a_valid, s):
    return _scalar_cmp(np.not_equal, a, a_valid, s)


def lt_scalar(a, a_valid, s):
    return _scalar_cmp(np.less, a, a_valid, s)


def le_scalar(a, a_valid, s):
    return _scalar_cmp(np.less_equal, a, a_valid, s)


def gt_scalar(a, a_valid, s):
    return _scalar_cmp(np.greater, a, a_valid, s)


def ge_scalar(a, a_valid, s):
    return _scalar_cmp(np.greater_equal, a, a_valid, s)


# --- arithmetic -----------------------------------------------------------------------------
def _go_int(op: str, x: int, y: int) -> int:
    if op in ("/", "%") and y == 0:
        return 0
    if op == "/":
        q = abs(x) // abs(y)
        r = q if (x >= 0) == (y >= 0) else -q
    elif op == "%":
        r = abs(x) % abs(y)
        r = r if x >= 0 else -r
    else:
        r = {"+": x + y, "-": x - y, "*": x * y, "&": x & y, "|": x | y, "^": x ^ y}[op]
    return (r + 2**63) % 2**64 - 2**63  # wrap like Go


def _arith(op, a, a_valid, b, b_valid):
    a, b = np.asarray(a), np.asarray(b)
    is_float = a.dtype.kind == "f" or b.dtype.kind == "f"
    if is_float and op in "&|^":
        raise TypeError("bitwise operators need bigint operands")
    if is_float:
        a, b = a.astype(np.float64), b.astype(np.float64)
        with np.errstate(all="ignore"):
            out = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
                   "%": np.fmod}[op](a, b)
    else:
        out = np.array([_go_int(op, int(x), int(y)) for x, y in zip(a, b, strict=True)],
                       dtype=np.int64).reshape(len(a))
    if a_valid is None and b_valid is None:
        valid = None
    else:
        valid = _vmask(a_valid, len(a)) & _vmask(b_valid, len(b))
    if op in "/%":
        zero = (b == 0) if valid is None else (b == 0) & valid
        return out, valid, (zero if zero.any() else None)
    return out, valid


def add(a, a_valid, b, b_valid):
    return _arith("+", a, a_valid, b, b_valid)


def sub(a, a_valid, b, b_valid):
    return _arith("-", a, a_valid, b, b_valid)


def mul(a, a_valid, b, b_valid):
    return _arith("*", a, a_valid, b, b_valid)


def div(a, a_valid, b, b_valid):
    return _arith("/", a, a_valid, b, b_valid)


def mod(a, a_valid, b, b_valid):
    return _arith("%", a, a_valid, b, b_valid)


def bitand(a, a_valid, b, b_valid):
    return _arith("&", a, a_valid, b, b_valid)


def bitor(a, a_valid, b, b_valid):
    return _arith("|", a, a_valid, b, b_valid)


def bitxor(a, a_valid, b, b_valid):
    return _arith("^", a, a_valid, b, b_valid)


def _arith_scalar(op, a, a_valid, s, scalar_left):
    a = np.asarray(a)
    dtype = np.float64 if a.dtype.kind == "f" or isinstance(s, float) else np.int64
    a = a.astype(dtype)
    sv = np.full(len(a), s, dtype)
    if scalar_left:
        res = _arith(op, sv, a_valid, a, None)
    else:
        res = _arith(op, a, a_valid, sv, None)
    return res


def add_scalar(a, a_valid, s, scalar_left=False):
    return _arith_scalar("+", a, a_valid, s, scalar_left)


def sub_scalar(a, a_valid, s, scalar_left=False):
    return _arith_scalar("-", a, a_valid, s, scalar_left)


def mul_scalar(a, a_valid, s, scalar_left=False):
    return _arith_scalar("*", a, a_valid, s, scalar_left)


def div_scalar(a, a_valid, s, scalar_left=False):
    return _arith_scalar("/", a, a_valid, s, scalar_left)


def mod_scalar(a, a_valid, s, scalar_left=False):
    return _arith_scalar("%", a, a_valid, s, scalar_left)


def bitand_scalar(a, a_valid, s, scalar_left=False):
    return _arith_scalar("&", a, a_valid, s, scalar_left)


def bitor_scalar(a, a_valid, s, scalar_left=False):
    return _arith_scalar("|", a, a_valid, s, scalar_left)


def bitxor_scalar(a, a_valid, s, scalar_left=False):
    return _arith_scalar("^", a, a_valid, s, scalar_left)


# --- logic ----------------------------------------------------------------------------------
def _logic_py(is_and, a, a_valid, b, b_valid):
    n = len(a)
    av, bv = _vmask(a_valid, n), _vmask(b_valid, n)
    out, ov = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
    for i in range(n):
        x = bool(a[i]) if av[i] else None
        y = bool(b[i]) if bv[i] else None
        if is_and and x is False:
            r = False
        elif not is_and and x is True:
            r = True
        elif x is None or y is None:
            r = None
        else:
            r = (x and y) if is_and else (x or y)
        out[i], ov[i] = bool(r), r is not None
    return out, (None if a_valid is None and b_valid is None else ov)


def and_(a, a_valid, b, b_valid):
    return _logic_py(True, a, a_valid, b, b_valid)


def or_(a, a_valid, b, b_valid):
    return _logic_py(False, a, a_valid, b, b_valid)


def not_(a, a_valid):
    a = np.asarray(a, np.bool_)
    out = ~a & _vmask(a_valid, len(a))
    return out, (None if a_valid is None else np.asarray(a_valid, np.bool_).copy())


def truthy(a, a_valid):
    return np.asarray(a, np.bool_) & _vmask(a_valid, len(a))


# --- selection ------------------------------------------------------------------------------
def filter_indices(mask, valid=None):
    m = np.asarray(mask, np.bool_)
    if valid is not None:
        m = m & np.asarray(valid, np.bool_)
    return np.flatnonzero(m).astype(np.int64)


def take_int64(values, indices):
    return np.asarray(values, np.int64)[np.asarray(indices, np.int64)]


def take_float64(values, indices):
    return np.asarray(values, np.float64)[np.asarray(indices, np.int64)]


def take_int32(values, indices):
    return np.asarray(values, np.int32)[np.asarray(indices, np.int64)]


def take_bool(values, indices):
    return np.asarray(values, np.bool_)[np.asarray(indices, np.int64)]


def take_object(values, indices):
    return np.asarray(values, object)[np.asarray(indices, np.int64)]


def compact(mask, arrays):
    m = np.asarray(mask, np.bool_)
    return [None if a is None else np.asarray(a)[m] for a in arrays]


# --- strings --------------------------------------------------------------------------------
def like_regex(pattern: str, escape: str | None = "\\") -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if escape and c == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _like_one(s: str, pattern: str, escape: str | None) -> bool:
    """Backtracking LIKE matcher, independent of the regex translation."""
    toks: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if escape and c == escape and i + 1 < len(pattern):
            toks.append(("lit", pattern[i + 1]))
            i += 2
            continue
        toks.append(("any", "") if c == "%" else ("one", "") if c == "_" else ("lit", c))
        i += 1
    memo: dict[tuple[int, int], bool] = {}

    def m(ti: int, si: int) -> bool:
        key = (ti, si)
        if key in memo:
            return memo[key]
        if ti == len(toks):
            r = si == len(s)
        elif toks[ti][0] == "any":
            r = any(m(ti + 1, k) for k in range(si, len(s) + 1))
        elif si < len(s) and (toks[ti][0] == "one" or toks[ti][1] == s[si]):
            r = m(ti + 1, si + 1)
        else:
            r = False
        memo[key] = r
        return r

    return m(0, 0)


def like_dictionary(strings, pattern, escape="\\"):
    return np.array([isinstance(s, str) and _like_one(s, pattern, escape) for s in strings],
                    dtype=np.bool_).reshape(len(strings))


def gather_bool(codes, lut, valid=None, negate=False):
    codes = np.asarray(codes, np.int64)
    lut = np.asarray(lut, np.bool_)
    ok = (codes >= 0) & (codes < len(lut)) & _vmask(valid, len(codes))
    got = lut[np.clip(codes, 0, max(len(lut) - 1, 0))] if len(lut) else np.zeros(len(codes), bool)
    return ok & (got != negate)


def isin_codes(codes, valid, lut):
    return gather_bool(codes, lut, valid, False)


def like_values(values, valid, pattern, escape="\\", negate=False):
    vm = _vmask(valid, len(values))
    return np.array([bool(vm[i]) and isinstance(v, str) and (_like_one(v, pattern, escape) != negate)
                     for i, v in enumerate(values)], dtype=np.bool_).reshape(len(values))
