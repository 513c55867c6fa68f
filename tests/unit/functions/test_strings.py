"""String functions over plain and dictionary-encoded columns: values, kinds, nulls, errors."""
from __future__ import annotations

import numpy as np
import pytest
from fnhelpers import call, check, dict_col

from kuiper.api.batch import STRING, Column
from kuiper.errors import EvalError

D = dict_col(["Hello", " World ", None, "Hello"])

CASES = [
    ("concat", [["a", "b", None], ["x", None, None], [1, 2.5, True]], ["ax1", "b2.5", "true"], STRING),
    ("concat", [D, Column.from_values(["!"])], ["Hello!", " World !", "!", "Hello!"], STRING),
    ("concat", [[[1, 2]], [[3]]], [[1, 2, 3]], "array"),
    ("endswith", [["abc", None, "abc"], ["bc", "x", None]], [True, False, False], "boolean"),
    ("startswith", [D, ["He", "He", "He", "x"]], [True, False, False, False], "boolean"),
    ("indexof", [["abcb", None, "abc"], ["b", "b", "z"]], [1, -1, -1], "bigint"),
    ("length", [["héllo", None, [1, 2], {"a": 1}]], [5, 0, 2, 1], "bigint"),
    ("length", [D], [5, 7, 0, 5], "bigint"),
    ("lower", [D], ["hello", " world ", None, "hello"], STRING),
    ("upper", [["aBc", None]], ["ABC", None], STRING),
    ("trim", [D], ["Hello", "World", None, "Hello"], STRING),
    ("ltrim", [["  a  "]], ["a  "], STRING),
    ("rtrim", [["  a \t"]], ["  a"], STRING),
    ("lpad", [["ab", None], [2, 2]], ["  ab", None], STRING),
    ("rpad", [["ab"], [3]], ["ab   "], STRING),
    ("numbytes", [["héllo", None]], [6, 0], "bigint"),
    ("regexp_matches", [["abc123", "abc", None], ["[0-9]+", "[0-9]+", "a"]], [True, False, False], "boolean"),
    ("regexp_replace", [["a1b22", None], ["[0-9]+", "x"], ["#", "y"]], ["a#b#", None], STRING),
    ("regexp_replace", [["john smith"], [r"(\w+)\s(\w+)"], ["$2, $1"]], ["smith, john"], STRING),
    ("regexp_replace", [["ab"], ["(?P<x>a)"], ["${x}$$"]], ["a$b"], STRING),
    ("regexp_substr", [["ab123cd45", "abc"], ["[0-9]+", "[0-9]+"]], ["123", ""], STRING),
    ("regexp_substring", [["x9"], ["[0-9]"]], ["9"], STRING),
    ("reverse", [["abc", None, [1, 2]]], ["cba", None, [2, 1]], None),
    ("substring", [["abcdef", "abcdef", "ab", None], [2, 2, 5, 1]], ["cdef", "cdef", "", None], STRING),
    ("substring", [["abcdef", "abcdef"], [1, 2], [3, 10]], ["bc", "cdef"], STRING),
    ("split_value", [["/test/device001/message"] * 3, ["/"] * 3, [0, 3, -1]],
     ["", "message", "message"], STRING),
    ("format", [[12332.1234567, 1.5], [4, 0]], ["12332.1235", "2"], STRING),
    ("format", [[12332.1234567, -1234567.891], [4, 2], ["en_US", "en_US"]],
     ["12,332.1234", "-1,234,567.89"], STRING),
]


@pytest.mark.parametrize("name,args,want,kind", CASES, ids=[c[0] for c in CASES])
def test_strings(name: str, args: list, want: list, kind: str | None) -> None:
    check(name, args, want, kind)


def test_dictionary_strings_are_mapped_once_per_distinct_value() -> None:
    n, distinct = 1_000_000, 500
    dictionary = np.array([f"Device-{i}" for i in range(distinct)], dtype=object)
    codes = (np.arange(n) % distinct).astype(np.int32)
    col = Column(STRING, codes, None, dictionary)
    out = call("lower", col)
    assert out.dictionary is not None and len(out.dictionary) == distinct
    assert out.values is not codes and np.array_equal(out.values, codes)
    assert out.decoded()[[0, 1, n - 1]].tolist() == ["device-0", "device-1", f"device-{distinct - 1}"]


def test_dictionary_results_are_deduplicated() -> None:
    out = call("lower", dict_col(["A", "a", "B", "A"]))
    assert len(out.dictionary) == 2
    assert out.to_pylist() == ["a", "a", "b", "a"]


def test_unused_dictionary_entries_are_not_evaluated() -> None:
    col = Column(STRING, np.array([0, 0], dtype=np.int32), None, np.array(["/a/b", "x"], dtype=object))
    out = call("split_value", col, ["/", "/"], [2, 2])
    assert out.to_pylist() == ["b", "b"]  # "x" has no part 2 but no row uses it


@pytest.mark.parametrize(
    "name,args,message",
    [
        ("substring", [["abc"], [-1]], "start index must be a positive number"),
        ("substring", [["abc"], [2], [1]], "start index must be smaller than end index"),
        ("substring", [["abc"], [1.5]], "cannot convert float64(1.5) to int"),
        ("split_value", [["a/b"], ["/"], [5]], "5 out of index array (size = 2)"),
        ("lpad", [["a"], [-1]], "strings: negative Repeat count"),
        ("format", [[1.5], [-1]], "the decimal places must greater or equal than 0"),
        ("format", [[1.5], [2], ["fr_FR"]], "not support for the specific locale"),
        ("regexp_matches", [["a"], ["("]], "error parsing regexp"),
    ],
)
def test_string_errors(name: str, args: list, message: str) -> None:
    with pytest.raises(EvalError) as err:
        call(name, *args)
    assert str(err.value).startswith(f"call func {name} error: {message}")
