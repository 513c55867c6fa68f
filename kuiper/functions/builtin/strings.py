"""String functions: predicates, lengths, case and trim over whole columns (Cython kernels,
kuiper.functions.strvec); the others once per distinct string of a dictionary-encoded column."""
from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from kuiper._core import strfuncs
from kuiper.api.batch import BIGINT, BOOLEAN, STRING, Column
from kuiper.functions.checks import all_of, int_args, literal_check, number_args, string_args
from kuiper.functions.gostyle import format_float_f, go_str
from kuiper.functions.registry import builtin
from kuiper.functions.strvec import string_kernel
from kuiper.functions.vector import apply_rows, fail, rowwise, scalar_arg


def _strict_int(v: Any) -> int:
    """cast.ToInt(v, STRICT): ints and integral floats."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        fail(f"cannot convert {_go_type_value(v)} to int")
    if isinstance(v, float):
        if not v.is_integer():
            fail(f"cannot convert {_go_type_value(v)} to int")
        return int(v)
    return v


def _go_type_value(v: Any) -> str:
    from kuiper.functions.gostyle import go_repr

    return go_repr(v)


@builtin("concat", 1, None)
def _concat(args: list[Column], n: int, ctx: Any) -> Column:
    """Strings (nil counts as ""), or arrays when every argument is an array."""
    if all(a.kind == "array" for a in args):
        return apply_rows(_concat_arrays, args, n, "array", pass_nulls=True)
    parts = _string_parts(args, n)
    if parts is not None:  # strings only: one pass in C
        return Column(STRING, strfuncs.concat(parts, n))
    return apply_rows(_concat_strings, args, n, STRING, pass_nulls=True)


def _string_parts(args: list[Column], n: int) -> list[Any] | None:
    """The arguments as strfuncs.concat parts (a constant str, or string values and their
    validity), or None when one is not a string."""
    parts: list[Any] = []
    for arg in args:
        if arg.kind != STRING:
            return None
        if len(arg) != n:
            is_const, value = scalar_arg(arg, n)
            if not is_const:
                return None
            parts.append("" if value is None else value)
        else:
            parts.append((np.asarray(arg.decoded(), dtype=object), arg.valid))
    return parts


def _concat_strings(*vals: Any) -> str:
    return "".join(go_str(v) for v in vals)


def _concat_arrays(*vals: Any) -> list[Any]:
    out: list[Any] = []
    for v in vals:
        if v is not None:
            out.extend(v)
    return out


_TWO_STRINGS = string_args(0, 1)


def _byte_index(s: str, sub: str) -> int:
    """Go's strings.Index: the UTF-8 byte offset of the first `sub`, -1 when absent."""
    at = s.find(sub)
    return at if at <= 0 else len(s[:at].encode())


builtin("endswith", 2, return_kind=BOOLEAN, validate=_TWO_STRINGS)(string_kernel(
    strfuncs.ends_with, BOOLEAN, on_null=False,
    fallback=rowwise(lambda s, x: go_str(s).endswith(go_str(x)), BOOLEAN, on_null=False)))
builtin("startswith", 2, return_kind=BOOLEAN, validate=_TWO_STRINGS)(string_kernel(
    strfuncs.starts_with, BOOLEAN, on_null=False,
    fallback=rowwise(lambda s, x: go_str(s).startswith(go_str(x)), BOOLEAN, on_null=False)))
builtin("indexof", 2, return_kind=BIGINT, validate=_TWO_STRINGS)(string_kernel(
    strfuncs.find, BIGINT, on_null=-1,
    fallback=rowwise(lambda s, x: _byte_index(go_str(s), go_str(x)), BIGINT, on_null=-1)))


@rowwise(kind=BIGINT, on_null=0)
def _length(v: Any) -> int:
    """Characters of a string; members of an array or object."""
    if isinstance(v, list | dict):
        return len(v)
    return len(go_str(v))


builtin("length", 1, return_kind=BIGINT)(
    string_kernel(strfuncs.str_len, BIGINT, on_null=0, fallback=_length))

_ONE_STRING = string_args(0)

for _name, _fn, _op in (
    ("lower", str.lower, strfuncs.lower),
    ("upper", str.upper, strfuncs.upper),
    ("trim", str.strip, strfuncs.strip),
    ("ltrim", str.lstrip, functools.partial(strfuncs.strip, side=1)),
    ("rtrim", str.rstrip, functools.partial(strfuncs.strip, side=2)),
):
    builtin(_name, 1, return_kind=STRING, validate=_ONE_STRING)(string_kernel(
        _op, STRING, fallback=rowwise(lambda v, f=_fn: f(go_str(v)), STRING)))

builtin("numbytes", 1, return_kind=BIGINT, validate=_ONE_STRING)(string_kernel(
    strfuncs.utf8_len, BIGINT, on_null=0,
    fallback=rowwise(lambda v: len(go_str(v).encode()), BIGINT, on_null=0)))

_STR_INT = all_of(string_args(0), int_args(1))


def _spaces(count: Any) -> str:
    k = _strict_int(count)
    if k < 0:
        fail("strings: negative Repeat count")
    return " " * k


builtin("lpad", 2, return_kind=STRING, validate=_STR_INT)(
    rowwise(lambda s, k: _spaces(k) + go_str(s), STRING)
)
builtin("rpad", 2, return_kind=STRING, validate=_STR_INT)(
    rowwise(lambda s, k: go_str(s) + _spaces(k), STRING)
)


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        fail(f"error parsing regexp: {exc}: `{pattern}`")


_GO_TEMPLATE = re.compile(r"\$(\$|\{(\w+)\}|(\w+))")


