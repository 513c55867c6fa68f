"""The registry: lookup, case, resolvers, reserved names, arity and literal checks, errors."""
from __future__ import annotations

import pytest

from kuiper.api.batch import BIGINT, Column
from kuiper.errors import EvalError
from kuiper.functions.registry import (
    LITERAL,
    RESERVED,
    ArgRef,
    FunctionDef,
    FunctionRegistry,
    arg_kind,
    builtin,
    default_registry,
    is_literal,
    lookup,
)
from kuiper.functions.vector import fail, rowwise


def _one(args: list[Column], n: int, ctx: object) -> Column:
    return Column.constant(1, n)


def test_builtin_lookup_is_case_insensitive() -> None:
    assert lookup("ABS") is lookup("abs") is not None
    assert lookup("Lower").name == "lower"
    assert lookup("no_such_function") is None


def test_aliases_share_the_implementation() -> None:
    for a, b in [("ceil", "ceiling"), ("pow", "power"), ("day", "day_of_month"),
                 ("current_date", "cur_date"), ("local_time", "now")]:
        assert lookup(a).exec_batch.__wrapped__ is lookup(b).exec_batch.__wrapped__


def test_resolvers_come_after_builtins_and_keep_case() -> None:
    reg = FunctionRegistry()
    reg.register(FunctionDef("one", 0, 0, _one))
    plugin = FunctionDef("Echo", 1, 1, _one)
    reg.add_resolver(lambda name: plugin if name == "Echo" else None)
    reg.add_resolver(lambda name: FunctionDef(name, 0, 0, _one) if name == "one" else None)
    assert reg.lookup("ONE").name == "one"  # the built-in wins
    assert reg.lookup("Echo") is plugin
    assert reg.lookup("echo") is None  # plugin names are case-sensitive


def test_reserved_names_cannot_be_registered() -> None:
    reg = FunctionRegistry()
    for name in ("count", "window_start", "META", "lag", "row_number"):
        assert name.lower() in RESERVED
        with pytest.raises(ValueError):
            reg.register(FunctionDef(name, 0, 0, _one))
        assert reg.is_builtin(name)
    assert default_registry.is_builtin("Abs")
    assert not default_registry.is_builtin("myPlugin")


def test_duplicates_need_replace() -> None:
    reg = FunctionRegistry()
    reg.register(FunctionDef("f", 0, 0, _one))
    with pytest.raises(ValueError):
        reg.register(FunctionDef("F", 0, 0, _one))
    reg.register(FunctionDef("F", 0, 0, _one), replace=True)
    assert reg.names() == ["f"]


@pytest.mark.parametrize(
    "name,count,error",
    [
        ("abs", 1, None),
        ("abs", 2, "Expect 1 arguments but found 2."),
        ("pi", 1, "Expect 0 arguments but found 1."),
        ("round", 3, "Expect 1 to 2 arguments but found 3."),
        ("concat", 0, "Expect at least 1 arguments but found 0."),
        ("concat", 5, None),
        ("substring", 1, "Expect 2 to 3 arguments but found 1."),
        ("array_create", 0, None),
        ("object_construct", 3, "the args should be key value pairs"),
    ],
)
def test_arity_and_checks(name: str, count: int, error: str | None) -> None:
    args = [ArgRef() for _ in range(count)]
    assert lookup(name).check(args) == error


@pytest.mark.parametrize(
    "name,args,error",
    [
        ("cast", [ArgRef(), "bigint"], None),
        ("cast", [ArgRef(), "int"], "Expect one of following value for the 2nd parameter: "
                                    "bigint, float, string, boolean, datetime, bytea."),
        ("cast", [ArgRef(), ArgRef("string")], "Expect a literal for parameter 2"),
        ("abs", ["x"], "Expect number - float or int type for parameter 1"),
        ("abs", [ArgRef("string")], "Expect number - float or int type for parameter 1"),
        ("abs", [ArgRef("float")], None),
        ("bitand", [1, 2.5], "Expect int type for parameter 2"),
        ("lower", [1], "Expect string type for parameter 1"),
        ("substring", ["abc", -1], "The start index should not be a nagtive integer."),
        ("substring", ["abc", 3, 1], "The end index should be larger than start index."),
        ("split_value", ["a/b", "/", -1], "The index should not be a nagtive integer."),
        ("encode", ["a", "hex"], "Only base64 is supported for the 2nd parameter."),
        ("compress", ["a", "lz4"], "Expect one of zlib, gzip, flate, zstd for parameter 2"),
        ("now", [3], None),
        ("now", [ArgRef("bigint")], "Expect a literal for parameter 1"),
        ("array_map", ["upper", ArgRef()], None),
        ("array_map", [1, ArgRef()], "Expect string type for parameter 1"),
        ("hour", ["2020-01-01"], "Expect datetime type for parameter 1"),
    ],
)
def test_plan_time_validation(name: str, args: list, error: str | None) -> None:
    assert lookup(name).check(args) == error


def test_literal_helpers() -> None:
    assert is_literal(1) and is_literal("a") and is_literal(None) and is_literal([1])
    assert not is_literal(ArgRef("bigint"))
    assert arg_kind(ArgRef("bigint")) == BIGINT
    assert arg_kind(2.5) == "float"
    assert arg_kind(object()) is None


def test_builtin_decorator_names_errors() -> None:
    reg = FunctionRegistry()

    @builtin("boom", 1, registry=reg, arg_modes=(LITERAL,))
    @rowwise
    def _boom(v: object) -> object:
        fail(f"bad value {v}")

    with pytest.raises(EvalError, match=r"^call func boom error: bad value 3$"):
        reg.lookup("boom").exec_batch([Column.from_values([3])], 1, None)


def test_python_errors_name_the_bad_value() -> None:
    reg = FunctionRegistry()

    @builtin("inv", 1, registry=reg)
    @rowwise
    def _inv(v: object) -> object:
        return 1 // v  # type: ignore[operator]

    with pytest.raises(EvalError, match=r"call func inv error: .*int64\(0\)"):
        reg.lookup("inv").exec_batch([Column.from_values([1, 0])], 2, None)
