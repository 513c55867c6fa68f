"""Conversion functions: cast, time zones, base64, compression, trunc, chr, hex2dec/dec2hex."""
from __future__ import annotations

import base64
import binascii
import gzip
import importlib
import zlib
from typing import Any

import numpy as np

from kuiper.api.batch import (
    BIGINT,
    BOOLEAN,
    BYTEA,
    DATETIME,
    FLOAT,
    STRING,
    Column,
)
from kuiper.functions.checks import (
    all_of,
    datetime_args,
    int_args,
    literal_in,
    number_args,
    string_args,
)
from kuiper.functions.gostyle import format_float_f, go_repr, go_str
from kuiper.functions.registry import LITERAL, builtin
from kuiper.functions.timeutil import load_zone, rfc3339, to_datetime, to_millis
from kuiper.functions.vector import (
    apply_rows,
    broadcast,
    fail,
    rowwise,
    scalar_arg,
)

CAST_TYPES = ("bigint", "float", "string", "boolean", "datetime", "bytea")
_CAST_KIND = {"bigint": BIGINT, "float": FLOAT, "string": STRING, "boolean": BOOLEAN,
              "datetime": DATETIME, "bytea": BYTEA}


def _to_int(v: Any) -> int:
    """cast.ToInt(v, CONVERT_ALL): floats truncate, strings parse (0x/0o/0b prefixes), bools 1/0."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            fail(f"cannot convert {go_repr(v)} to int")
        return int(v)
    if isinstance(v, str) and v == v.strip():
        sign, body = ("", v) if v[:1] not in ("+", "-") else (v[0], v[1:])
        if len(body) > 1 and body[0] == "0" and body[1].isdigit():
            body = "0o" + body[1:]  # Go reads a leading 0 as octal
        try:
            return int(sign + body, 0)
        except ValueError:
            pass
    fail(f"cannot convert {go_repr(v)} to int")


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    fail(f"cannot convert {go_repr(v)} to float64")


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    if isinstance(v, str):
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    fail(f"cannot convert {go_repr(v)} to bool")


def _to_string(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bytes | bytearray):
        return bytes(v).decode("utf-8", errors="replace")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float_f(v)
    fail(f"cannot convert {go_repr(v)} to string")


def _to_bytes(v: Any) -> bytes:
    if isinstance(v, bytes | bytearray):
        return bytes(v)
    if isinstance(v, str):
        return v.encode()
    fail(f"cannot convert {go_repr(v)} to bytes")


def _to_time_ms(v: Any) -> int:
    return to_millis(to_datetime(v))


_CASTERS = {"bigint": _to_int, "float": _to_float, "string": _to_string, "boolean": _to_bool,
            "datetime": _to_time_ms, "bytea": _to_bytes}


def _cast_numeric(col: Column, target: str) -> Column | None:
    """Vectorized casts between numeric/boolean/datetime columns, None when not covered."""
    vals = col.values
    if col.kind == target:
        return col
    if col.kind in (BIGINT, DATETIME, BOOLEAN) and target in (BIGINT, DATETIME):
        return Column(target, vals.astype(np.int64), col.valid)
    if col.kind in (BIGINT, BOOLEAN, DATETIME) and target == FLOAT:
        return Column(FLOAT, vals.astype(np.float64), col.valid)
    if col.kind == FLOAT and target in (BIGINT, DATETIME):
        ok = np.isfinite(vals) if col.valid is None else (np.isfinite(vals) | ~col.valid)
        if not ok.all():
            return None
        return Column(target, np.trunc(np.where(np.isfinite(vals), vals, 0)).astype(np.int64),
                      col.valid)
    if col.kind in (BIGINT, FLOAT) and target == BOOLEAN:
        return Column(BOOLEAN, vals != 0, col.valid)
    return None


@builtin("cast", 2, arg_modes=("value", LITERAL),
         validate=all_of(string_args(1), literal_in(1, CAST_TYPES, (
             "Expect one of following value for the 2nd parameter: "
             "bigint, float, string, boolean, datetime, bytea."))))
def _cast(args: list[Column], n: int, ctx: Any) -> Column:
    """cast(x, 'bigint'|'float'|'string'|'boolean'|'datetime'|'bytea'); nil stays nil."""
    is_const, target = scalar_arg(args[1], n)
    if not is_const:
        return apply_rows(_cast_one, args, n)
    if target is None:
        return Column.nulls(n)
    if target not in _CASTERS:
        fail("Unknow type, only support bigint, float, string, boolean, datetime and bytea.")
    kind = _CAST_KIND[target]
    col = broadcast(args[0], n)
    fast = _cast_numeric(col, kind)
    if fast is not None:
        return fast
    caster = _CASTERS[target]
    return apply_rows(caster, [col], n, kind)


def _cast_one(v: Any, target: Any) -> Any:
    caster = _CASTERS.get(target) if isinstance(target, str) else None
    if caster is None:
        fail("Unknow type, only support bigint, float, string, boolean, datetime and bytea.")
    return caster(v)


@builtin("convert_tz", 2, return_kind=STRING, validate=all_of(datetime_args(0), string_args(1)))
@rowwise(kind=STRING)
def _convert_tz(t: Any, zone: Any) -> str:
    """The instant in zone `zone`, as Go renders a time (RFC 3339: 2023-01-01T08:00:00+08:00)."""
    return rfc3339(to_datetime(t).astimezone(load_zone(go_str(zone))))


@builtin("to_seconds", 1, return_kind=BIGINT)
@rowwise(kind=BIGINT)
def _to_seconds(t: Any) -> int:
    return _to_time_ms(t) // 1000


_BASE64_ONLY = literal_in(1, ["base64"], "Only base64 is supported for the 2nd parameter.")


@builtin("encode", 2, return_kind=STRING, validate=all_of(string_args(0), string_args(1),
                                                        _BASE64_ONLY))
@rowwise(kind=STRING)
def _encode(v: Any, method: Any) -> str:
    if not isinstance(method, str) or method.lower() != "base64":
        fail("Only base64 encoding is supported.")
    if not isinstance(v, str | bytes):
        fail("Only string type can be encoded.")
    return base64.b64encode(_to_bytes(v)).decode()


@builtin("decode", 2, return_kind=BYTEA, validate=all_of(string_args(0), string_args(1),
                                                       _BASE64_ONLY))
@rowwise(kind=BYTEA)
def _decode(v: Any, method: Any) -> bytes:
    if not isinstance(method, str) or method.lower() != "base64":
        fail("Only base64 decoding is supported.")
    if not isinstance(v, str):
        fail("Only string type can be decoded.")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError) as exc:
        fail(f"fail to decode base64 string: {exc}")


def _zstd() -> Any:
    for name in ("compression.zstd", "zstandard"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    fail("zstd is not available: install the 'zstandard' package")


def _compress_bytes(data: bytes, method: str) -> bytes:
    if method == "zlib":
        return zlib.compress(data)
    if method == "gzip":
        return gzip.compress(data, mtime=0)
    if method == "flate":
        c = zlib.compressobj(wbits=-15)
        return c.compress(data) + c.flush()
    if method == "zstd":
        mod = _zstd()
        if hasattr(mod, "ZstdCompressor"):
            return mod.ZstdCompressor().compress(data)
        return mod.compress(data)
    fail(f"unsupported compression method: {method}")


def _decompress_bytes(data: bytes, method: str) -> bytes:
    try:
        if method == "zlib":
            return zlib.decompress(data)
        if method == "gzip":
            return gzip.decompress(data)
        if method == "flate":
            return zlib.decompress(data, wbits=-15)
    except (zlib.error, OSError, EOFError) as exc:
        fail(f"failed to decompress: {exc}")
    if method == "zstd":
        mod = _zstd()
        try:
            if hasattr(mod, "ZstdDecompressor"):
                return mod.ZstdDecompressor().decompressobj().decompress(data)
            return mod.decompress(data)
        except Exception as exc:  # the zstd modules raise their own error types
            fail(f"failed to decompress: {exc}")
    fail(f"unsupported decompression method: {method}")


_METHODS = ("zlib", "gzip", "flate", "zstd")
_METHOD_CHECK = literal_in(1, _METHODS, "Expect one of zlib, gzip, flate, zstd for parameter 2")


@builtin("compress", 2, return_kind=BYTEA, validate=_METHOD_CHECK)
@rowwise(kind=BYTEA)
def _compress(v: Any, method: Any) -> bytes:
    if not isinstance(v, str | bytes | bytearray):
        fail(f"expect string or bytea type but got {go_repr(v)}")
    return _compress_bytes(_to_bytes(v), go_str(method))


@builtin("decompress", 2, return_kind=BYTEA, validate=_METHOD_CHECK)
@rowwise(kind=BYTEA)
def _decompress(v: Any, method: Any) -> bytes:
    if not isinstance(v, str | bytes | bytearray):
        fail(f"expect string or bytea type but got {go_repr(v)}")
    return _decompress_bytes(_to_bytes(v), go_str(method))


@builtin("trunc", 2, return_kind=FLOAT, validate=all_of(number_args(0), int_args(1)))
def _trunc_batch(args: list[Column], n: int, ctx: Any) -> Column:
    """A numeric column and constant places: numpy over the column; else row by row."""
    col = broadcast(args[0], n)
    is_const, places = scalar_arg(args[1], n)
    if (col.kind in (BIGINT, FLOAT) and col.dictionary is None and is_const
            and isinstance(places, int) and not isinstance(places, bool)):
        scale = 10.0**places
        with np.errstate(all="ignore"):
            scaled = col.values.astype(np.float64) * scale
            out = np.trunc(scaled + np.where(scaled >= 0, 0.5, -0.5)) / scale
        if np.isfinite(scaled).all() and np.isfinite(scale):
            return Column(FLOAT, out, col.valid)
    return _trunc(args, n, ctx)


@rowwise(kind=FLOAT)
def _trunc(x: Any, places: Any) -> float:
    """eKuiper's toFixed: x scaled by 10^places, rounded half away from zero, scaled back."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        fail(f"cannot convert {go_repr(x)} to float64")
    if isinstance(places, bool) or not isinstance(places, int):
        fail("The 2nd parameter must be int value.")
    scale = 10.0**places
    scaled = x * scale
    r = int(scaled + (0.5 if scaled >= 0 else -0.5))
    return r / scale