@functools.lru_cache(maxsize=256)
def _template(repl: str) -> str:
    """Go's Expand syntax ($1, ${name}, $$) as a Python replacement template."""
    out, pos = [], 0
    for m in _GO_TEMPLATE.finditer(repl):
        out.append(repl[pos : m.start()].replace("\\", "\\\\"))
        if m.group(1) == "$":
            out.append("$")
        else:
            name = m.group(2) or m.group(3)
            out.append(f"\\g<{name}>")
        pos = m.end()
    out.append(repl[pos:].replace("\\", "\\\\"))
    return "".join(out)


def _replace(s: Any, pattern: Any, repl: Any) -> str:
    rx = _regex(go_str(pattern))
    try:
        return rx.sub(_template(go_str(repl)), go_str(s))
    except (re.error, IndexError):  # a group the pattern lacks expands to "" in Go
        return rx.sub(lambda m: _expand_lenient(m, go_str(repl)), go_str(s))


def _expand_lenient(m: re.Match[str], repl: str) -> str:
    def one(g: re.Match[str]) -> str:
        if g.group(1) == "$":
            return "$"
        name = g.group(2) or g.group(3)
        try:
            return m.group(int(name) if name.isdigit() else name) or ""
        except IndexError:
            return ""

    return _GO_TEMPLATE.sub(one, repl)


builtin("regexp_matches", 2, return_kind=BOOLEAN, validate=_TWO_STRINGS)(
    rowwise(lambda s, p: _regex(go_str(p)).search(go_str(s)) is not None, BOOLEAN, on_null=False)
)
builtin("regexp_replace", 3, return_kind=STRING, validate=string_args(0, 1, 2))(
    rowwise(_replace, STRING)
)


def _substr_match(s: Any, p: Any) -> str:
    m = _regex(go_str(p)).search(go_str(s))
    return m.group(0) if m else ""


builtin("regexp_substr", 2, aliases=("regexp_substring",), return_kind=STRING, validate=_TWO_STRINGS)(
    rowwise(_substr_match, STRING)
)


@builtin("reverse", 1)
@rowwise
def _reverse(v: Any) -> Any:
    """Characters of a string (or members of an array) in reverse order."""
    if isinstance(v, list):
        return v[::-1]
    return go_str(v)[::-1]


def _substring_checks(args: list[Any]) -> str | None:
    start = args[1] if len(args) > 1 else None
    end = args[2] if len(args) > 2 else None
    if isinstance(start, int) and not isinstance(start, bool):
        if start < 0:
            return "The start index should not be a nagtive integer."
        if isinstance(end, int) and not isinstance(end, bool) and end < start:
            return "The end index should be larger than start index."
    return None


@builtin("substring", 2, 3, return_kind=STRING,
         validate=all_of(string_args(0), int_args(1, 2), _substring_checks))
@rowwise(kind=STRING)
def _substring(s: Any, start: Any, end: Any = None) -> str:
    """Characters [start, end) (0-based); an end past the string stops at its end."""
    text = go_str(s)
    a = _strict_int(start)
    if a < 0:
        fail("start index must be a positive number")
    if end is None:
        return text[a:] if a <= len(text) else ""
    b = _strict_int(end)
    if b < 0:
        fail("end index must be a positive number")
    if a > b:
        fail("start index must be smaller than end index")
    return text[a:b] if a <= len(text) else ""


def _nonnegative_index(v: Any) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool) and v < 0:
        return "The index should not be a nagtive integer."
    return None


@builtin("split_value", 3, return_kind=STRING,
         validate=all_of(string_args(0, 1), int_args(2), literal_check(2, _nonnegative_index)))
@rowwise(kind=STRING)
def _split_value(s: Any, sep: Any, index: Any) -> str:
    """Part `index` of `s` split by `sep`; a negative index counts from the end."""
    text, by = go_str(s), go_str(sep)
    parts = text.split(by) if by else list(text)
    i = _strict_int(index)
    if i >= len(parts) or i < -len(parts):
        fail(f"{i} out of index array (size = {len(parts)})")
    return parts[i]


def _format_en_us(number: str, precision: str) -> str:
    """eKuiper's en_US number format: thousands commas, decimals cut (not rounded) to precision."""
    places = int(re.match(r"\d*", precision).group(0) or "0")  # type: ignore[union-attr]
    neg = number.startswith("-")
    m = re.match(r"(\d*)(?:\.(\d*))?", number[1:] if neg else number)
    whole, frac = (m.group(1), m.group(2) or "") if m else ("", "")
    if not whole and not frac:
        return "0" + ("." + "0" * places if places else "")
    out = ("-" if neg else "") + f"{int(whole or '0'):,}"
    if places:
        out += "." + frac[:places].ljust(places, "0")
    return out


@builtin("format", 2, 3, return_kind=STRING,
         validate=all_of(number_args(0), int_args(1), string_args(2)))
@rowwise(kind=STRING)
def _format(x: Any, places: Any, locale: Any = None) -> str:
    """`x` with `places` decimals ('%.Nf'), or in a locale's style (en_US: 12,332.1234)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        fail(f"cannot convert {_go_type_value(x)} to float64")
    d = _strict_int(places)
    if d < 0:
        fail("the decimal places must greater or equal than 0")
    if locale is None:
        return f"{float(x):.{d}f}"
    if go_str(locale) == "en_US":
        # Go renders the number with %v (1.2e+06 for big values); the plain form avoids that
        return _format_en_us(str(x) if isinstance(x, int) else format_float_f(x), go_str(places))
    if go_str(locale) == "zh_CN":
        fail("not implemented")
    fail("not support for the specific locale")

