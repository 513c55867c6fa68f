"""Go's fmt and template functions for `kuiper.runtime.template`: printing values the way Go
does (27.0 -> "27", 1e6 -> "1e+06", maps as `map[k:v]`), json, printf and the function table
(Go's builtins, eKuiper's `json`/`base64`, a sprig subset)."""
from __future__ import annotations

import base64
import html
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from kuiper.errors import EvalError


# --- Go value formatting -----------------------------------------------------------------
def go_float(v: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent from 1e+06 and below 1e-4."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    sign, digits, exp = Decimal(repr(v)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + int(exp)  # decimal point position relative to the digits
    x = point - 1
    neg = "-" if sign else ""
    if x < -4 or x >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{ds}"
    if point >= len(ds):
        return neg + ds + "0" * (point - len(ds))
    return f"{neg}{ds[:point]}.{ds[point:]}"


def go_str(value: Any, top: bool = True) -> str:
    """fmt.Sprint of a value (`<no value>` for a missing value at the top level)."""
    if value is None:
        return "<no value>" if top else "<nil>"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_str(value[k], False)}" for k in sorted(value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v, False) for v in value) + "]"
    if isinstance(value, bytes | bytearray):
        return "[" + " ".join(str(b) for b in value) + "]"
    if hasattr(value, "item"):  # numpy scalar
        return go_str(value.item(), top)
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def go_json(value: Any) -> str:
    """Go's json.Marshal: map keys sorted, integral floats without `.0`, <>& escaped."""
    out = orjson.dumps(_json_value(value), default=_json_default, option=orjson.OPT_SORT_KEYS)
    text = out.decode()
    for raw, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                     ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, esc)
    return text


def truth(value: Any) -> bool:
    """Go template truth: false, 0, nil and empty strings/lists/maps are false."""
    if value is None:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict | bytes):
        return bool(value)
    return True


# --- printf ----------------------------------------------------------------------------
_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?([a-zA-Z%])")


def type_name(v: Any) -> str:
    """The Go type name eKuiper would see for a value (for error texts)."""
    names = {bool: "bool", int: "int64", float: "float64", str: "string", list: "[]interface {}",
             dict: "map[string]interface {}"}
    return names.get(type(v), "interface {}")


def _fmt_one(flags: str, width: str | None, prec: str | None, verb: str, v: Any) -> str:
    align = "<" if "-" in flags else ">"
    sign = "+" if "+" in flags else (" " if " " in flags else "")
    zero = "0" in flags and "-" not in flags
    w = width or ""
    p = f".{prec or 0}" if prec is not None else ""
    if verb in "dxXobc" and isinstance(v, float) and v.is_integer():
        v = int(v)
    if verb in "dxXob" and isinstance(v, int) and not isinstance(v, bool):
        spec = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb]
        prefix = "#" if "#" in flags and verb != "d" else ""
        return format(v, f"{'0' if zero else ''}{align if not zero else '='}{sign}{prefix}{w}{spec}")
    if verb in "xX" and isinstance(v, str):
        out = v.encode().hex()
        return (out.upper() if verb == "X" else out).rjust(int(w or 0))
    if verb in "feEFgG" and isinstance(v, int | float) and not isinstance(v, bool):
        if verb in "gG" and prec is None:
            text = go_float(float(v))
            text = ("+" + text if sign == "+" and v >= 0 else text)
            return text.upper() if verb == "G" else text
        spec = f"{sign}{'0' if zero else ''}{w}{p or '.6'}{verb}" if verb not in "gG" else \
            f"{sign}{w}{p}{verb}"
        return format(float(v), (align if not zero else "=") + spec)
    if verb == "t" and isinstance(v, bool):
        return format("true" if v else "false", f"{align}{w}")
    if verb == "c" and isinstance(v, int):
        return chr(v)
    if verb == "q":
        text = go_json(v if isinstance(v, str) else go_str(v))
        return format(text, f"{align}{w}")
    if verb in "vs":
        text = go_str(v, False) if v is not None else "<nil>"
        if prec is not None and verb == "s":
            text = text[: int(prec or 0)]
        return format(text, f"{align}{w}")
    return f"%!{verb}({type_name(v)}={go_str(v, False)})"


