"""Mathematical functions: vectorized over float64/int64 columns, NaN results become null."""
from __future__ import annotations

import string
from typing import Any

import numpy as np

from kuiper.api.batch import BIGINT, FLOAT, STRING, Column
from kuiper.functions.checks import all_of, int_args, number_args, string_args
from kuiper.functions.gostyle import go_repr, go_str
from kuiper.functions.registry import builtin
from kuiper.functions.vector import (
    and_valid,
    broadcast,
    constant_column,
    fail,
    finite_valid,
    float_values,
    int_values,
    numeric_binary,
    numeric_unary,
    pylist,
    rowwise,
)

_ONE_NUMBER = number_args(0)
_TWO_NUMBERS = number_args(0, 1)

_UNARY = {
    "acos": np.arccos,
    "asin": np.arcsin,
    "atan": np.arctan,
    "cos": np.cos,
    "cosh": np.cosh,
    "exp": np.exp,
    "ln": np.log,
    "sin": np.sin,
    "sinh": np.sinh,
    "sqrt": np.sqrt,
    "tan": np.tan,
    "tanh": np.tanh,
    "degrees": np.degrees,
    "radians": np.radians,
}
for _name, _ufunc in _UNARY.items():
    builtin(_name, 1, return_kind=FLOAT, validate=_ONE_NUMBER)(numeric_unary(_ufunc))

builtin("ceiling", 1, aliases=("ceil",), return_kind=FLOAT, validate=_ONE_NUMBER)(
    numeric_unary(np.ceil, nan_to_null=False)
)
builtin("floor", 1, return_kind=FLOAT, validate=_ONE_NUMBER)(numeric_unary(np.floor, nan_to_null=False))
builtin("atan2", 2, return_kind=FLOAT, validate=_TWO_NUMBERS)(numeric_binary(np.arctan2))
builtin("power", 2, aliases=("pow",), return_kind=FLOAT, validate=_TWO_NUMBERS)(
    numeric_binary(np.power)
)
# math.Mod: the result takes the dividend's sign (C fmod); x mod 0 is NaN -> null
builtin("mod", 2, return_kind=FLOAT, validate=_TWO_NUMBERS)(numeric_binary(np.fmod))


@builtin("abs", 1, validate=_ONE_NUMBER)
def _abs(args: list[Column], n: int, ctx: Any) -> Column:
    """Integers stay integers, floats stay floats."""
    col = broadcast(args[0], n)
    if col.kind in (BIGINT, FLOAT):
        return Column(col.kind, np.abs(col.values), col.valid)
    return _abs_any(args, n, ctx)  # strings, booleans, mixed: eKuiper's per-value type switch


@rowwise
def _abs_any(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | float):
        fail("only float64 & int type are supported")
    return abs(v)


@builtin("cot", 1, return_kind=FLOAT, validate=_ONE_NUMBER)
def _cot(args: list[Column], n: int, ctx: Any) -> Column:
    vals, valid = float_values(args[0], n)
    with np.errstate(all="ignore"):
        out = np.cos(vals) / np.sin(vals)
    valid = finite_valid(out, valid)
    bad = np.isinf(out) if valid is None else (np.isinf(out) & valid)
    if bad.any():
        fail("out-of-range error")
    return Column(FLOAT, out, valid)


@builtin("log", 1, 2, return_kind=FLOAT, validate=_ONE_NUMBER)
def _log(args: list[Column], n: int, ctx: Any) -> Column:
    """log(x) is base 10; log(b, x) is base b. Non-finite results (x <= 0, b <= 1) are null."""
    a, va = float_values(args[0], n)
    with np.errstate(all="ignore"):
        if len(args) == 1:
            out = np.log10(a)
            valid = va
        else:
            x, vx = float_values(args[1], n)
            out = np.log(x) / np.log(a)
            valid = and_valid(va, vx)
    return Column(FLOAT, out, finite_valid(out, valid, nan_only=False))


@builtin("pi", 0, return_kind=FLOAT)
def _pi(args: list[Column], n: int, ctx: Any) -> Column:
    return constant_column(float(np.pi), n, FLOAT)


@builtin("rand", 0, return_kind=FLOAT)
def _rand(args: list[Column], n: int, ctx: Any) -> Column:
    return Column(FLOAT, np.random.random(n))


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


