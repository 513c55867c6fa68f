"""JSON functions: to_json, parse_json and the json_path_* queries."""
from __future__ import annotations

import json
from typing import Any

from kuiper.api.batch import BOOLEAN, STRING
from kuiper.errors import EvalError
from kuiper.functions.checks import string_args
from kuiper.functions.gostyle import go_json, go_str
from kuiper.functions.jsonpath import JsonPathError, compile_path
from kuiper.functions.registry import builtin
from kuiper.functions.vector import fail, rowwise


@builtin("to_json", 1, return_kind=STRING)
@rowwise(kind=STRING, on_null="null")  # eKuiper's to_json has no nil check: nil -> "null"
def _to_json(v: Any) -> str:
    """The value as JSON text, as Go's encoding/json writes it (sorted keys)."""
    try:
        return go_json(v)
    except ValueError:
        fail(f"fail to convert {go_str(v)} to json")


@builtin("parse_json", 1, validate=string_args(0))
@rowwise
def _parse_json(text: Any) -> Any:
    """The value of a JSON text; "null" and nil give nil."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        fail(f"fail to convert {go_str(text)} to string")
    if text == "null":
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"fail to parse json: {exc}")


def _query(data: Any, path: Any) -> Any:
    if not isinstance(path, str):
        fail(f"invalid jsonPath, must be a string but got {go_str(path)}")
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            fail(f"{go_str(data)} is not a JSON value")
    try:
        return compile_path(path).query(data)
    except JsonPathError as exc:
        fail(str(exc))


_PATH_CHECK = string_args(1)


@builtin("json_path_query", 2, validate=_PATH_CHECK)
@rowwise
def _json_path_query(data: Any, path: Any) -> Any:
    """Every match of an indefinite path (a list), or the value of a definite one."""
    return _query(data, path)


@builtin("json_path_query_first", 2, validate=_PATH_CHECK)
@rowwise
def _json_path_query_first(data: Any, path: Any) -> Any:
    result = _query(data, path)
    if isinstance(result, list):
        return result[0] if result else None
    fail(f"query result ({go_str(result)}) is not an array")


@builtin("json_path_exists", 2, return_kind=BOOLEAN, validate=_PATH_CHECK)
@rowwise(kind=BOOLEAN, on_null=False)
def _json_path_exists(data: Any, path: Any) -> bool:
    try:
        result = _query(data, path)
    except EvalError:
        return False
    if isinstance(result, list):
        return len(result) > 0
    return result is not None