def go_sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the common verbs (v s d f e g x X o b t q c %, flags, width, precision)."""
    out: list[str] = []
    pos = 0
    arg = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if arg >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_fmt_one(flags, width, prec, verb, args[arg]))
        arg += 1
    out.append(fmt[pos:])
    if arg < len(args):
        extra = ", ".join(f"{type_name(a)}={go_str(a, False)}" for a in args[arg:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _sprint(*args: Any) -> str:
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(a, False))
    return "".join(out)


# --- functions -----------------------------------------------------------------------------
def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        try:
            return float(v)
        except (TypeError, ValueError):
            raise EvalError(f"template: {v!r} is not a number") from None
    return v


def _i64(v: Any) -> int:
    if v is None:
        return 0
    try:
        return int(float(v)) if isinstance(v, str) else int(v)
    except (TypeError, ValueError):
        return 0


def _compare(op: str, a: Any, b: Any) -> bool:
    numeric = (int, float)
    if isinstance(a, bool) != isinstance(b, bool) or (
        not (isinstance(a, numeric) and isinstance(b, numeric)) and type(a) is not type(b)
    ):
        if op in ("eq", "ne"):
            return (op == "ne")
        raise EvalError(f"template: incompatible types for comparison: {a!r} {op} {b!r}")
    try:
        return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b,
                "eq": a == b, "ne": a != b}[op]
    except TypeError:
        raise EvalError(f"template: cannot compare {a!r} and {b!r}") from None


def _eq(a: Any, *bs: Any) -> bool:
    if not bs:
        raise EvalError("template: eq needs at least two arguments")
    return any(_compare("eq", a, b) for b in bs)


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if v is None:
            return None
        if isinstance(v, Mapping):
            v = v.get(k)
        elif isinstance(v, list | tuple | str):
            if not isinstance(k, int) or not 0 <= k < len(v):
                raise EvalError(f"template: index out of range: {k}")
            v = v[k]
        else:
            raise EvalError(f"template: can't index item of type {type(v).__name__}")
    return v


def _len(v: Any) -> int:
    try:
        return len(v)
    except TypeError:
        raise EvalError(f"template: len of type {type(v).__name__}") from None


def _base64(v: Any) -> str:
    data = v if isinstance(v, bytes) else (v if isinstance(v, str) else go_json(v)).encode()
    return base64.b64encode(data).decode()


def _go_html(v: Any) -> str:
    return html.escape(go_str(v), quote=True).replace("&#x27;", "&#39;").replace("&quot;", "&#34;")


def _go_round(v: Any, places: Any = 0) -> float:
    p = 10 ** _i64(places)
    x = _num(v) * p
    return float(math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)) / p


FUNCS: dict[str, Callable[..., Any]] = {
    "not": lambda v: not truth(v), "len": _len, "index": _index,
    "slice": lambda v, *ix: v[slice(*ix)] if ix else v,
    "eq": _eq, "ne": lambda a, b: _compare("ne", a, b), "lt": lambda a, b: _compare("lt", a, b),
    "le": lambda a, b: _compare("le", a, b), "gt": lambda a, b: _compare("gt", a, b),
    "ge": lambda a, b: _compare("ge", a, b),
    "print": _sprint, "printf": go_sprintf,
    "println": lambda *a: " ".join(go_str(x, False) for x in a) + "\n",
    "html": _go_html, "js": lambda v: go_json(go_str(v))[1:-1],
    "urlquery": lambda *a: urllib.parse.quote_plus(_sprint(*a)),
    "json": go_json, "toJson": go_json, "base64": _base64, "b64enc": _base64,
    "b64dec": lambda v: base64.b64decode(str(v)).decode("utf-8", "replace"),
    "add": lambda *a: sum(_i64(x) for x in a), "add1": lambda v: _i64(v) + 1,
    "sub": lambda a, b: _i64(a) - _i64(b), "mul": lambda *a: math.prod(_i64(x) for x in a),
    "div": lambda a, b: int(_i64(a) / _i64(b)), "mod": lambda a, b: int(math.fmod(_i64(a), _i64(b))),
    "max": lambda *a: max(_i64(x) for x in a), "min": lambda *a: min(_i64(x) for x in a),
    "addf": lambda *a: float(sum(_num(x) for x in a)), "subf": lambda a, b: _num(a) - _num(b),
    "mulf": lambda *a: float(math.prod(_num(x) for x in a)), "divf": lambda a, b: _num(a) / _num(b),
    "floor": lambda v: float(math.floor(_num(v))), "ceil": lambda v: float(math.ceil(_num(v))),
    "round": _go_round,
    "upper": lambda s: go_str(s).upper(), "lower": lambda s: go_str(s).lower(),
    "title": lambda s: go_str(s).title(), "trim": lambda s: go_str(s).strip(),
    "trimPrefix": lambda p, s: go_str(s).removeprefix(p),
    "trimSuffix": lambda p, s: go_str(s).removesuffix(p),
    "replace": lambda old, new, s: go_str(s).replace(old, new),
    "contains": lambda sub, s: sub in go_str(s), "hasPrefix": lambda p, s: go_str(s).startswith(p),
    "hasSuffix": lambda p, s: go_str(s).endswith(p),
    "quote": lambda *a: " ".join(go_json(go_str(x, False)) for x in a if x is not None),
    "squote": lambda *a: " ".join(f"'{go_str(x, False)}'" for x in a if x is not None),
    "default": lambda d, *v: v[0] if v and truth(v[0]) else d,
    "empty": lambda v: not truth(v),
    "coalesce": lambda *a: next((x for x in a if truth(x)), None),
    "ternary": lambda a, b, c: a if truth(c) else b,
    "toString": lambda v: go_str(v, False), "int": _i64, "int64": _i64,
    "float64": lambda v: float(_num(v)), "atoi": _i64,
    "join": lambda sep, v: sep.join(go_str(x, False) for x in (v or [])),
    "splitList": lambda sep, s: go_str(s).split(sep),
    "list": lambda *a: list(a), "dict": lambda *a: {str(a[i]): a[i + 1] if i + 1 < len(a) else ""
                                                    for i in range(0, len(a), 2)},
}
