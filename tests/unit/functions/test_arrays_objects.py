"""Array and object functions: values, nulls, errors; array_map over a built-in."""
from __future__ import annotations

import pytest
from fnhelpers import call, check

from kuiper.api.batch import Column
from kuiper.errors import EvalError


def A(*rows: object) -> Column:
    """An array column, one list (or None) per row."""
    return Column.from_values(list(rows), "array")


def S(*rows: object) -> Column:
    """A struct column, one dict (or None) per row."""
    return Column.from_values(list(rows), "struct")


def K(v: object) -> Column:
    return Column.from_values([v])


ARRAY_CASES = [
    ("cardinality", [A([1, 2, None], None)], [3, 0], "bigint"),
    ("array_cardinality", [A([1, None, 3], None)], [2, 0], "bigint"),
    ("array_position", [A([1, 2, 3, 2], None, [True]), [2, 2, 1]], [1, -1, -1], "bigint"),
    ("array_last_position", [A([1, 2, 3, 2], ["a"]), [2, "b"]], [3, -1], "bigint"),
    ("element_at", [A([1, 2, 3], [1, 2, 3], None), [0, -1, 0]], [1, 3, None], "bigint"),
    ("element_at", [S({"a": "x"}), ["a"]], ["x"], "string"),
    ("array_contains", [A([1, 2], [1.0], None), [2, 1, 1]], [True, True, None], "boolean"),
    ("array_create", [[1, None], ["a", "b"]], [[1, "a"], [None, "b"]], "array"),
    ("array_remove", [A([1, 2, 1, 3], None), [1, 1]], [[2, 3], None], "array"),
    ("array_contains_any", [A([1, 2], [1], None), A([3, 2], [5], [1])], [True, False, False], "boolean"),
    ("array_intersect", [A([1, 1, 2, 3]), A([3, 1, 1, 4])], [[3, 1]], "array"),
    ("array_union", [A([1, 2, 2]), A([2, 3])], [[1, 2, 3]], "array"),
    ("array_except", [A([1, 2, 2, 3], None), A([3], [1])], [[1, 2], None], "array"),
    ("array_max", [A([1, 5.5, None, 3], ["2", "10"], None)], [5.5, "10", None], None),
    ("array_min", [A([4, 2, 9])], [2], "bigint"),
    ("array_avg", [A([1, 2, None, 3], [], None)], [2.0, None, None], "float"),
    ("repeat", [["ab", None], [3, 2]], [["ab", "ab", "ab"], None], "array"),
    ("sequence", [[1, 5, 1, 10], [5, 1, 10, 1], [2, -2, 3, -4]],
     [[1, 3, 5], [5, 3, 1], [1, 4, 7, 10], [10, 6, 2]], "array"),
    ("sequence", [[1, 3], [3, 1]], [[1, 2, 3], [3, 2, 1]], "array"),
    ("array_flatten", [A([[1, 4], [2, 3]], None)], [[1, 4, 2, 3], None], "array"),
    ("array_distinct", [A([1, 1, "a", "a", [1], [1]])], [[1, "a", [1]]], "array"),
    ("array_join", [A(["a", None, "c"], ["x"], None), [",", ",", ","], ["?", "?", "?"]],
     ["a,?,c", "x", None], "string"),
    ("array_join", [A(["a", None, "c"]), [","]], ["a,,c"], "string"),
    ("array_concat", [A([1], None), A([2, 3], [4]), A(None, None)], [[1, 2, 3], [4]], "array"),
    ("array_sort", [A([3, 2, "b", "a"], None)], [[2, 3, "a", "b"], None], "array"),
    ("kvpair_array_to_obj", [A([{"key": "k1", "value": 1}, {"key": "k2", "value": 2}])],
     [{"k1": 1, "k2": 2}], "struct"),
    ("array_map", [K("upper"), A(["a", "b"], None, [])], [["A", "B"], None, []], "array"),
    ("array_map", [K("abs"), A([-1, 2.5], [-3])], [[1, 2.5], [3]], "array"),
]

OBJECT_CASES = [
    ("keys", [S({"a": 1, "b": 2}, None)], [["a", "b"], None], "array"),
    ("values", [S({"a": 1, "b": 2})], [[1, 2]], "array"),
    ("items", [S({"a": 1, "b": 2})], [[["a", 1], ["b", 2]]], "array"),
    ("object", [A(["a", "b"]), A([1, 2])], [{"a": 1, "b": 2}], "struct"),
    ("zip", [A([["a", 1], ["b", 2]])], [{"a": 1, "b": 2}], "struct"),
    ("object_construct", [["a", "a"], [1, None], ["b", "b"], [2, 3]], [{"a": 1, "b": 2}, {"b": 3}], "struct"),
    ("object_concat", [S({"a": 1}, None), S({"b": 2}, {"c": 1}), S({"b": 3}, None)],
     [{"a": 1, "b": 3}, {"c": 1}], "struct"),
    ("erase", [S({"baz": [1], "bar": "hi", "foo": "emq"}, {"a": 1, "b": 2}), Column.from_values(["foo", ["a", "b"]], "any")],
     [{"baz": [1], "bar": "hi"}, {}], "struct"),
    ("object_pick", [S({"a": 1, "b": 2, "c": 3}), ["a"], A(["c", "z"])], [{"a": 1, "c": 3}], "struct"),
    ("obj_to_kvpair_array", [S({"a": 1})], [[{"key": "a", "value": 1}]], "array"),
    ("object_size", [S({"a": 1, "b": 2}, None)], [2, None], "bigint"),
]


@pytest.mark.parametrize("name,args,want,kind", ARRAY_CASES + OBJECT_CASES,
                         ids=[c[0] for c in ARRAY_CASES + OBJECT_CASES])
def test_arrays_and_objects(name: str, args: list, want: list, kind: str | None) -> None:
    check(name, args, want, kind)


def test_array_shuffle_keeps_members() -> None:
    out = call("array_shuffle", A(list(range(20)), None)).to_pylist()
    assert sorted(out[0]) == list(range(20)) and out[1] is None


@pytest.mark.parametrize(
    "name,args,message",
    [
        ("array_position", [["x"], [1]], "first argument should be array of interface{}"),
        ("element_at", [A([1]), [3]], "index out of range"),
        ("element_at", [["x"], [0]], "first argument should be []interface{} or map[string]interface{}"),
        ("array_max", [A([1, "x"])], "array contain elements that are not numeric or Boolean"),
        ("sequence", [[1], [5], [0]], "invalid step: should not be zero"),
        ("array_flatten", [A([1])], "array elements should be array"),
        ("array_join", [A([1]), [","]], "array elements should be string"),
        ("array_map", [K("nope"), A([1])], "unknown built-in function: nope."),
        ("array_map", [K("atan2"), A([1])], "function should accept exactly one argument."),
        ("keys", [["x"]], "the argument should be map[string]interface{}"),
        ("object", [A(["a"]), A([1, 2])], "the length of the arguments should be same"),
        ("zip", [A([["a"]])], "each entry should be an array of size 2"),
        ("object_construct", [[1], [2]], "key 1 should be string"),
    ],
)
def test_array_object_errors(name: str, args: list, message: str) -> None:
    with pytest.raises(EvalError) as err:
        call(name, *args)
    assert str(err.value).startswith(f"call func {name} error: {message}")
