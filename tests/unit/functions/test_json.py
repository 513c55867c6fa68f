"""JSON functions and the JsonPath evaluator."""
from __future__ import annotations

import pytest
from fnhelpers import call, check

from kuiper.api.batch import Column
from kuiper.errors import EvalError
from kuiper.functions.jsonpath import JsonPathError, compile_path

DOC = {
    "store": {
        "book": [
            {"title": "A", "price": 8.95, "author": {"age": 70}},
            {"title": "B", "price": 12.99, "author": {"age": 40}},
            {"title": "C", "price": 22.5, "author": {"age": 65}, "isbn": "x"},
        ],
        "bicycle": {"color": "red", "price": 19.95},
    },
    "people": [{"name": "a", "age": 61}, {"name": "b", "age": 20}],
}


@pytest.mark.parametrize(
    "path,want",
    [
        ("$", DOC),
        ("$.store.bicycle.color", "red"),
        ("$['store']['bicycle']['price']", 19.95),
        ("$.people[0].name", "a"),
        ("$.people[-1].age", 20),
        ("$.people[*].name", ["a", "b"]),
        ("$.people[0,1].age", [61, 20]),
        ("$.store.book[0:2].title", ["A", "B"]),
        ("$..price", [8.95, 12.99, 22.5, 19.95]),
        ("$.store.*.color", ["red"]),
        ("$.people[?(@.age > 60)].name", ["a"]),
        ("$.people[? @.age>60]", [{"name": "a", "age": 61}]),
        ("$.store.book[?(@.author.age >= 65 && @.price < 20)].title", ["A"]),
        ("$.store.book[?(@.isbn)].title", ["C"]),
        ("$.store.book[?(@.title == 'B' || @.title == \"C\")].price", [12.99, 22.5]),
        ("$.store.book[?(!(@.price > 10))].title", ["A"]),
        ("$.store.book[?(@.price * 2 > 40)].title", ["C"]),
        ("$.people[?(@.name =~ /^a/)].age", [61]),
        ("$.missing[*]", []),
        ("people[1].name", "b"),
    ],
)
def test_jsonpath(path: str, want: object) -> None:
    assert compile_path(path).query(DOC) == want


@pytest.mark.parametrize("path", ["$.missing", "$.people[5]", "$.people[", "$.a b"])
def test_jsonpath_errors(path: str) -> None:
    with pytest.raises(JsonPathError):
        compile_path(path).query(DOC)


CASES = [
    ("to_json", [[{"b": 1, "a": [1.0, "<x>"]}, None, 1.5, "s"]],
     ['{"a":[1,"\\u003cx\\u003e"],"b":1}', "null", "1.5", '"s"'], "string"),
    ("parse_json", [['{"a": 1, "b": [true, null]}', "null", None, "3.5"]],
     [{"a": 1, "b": [True, None]}, None, None, 3.5], None),
    ("json_path_query", [Column.from_values([DOC, None], "struct"), ["$.people[*].age"] * 2],
     [[61, 20], None], None),
    ("json_path_query", [[DOC], ["$.store.bicycle.color"]], ["red"], None),
    ("json_path_query_first", [[DOC], ["$.people[?(@.age < 30)].name"]], ["b"], None),
    ("json_path_exists", [[DOC, DOC, DOC, None], ["$.store", "$.nope", "$.people[?(@.age>99)]", "$"]],
     [True, False, False, False], "boolean"),
    ("json_path_query", [['{"a": {"b": 2}}'], ["$.a.b"]], [2], None),
]


@pytest.mark.parametrize("name,args,want,kind", CASES, ids=[c[0] for c in CASES])
def test_json_functions(name: str, args: list, want: list, kind: str | None) -> None:
    check(name, args, want, kind)


@pytest.mark.parametrize(
    "name,args,message",
    [
        ("parse_json", [["{bad"]], "fail to parse json"),
        ("parse_json", [[12]], "fail to convert 12 to string"),
        ("json_path_query", [[DOC], ["$.nope"]], "unknown key nope"),
        ("json_path_query_first", [[DOC], ["$.store.bicycle.color"]], "query result (red) is not an array"),
        ("to_json", [[float("nan")]], "fail to convert NaN to json"),
    ],
)
def test_json_errors(name: str, args: list, message: str) -> None:
    with pytest.raises(EvalError) as err:
        call(name, *args)
    assert str(err.value).startswith(f"call func {name} error: {message}")
