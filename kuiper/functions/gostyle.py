"""Values rendered as eKuiper (Go) renders them: %v strings, type names, JSON, float formats."""
from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any


def _digits(f: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of |f| and the decimal point position."""
    sign, digits, exp = Decimal(repr(abs(f))).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + int(exp)
    if ds == "0":
        point = 1
    return ds, point


def _fixed(ds: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * (-point) + ds
    if point >= len(ds):
        return ds + "0" * (point - len(ds))
    return ds[:point] + "." + ds[point:]


def _expo(ds: str, point: int, min_exp_digits: int) -> str:
    exp = point - 1
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    sign = "-" if exp < 0 else "+"
    return f"{mant}e{sign}{abs(exp):0{min_exp_digits}d}"


def _special(f: float) -> str | None:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return None


def format_float_g(f: float) -> str:
    """Go's %v for a float64 (strconv 'g', shortest): 1e+06, 123.5, 1e-05."""
    special = _special(f)
    if special:
        return special
    ds, point = _digits(f)
    exp = point - 1
    body = _expo(ds, point, 2) if exp < -4 or exp >= 6 else _fixed(ds, point)
    return ("-" if math.copysign(1, f) < 0 and f != 0 else "") + body


def format_float_f(f: float) -> str:
    """Go's strconv.FormatFloat(f, 'f', -1, 64): shortest digits, never an exponent."""
    special = _special(f)
    if special:
        return special
    ds, point = _digits(f)
    return ("-" if f < 0 else "") + _fixed(ds, point)


def format_float_json(f: float) -> str:
    """encoding/json's float64: 'f' form, 'e' form below 1e-6 or from 1e21 (e-07 -> e-7)."""
    ds, point = _digits(f)
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        body = _expo(ds, point, 1)
    else:
        body = _fixed(ds, point)
    return ("-" if f < 0 else "") + body


def go_str(v: Any) -> str:
    """cast.ToStringAlways: fmt's %v of a value ("" for nil)."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float_g(v)
    if isinstance(v, bytes | bytearray):
        return "[" + " ".join(str(b) for b in v) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(_go_inner(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_inner(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def _go_inner(v: Any) -> str:
    return "<nil>" if v is None else go_str(v)


def go_type(v: Any) -> str:
    """Go's dynamic type name of a decoded value, for error messages."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bytes | bytearray):
        return "[]uint8"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return type(v).__name__


def go_repr(v: Any) -> str:
    """`%T(%v)` as in eKuiper's cast errors: string(abc), float64(1.5)."""
    return f"{go_type(v)}({_go_inner(v)})"


_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json_str(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)
    if any(c in out for c in _HTML_ESCAPES):
        out = "".join(_HTML_ESCAPES.get(c, c) for c in out)
    return out


def go_json(v: Any) -> str:
    """encoding/json.Marshal: sorted keys, HTML-safe strings, Go float forms, bytes as base64."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"json: unsupported value: {format_float_g(v)}")
        return format_float_json(v)
    if isinstance(v, str):
        return _json_str(v)
    if isinstance(v, bytes | bytearray):
        import base64

        return '"' + base64.b64encode(bytes(v)).decode() + '"'
    if isinstance(v, list | tuple):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{_json_str(str(k))}:{go_json(v[k])}" for k in sorted(v)) + "}"
    raise ValueError(f"json: unsupported type: {type(v).__name__}")
