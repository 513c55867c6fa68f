"""Math functions: values, result kinds, nulls, NaN -> null, errors."""
from __future__ import annotations

import math

import pytest
from fnhelpers import call, check

from kuiper.api.batch import Column
from kuiper.errors import EvalError

CASES = [
    ("abs", [[-3, 4, None]], [3, 4, None], "bigint"),
    ("abs", [[-1.5, 2.0]], [1.5, 2.0], "float"),
    ("abs", [Column.from_values([-2, -2.5, None], "any")], [2, 2.5, None], None),
    ("acos", [[1.0, 2.0, None]], [0.0, None, None], "float"),
    ("asin", [[0, 1]], [0.0, math.pi / 2], "float"),
    ("atan", [[0.0]], [0.0], "float"),
    ("atan2", [[1.0, None], [1.0, 2.0]], [math.pi / 4, None], "float"),
    ("ceil", [[1.2, -1.2, 3]], [2.0, -1.0, 3.0], "float"),
    ("ceiling", [[0.5]], [1.0], "float"),
    ("floor", [[1.8, -1.2]], [1.0, -2.0], "float"),
    ("cos", [[0]], [1.0], "float"),
    ("cosh", [[0]], [1.0], "float"),
    ("cot", [[math.pi / 4]], [1.0], "float"),
    ("degrees", [[math.pi]], [180.0], "float"),
    ("radians", [[180]], [math.pi], "float"),
    ("exp", [[0, 1]], [1.0, math.e], "float"),
    ("ln", [[math.e, -1.0]], [1.0, None], "float"),
    ("log", [[100, 0, -5]], [2.0, None, None], "float"),
    ("log", [[2, 2, 1], [8, None, 5]], [3.0, None, None], "float"),
    ("mod", [[7, -7, 5.5, 1], [3, 3, 2, 0]], [1.0, -1.0, 1.5, None], "float"),
    ("power", [[2, 4], [3, 0.5]], [8.0, 2.0], "float"),
    ("pow", [[-8], [1 / 3]], [None], "float"),
    ("round", [[1.5, -1.5, 2.4, None]], [2.0, -2.0, 2.0, None], "float"),
    ("round", [[3.14159, 1234.5], [2, -2]], [3.14, 1200.0], "float"),
    ("sign", [[-3.5, 0, 9, None]], [-1, 0, 1, None], "bigint"),
    ("sin", [[0]], [0.0], "float"),
    ("sinh", [[0]], [0.0], "float"),
    ("sqrt", [[4, -1]], [2.0, None], "float"),
    ("tan", [[0.0]], [0.0], "float"),
    ("tanh", [[0.0]], [0.0], "float"),
    ("bitand", [[12, None], [10, 1]], [8, None], "bigint"),
    ("bitor", [[12], [10]], [14], "bigint"),
    ("bitxor", [[12], [10.0]], [6], "bigint"),
    ("bitnot", [[0, 5]], [-1, -6], "bigint"),
    ("conv", [["a", "6E", "-17", "-17", "+18aZ", "18446744073709551615", "12F", "  FF ",
               "aa", " A", "random_str", "a6a", "a6a"],
              [16, 18, 10, 10, 7, -10, -10, 16, 10, -10, 10, 10, 1],
              [2, 8, -18, 18, 36, 16, 16, 10, 2, 16, 8, 8, 8]],
     ["1010", "172", "-H", "2D3FGB0B9CG4BD1H", "1", "7FFFFFFFFFFFFFFF", "C", "255", "0", "0",
      "0", "0", None], "string"),
]


@pytest.mark.parametrize("name,args,want,kind", CASES, ids=[c[0] for c in CASES])
def test_math(name: str, args: list, want: list, kind: str | None) -> None:
    check(name, args, want, kind)


def test_pi_and_rand() -> None:
    assert call("pi", n=3).to_pylist() == [math.pi] * 3
    r = call("rand", n=1000)
    assert r.kind == "float" and len(r) == 1000
    assert 0 <= r.values.min() and r.values.max() < 1 and len(set(r.values.tolist())) > 900


def test_constant_argument_of_one_row_broadcasts() -> None:
    out = call("power", [1.0, 2.0, 3.0], Column.from_values([2]), n=3)
    assert out.to_pylist() == [1.0, 4.0, 9.0]


@pytest.mark.parametrize(
    "name,args,message",
    [
        ("abs", [["x"]], "only float64 & int type are supported"),
        ("abs", [Column.from_values(["x"], "any")], "only float64 & int type are supported"),
        ("sqrt", [[True]], "cannot convert bool(true) to float64"),
        ("bitand", [[1.5], [1]], "Expect int type for the first operand but got 1.5"),
        ("bitor", [[1], ["a"]], "Expect int type for the second operand but got a"),
        ("cot", [[0.0]], "out-of-range error"),
    ],
)
def test_math_errors(name: str, args: list, message: str) -> None:
    with pytest.raises(EvalError) as err:
        call(name, *args)
    assert str(err.value) == f"call func {name} error: {message}"