@builtin("chr", 1, return_kind=STRING, validate=int_args(0))
@rowwise(kind=STRING)
def _chr(v: Any) -> str:
    """The character with code point `v` (a one-character string passes through)."""
    if isinstance(v, bool):
        fail("Only bigint, float and string type can be convert to char type.")
    if isinstance(v, int | float):
        code = int(v)
        if not 0 <= code <= 0x10FFFF:
            return "\ufffd"
        return chr(code)
    if isinstance(v, str):
        if len(v.encode()) > 1:
            fail("Parameter length cannot larger than 1.")
        if not v:
            fail("Parameter length cannot be 0.")
        return v
    fail("Only bigint, float and string type can be convert to char type.")


@builtin("hex2dec", 1, return_kind=BIGINT, validate=string_args(0))
@rowwise(kind=BIGINT)
def _hex2dec(v: Any) -> int:
    if not isinstance(v, str):
        fail(f"invalid input type: {go_str(v)} please input hex string")
    h = v[2:] if v.startswith("0x") else v
    try:
        if not h or h[0] in "+-" and not h[1:2].isalnum() or "_" in h:
            raise ValueError(h)
        out = int(h, 16)
    except ValueError:
        fail(f"invalid hexadecimal value: {h}")
    if not -(1 << 63) <= out < (1 << 63):
        fail(f"invalid hexadecimal value: {h}")
    return out


@builtin("dec2hex", 1, return_kind=STRING, validate=int_args(0))
@rowwise(kind=STRING)
def _dec2hex(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float) or (
        isinstance(v, float) and not v.is_integer()
    ):
        fail(f"cannot convert {go_repr(v)} to int")
    k = int(v)
    return "0x" + ("-" + format(-k, "x") if k < 0 else format(k, "x"))



# shared with other families (get_keyed_state casts like cast(); delay takes an int like it)
CAST_KIND = _CAST_KIND
cast_value = _cast_one
to_int = _to_int