@builtin("round", 1, 2, return_kind=FLOAT, validate=_TWO_NUMBERS)
def _round(args: list[Column], n: int, ctx: Any) -> Column:
    """Go's math.Round (half away from zero), optionally to `precision` decimal places."""
    vals, valid = float_values(args[0], n)
    with np.errstate(all="ignore"):
        if len(args) == 1:
            return Column(FLOAT, _round_half_away(vals), valid)
        prec, vp = int_values(args[1], n, strict=False)
        factor = np.power(10.0, prec.astype(np.float64))
        scaled = vals * factor
        out = _round_half_away(scaled) / factor
        # very large scales overflow float64; the value already has no digits to round there
        wide = ~np.isfinite(scaled) | ~np.isfinite(factor)
        out = np.where(wide, vals, out)
    return Column(FLOAT, out, and_valid(valid, vp))


@builtin("sign", 1, return_kind=BIGINT, validate=_ONE_NUMBER)
def _sign(args: list[Column], n: int, ctx: Any) -> Column:
    vals, valid = float_values(args[0], n)
    out = np.sign(np.nan_to_num(vals, nan=0.0)).astype(np.int64)
    return Column(BIGINT, out, valid)


def _bitwise(op: Any, unary: bool = False) -> Any:
    def exec_batch(args: list[Column], n: int, ctx: Any) -> Column:
        a, va = _strict_ints(args[0], n, "the first operand" if not unary else "operand")
        if unary:
            return Column(BIGINT, op(a), va)
        b, vb = _strict_ints(args[1], n, "the second operand")
        return Column(BIGINT, op(a, b), and_valid(va, vb))

    return exec_batch


def _strict_ints(col: Column, n: int, which: str) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        return int_values(col, n)
    except Exception:
        for v in pylist(col, n):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)
                                  or (isinstance(v, float) and not v.is_integer())):
                fail(f"Expect int type for {which} but got {go_str(v)}")
        raise


_TWO_INTS = int_args(0, 1)
builtin("bitand", 2, return_kind=BIGINT, validate=_TWO_INTS)(_bitwise(np.bitwise_and))
builtin("bitor", 2, return_kind=BIGINT, validate=_TWO_INTS)(_bitwise(np.bitwise_or))
builtin("bitxor", 2, return_kind=BIGINT, validate=_TWO_INTS)(_bitwise(np.bitwise_xor))
builtin("bitnot", 1, return_kind=BIGINT, validate=int_args(0))(_bitwise(np.invert, unary=True))


_DIGITS = string.digits + string.ascii_uppercase


def _valid_prefix(s: str, base: int) -> str:
    """The longest leading part of `s` that parses in `base` (an optional sign first)."""
    n = 0
    for i, c in enumerate(s):
        if c.isalnum() and c.isascii():
            if _DIGITS.index(c.upper()) < base:
                n = i + 1
                continue
            break
        if c in "+-" and i == 0:
            continue
        break
    if n > 1 and s[0] == "+":
        return s[1:n]
    return s[:n]


def _to_base(v: int, base: int) -> str:
    if v == 0:
        return "0"
    out = []
    while v:
        v, r = divmod(v, base)
        out.append(_DIGITS[r])
    return "".join(reversed(out))


def _int_arg(v: Any) -> int:
    """cast.ToInt: ints, integral floats and integer strings; else eKuiper's error."""
    if isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            pass
    fail(f"cannot convert {go_repr(v)} to int")


@builtin("conv", 3, return_kind=STRING, validate=all_of(string_args(0), int_args(1, 2)))
@rowwise(kind=STRING)
def _conv(num: Any, from_base: Any, to_base: Any) -> str | None:
    """MySQL's CONV: a negative from-base reads signed, a negative to-base writes signed."""
    s = go_str(num).strip()
    fb, tb = _int_arg(from_base), _int_arg(to_base)
    signed, ignore_sign = fb < 0, tb < 0
    fb, tb = abs(fb), abs(tb)
    if not (2 <= fb <= 36 and 2 <= tb <= 36):
        return None
    s = _valid_prefix(s, fb)
    if not s or s in "+-":
        return "0"
    negative = s.startswith("-")
    if negative:
        s = s[1:]
    try:
        val = int(s, fb)
    except ValueError:
        fail(f"cannot parse {go_repr(num)} in base {fb}")
    mask = (1 << 64) - 1
    if val > mask:
        fail(f'strconv.ParseUint: parsing "{s}": value out of range')
    if signed:
        val = min(val, 1 << 63) if negative else min(val, (1 << 63) - 1)
    if negative:
        val = (-val) & mask
    negative = val >= 1 << 63
    if ignore_sign and negative:
        val = (-val) & mask
    out = _to_base(val, tb)
    return "-" + out if negative and ignore_sign else out
