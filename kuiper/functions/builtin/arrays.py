"""Array functions over object columns of lists."""
from __future__ import annotations

import json
import random
from typing import Any

from kuiper.api.batch import ARRAY, BIGINT, BOOLEAN, FLOAT, STRING, STRUCT, Column
from kuiper.functions.checks import literal_check
from kuiper.functions.gostyle import go_str
from kuiper.functions.registry import LITERAL, builtin
from kuiper.functions.vector import broadcast, fail, make_column, pylist, rowwise, scalar_arg

_NOT_ARRAY = "first argument should be array of interface{}"
_SECOND_NOT_ARRAY = "second argument should be array of interface{}"


def _array(v: Any, message: str = _NOT_ARRAY) -> list[Any]:
    if not isinstance(v, list):
        fail(message)
    return v


def _same(a: Any, b: Any) -> bool:
    """Value equality that keeps booleans apart from numbers (1 == 1.0, True != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _key(v: Any) -> Any:
    """A hashable identity for set operations (lists and dicts by their JSON form)."""
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, int | float):
        return ("n", float(v))
    if isinstance(v, list | dict):
        return ("j", json.dumps(v, sort_keys=True, default=str))
    return ("v", v)


@builtin("cardinality", 1, return_kind=BIGINT)
@rowwise(kind=BIGINT, on_null=0)
def _cardinality(v: Any) -> int:
    """Members of an array; 0 for nil or a non-array."""
    return len(v) if isinstance(v, list) else 0


@builtin("array_cardinality", 1, return_kind=BIGINT)
@rowwise(kind=BIGINT, on_null=0)
def _array_cardinality(v: Any) -> int:
    """Non-null members of an array; 0 for nil."""
    return sum(1 for x in _array(v) if x is not None)


@builtin("array_position", 2, return_kind=BIGINT)
@rowwise(kind=BIGINT, pass_nulls=True)
def _array_position(arr: Any, value: Any) -> int:
    if arr is None:
        return -1
    return next((i for i, x in enumerate(_array(arr)) if _same(x, value)), -1)


@builtin("array_last_position", 2, return_kind=BIGINT)
@rowwise(kind=BIGINT, pass_nulls=True)
def _array_last_position(arr: Any, value: Any) -> int:
    if arr is None:
        return -1
    items = _array(arr)
    return next((i for i in range(len(items) - 1, -1, -1) if _same(items[i], value)), -1)


@builtin("element_at", 2)
@rowwise
def _element_at(container: Any, index: Any) -> Any:
    """arr[index] (negative from the end) or obj[key]."""
    if isinstance(container, list):
        if isinstance(index, bool) or not isinstance(index, int | float) or (
            isinstance(index, float) and not index.is_integer()
        ):
            fail(f"cannot convert {go_str(index)} to int")
        i = int(index)
        if i >= len(container) or -i > len(container):
            fail("index out of range")
        return container[i]
    if isinstance(container, dict):
        if not isinstance(index, str):
            fail("second argument should be string")
        return container.get(index)
    fail("first argument should be []interface{} or map[string]interface{}")


@builtin("array_contains", 2, return_kind=BOOLEAN)
@rowwise(kind=BOOLEAN, pass_nulls=True)
def _array_contains(arr: Any, value: Any) -> bool | None:
    if arr is None:
        return None
    return any(_same(x, value) for x in _array(arr))


@builtin("array_create", 0, None, return_kind=ARRAY)
@rowwise(kind=ARRAY, pass_nulls=True)
def _array_create(*values: Any) -> list[Any]:
    return list(values)


@builtin("array_remove", 2, return_kind=ARRAY)
@rowwise(kind=ARRAY, pass_nulls=True)
def _array_remove(arr: Any, value: Any) -> list[Any] | None:
    if arr is None:
        return None
    return [x for x in _array(arr) if not _same(x, value)]


@builtin("array_contains_any", 2, return_kind=BOOLEAN)
@rowwise(kind=BOOLEAN, pass_nulls=True)
def _array_contains_any(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    keys = {_key(x) for x in _array(b, _SECOND_NOT_ARRAY)}
    return any(_key(x) in keys for x in _array(a))


def _dedup(items: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for x in items:
        k = _key(x)
        if k not in seen:
            seen.add(k)
            out.append(x)
    return out


@builtin("array_intersect", 2, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _array_intersect(a: Any, b: Any) -> list[Any]:
    keys = {_key(x) for x in _array(a)}
    return _dedup([x for x in _array(b, _SECOND_NOT_ARRAY) if _key(x) in keys])


@builtin("array_union", 2, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _array_union(a: Any, b: Any) -> list[Any]:
    return _dedup(_array(a) + _array(b, _SECOND_NOT_ARRAY))


@builtin("array_except", 2, return_kind=ARRAY)
@rowwise(kind=ARRAY, pass_nulls=True)
def _array_except(a: Any, b: Any) -> list[Any] | None:
    if a is None:
        return None
    drop = {_key(x) for x in (_array(b, _SECOND_NOT_ARRAY) if b is not None else [])}
    return _dedup([x for x in _array(a) if _key(x) not in drop])


def _as_number(v: Any) -> float:
    """cast.ToFloat64(v, CONVERT_ALL) for array_max/min."""
    if isinstance(v, bool | int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    fail("array contain elements that are not numeric or Boolean")


def _extreme(arr: Any, better: Any) -> Any:
    best, best_val = None, None
    for x in _array(arr):
        if x is None:
            continue
        f = _as_number(x)
        if best_val is None or better(f, best_val):
            best, best_val = x, f
    return best


@builtin("array_max", 1)
@rowwise
def _array_max(arr: Any) -> Any:
    """The greatest member (nulls ignored), as it is in the array."""
    return _extreme(arr, lambda a, b: a > b)


@builtin("array_min", 1)
@rowwise
def _array_min(arr: Any) -> Any:
    return _extreme(arr, lambda a, b: a < b)


@builtin("array_avg", 1, return_kind=FLOAT)
@rowwise(kind=FLOAT)
def _array_avg(arr: Any) -> float | None:
    nums = [_as_number(x) for x in _array(arr) if x is not None]
    return sum(nums) / len(nums) if nums else None


def _int_arg(v: Any, message: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        fail(message)
    return v


@builtin("repeat", 2, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _repeat(value: Any, count: Any) -> list[Any]:
    return [value] * max(0, _int_arg(count, "second argument should be int"))


@builtin("sequence", 2, 3, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _sequence(start: Any, stop: Any, step: Any = None) -> list[int]:
    """Integers from start to stop (inclusive) by step (default 1 or -1)."""
    a = _int_arg(start, "first argument should be int")
    b = _int_arg(stop, "second argument should be int")
    if step is None:
        s = 1 if a < b else -1
    else:
        s = _int_arg(step, "third argument should be int")
        if s == 0:
            fail("invalid step: should not be zero")
    count = int((b - a) / s) + 1
    return [a + i * s for i in range(max(0, count))]


@builtin("array_flatten", 1, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _array_flatten(arr: Any) -> list[Any]:
    out: list[Any] = []
    for x in _array(arr):
        if not isinstance(x, list):
            fail("array elements should be array")
        out.extend(x)
    return out


@builtin("array_distinct", 1, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _array_distinct(arr: Any) -> list[Any]:
    return _dedup(_array(arr))


@builtin("array_join", 2, 3, return_kind=STRING)
@rowwise(kind=STRING, pass_nulls=True)
def _array_join(arr: Any, delimiter: Any, null_replacement: Any = None) -> str | None:
    """Members joined by `delimiter`; nulls become `null_replacement` (default "")."""
    if arr is None:
        return None
    if not isinstance(delimiter, str):
        fail("second argument should be string")
    if null_replacement is not None and not isinstance(null_replacement, str):
        fail("third argument should be string")
    parts = []
    for x in _array(arr):
        if x is None:
            parts.append(null_replacement or "")
        elif not isinstance(x, str):
            fail("array elements should be string")
        else:
            parts.append(x)
    return delimiter.join(parts)


@builtin("array_shuffle", 1, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _array_shuffle(arr: Any) -> list[Any]:
    out = list(_array(arr))
    random.shuffle(out)
    return out


@builtin("array_concat", 1, None, return_kind=ARRAY)
@rowwise(kind=ARRAY, pass_nulls=True)
def _array_concat(*arrays: Any) -> list[Any]:
    """Arrays one after another; a nil array counts as empty."""
    out: list[Any] = []
    for i, a in enumerate(arrays):
        if a is None:
            continue
        if not isinstance(a, list):
            fail(f"argument {i + 1} should be array of interface{{}}")
        out.extend(a)
    return out


def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (4, 0)
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, int | float):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    return (3, json.dumps(v, sort_keys=True, default=str))


@builtin("array_sort", 1, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _array_sort(arr: Any) -> list[Any]:
    """A sorted copy: numbers, then strings, then booleans, then the rest."""
    return sorted(_array(arr), key=_sort_key)


@builtin("kvpair_array_to_obj", 1, return_kind=STRUCT)
@rowwise(kind=STRUCT)
def _kvpair_array_to_obj(arr: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for x in _array(arr):
        if not isinstance(x, dict) or "key" not in x or "value" not in x:
            fail("array elements should be objects with key and value")
        if not isinstance(x["key"], str):
            fail("the key of the key-value pair should be string")
        out[x["key"]] = x["value"]
    return out


def _function_name(v: Any) -> str | None:
    return None if isinstance(v, str) else "Expect string type for parameter 1"


@builtin("array_map", 2, return_kind=ARRAY, arg_modes=(LITERAL,),
         validate=literal_check(0, _function_name))
def _array_map(args: list[Column], n: int, ctx: Any) -> Column:
    """array_map(fn_name, arr): a one-argument scalar function applied to every member."""
    from kuiper.functions.registry import default_registry

    is_const, name = scalar_arg(args[0], n)
    if not is_const or not isinstance(name, str):
        fail("first argument should be string")
    fdef = default_registry.lookup(name)
    if fdef is None or fdef.name.lower() != name.lower():
        fail(f"unknown built-in function: {name}.")
    if fdef.is_aggregate:
        fail("first argument should be a scalar function.")
    if fdef.arity_error(1):
        fail("function should accept exactly one argument.")
    arrays = pylist(broadcast(args[1], n), n)
    flat: list[Any] = []
    bounds = [0]
    for a in arrays:
        if a is not None:
            flat.extend(_array(a, _SECOND_NOT_ARRAY))
        bounds.append(len(flat))
    mapped = fdef.exec_batch([make_column(flat)], len(flat), ctx).to_pylist() if flat else []
    out = [None if a is None else mapped[bounds[i] : bounds[i + 1]] for i, a in enumerate(arrays)]
    return make_column(out, ARRAY)

