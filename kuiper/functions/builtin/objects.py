"""Object (map) functions over object columns of dicts."""
from __future__ import annotations

from typing import Any

from kuiper.api.batch import ARRAY, BIGINT, STRUCT
from kuiper.functions.gostyle import go_str
from kuiper.functions.registry import builtin
from kuiper.functions.vector import fail, rowwise

_NOT_MAP = "the argument should be map[string]interface{}"


def _obj(v: Any, message: str = _NOT_MAP) -> dict[str, Any]:
    if not isinstance(v, dict):
        fail(message)
    return v


@builtin("keys", 1, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _keys(obj: Any) -> list[str]:
    return list(_obj(obj))


@builtin("values", 1, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _values(obj: Any) -> list[Any]:
    return list(_obj(obj).values())


@builtin("items", 1, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _items(obj: Any) -> list[list[Any]]:
    return [[k, v] for k, v in _obj(obj).items()]


@builtin("object", 2, return_kind=STRUCT)
@rowwise(kind=STRUCT)
def _object(keys: Any, values: Any) -> dict[str, Any]:
    """An object from an array of string keys and an array of values of the same length."""
    if not isinstance(keys, list):
        fail("first argument should be array of string")
    if not isinstance(values, list):
        fail("second argument should be array of interface{}")
    if len(keys) != len(values):
        fail("the length of the arguments should be same")
    out = {}
    for k, v in zip(keys, values, strict=True):
        if not isinstance(k, str):
            fail(f"the key {go_str(k)} should be string")
        out[k] = v
    return out


@builtin("zip", 1, return_kind=STRUCT)
@rowwise(kind=STRUCT)
def _zip(entries: Any) -> dict[str, Any]:
    """An object from [[key, value], ...] entries."""
    if not isinstance(entries, list):
        fail("the argument should be array of array")
    out = {}
    for e in entries:
        if not isinstance(e, list) or len(e) != 2:
            fail("each entry should be an array of size 2")
        if not isinstance(e[0], str):
            fail(f"the key {go_str(e[0])} should be string")
        out[e[0]] = e[1]
    return out


def _even_args(args: list[Any]) -> str | None:
    return None if len(args) % 2 == 0 else "the args should be key value pairs"


@builtin("object_construct", 0, None, return_kind=STRUCT, validate=_even_args)
@rowwise(kind=STRUCT, pass_nulls=True)
def _object_construct(*pairs: Any) -> dict[str, Any]:
    """object_construct(k1, v1, k2, v2, ...): pairs with a nil value are left out."""
    if len(pairs) % 2:
        fail("the args should be key value pairs")
    out = {}
    for i in range(0, len(pairs), 2):
        k, v = pairs[i], pairs[i + 1]
        if not isinstance(k, str):
            fail(f"key {go_str(k)} should be string")
        if v is not None:
            out[k] = v
    return out


@builtin("object_concat", 2, None, return_kind=STRUCT)
@rowwise(kind=STRUCT, pass_nulls=True)
def _object_concat(*objs: Any) -> dict[str, Any]:
    """Objects merged left to right (the last one wins a key); nil objects are skipped."""
    out: dict[str, Any] = {}
    for i, o in enumerate(objs):
        if o is None:
            continue
        if not isinstance(o, dict):
            fail(f"the argument {i + 1} should be map[string]interface{{}}")
        out.update(o)
    return out


def _key_list(k: Any, which: str) -> list[str]:
    if isinstance(k, str):
        return [k]
    if isinstance(k, list) and all(isinstance(x, str) for x in k):
        return k
    fail(f"{which} argument should be a string or an array of string")


@builtin("erase", 2, return_kind=STRUCT)
@rowwise(kind=STRUCT)
def _erase(obj: Any, k: Any) -> dict[str, Any]:
    """A copy of `obj` without key `k` (or the keys in array `k`)."""
    drop = set(_key_list(k, "the second"))
    return {key: v for key, v in _obj(obj, "the first argument should be map[string]interface{}").items()
            if key not in drop}


@builtin("object_pick", 2, None, return_kind=STRUCT)
@rowwise(kind=STRUCT)
def _object_pick(obj: Any, *keys: Any) -> dict[str, Any]:
    """A new object with only the given keys (strings or arrays of strings) that `obj` has."""
    src = _obj(obj, "the first argument should be map[string]interface{}")
    out = {}
    for k in keys:
        for key in _key_list(k, "the key"):
            if key in src:
                out[key] = src[key]
    return out


@builtin("obj_to_kvpair_array", 1, return_kind=ARRAY)
@rowwise(kind=ARRAY)
def _obj_to_kvpair_array(obj: Any) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in _obj(obj).items()]


@builtin("object_size", 1, return_kind=BIGINT)
@rowwise(kind=BIGINT)
def _object_size(obj: Any) -> int:
    return len(_obj(obj))
