"""Function plugins through the registry: batch and row forms, aggregates, errors, names."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plugin_testkit import FakeContext

from kuiper.api import Column
from kuiper.errors import EvalError, PluginError
from kuiper.functions.registry import FunctionRegistry
from kuiper.plugins.functions import install_resolver


@pytest.fixture
def reg(root: Path, registry: FunctionRegistry) -> FunctionRegistry:
    install_resolver(registry, root)
    return registry


def _col(*values):
    return Column.from_values(list(values))


def test_row_wise_exec(reg: FunctionRegistry, plugin_writer) -> None:
    plugin_writer("functions", "plus.py", """
        from kuiper.api import Function
        class Plus(Function):
            def validate(self, args):
                return None if len(args) == 2 else "plus takes 2 arguments"
            def exec(self, args, ctx):
                a, b = args
                return None if a is None or b is None else a + b
    """)
    fdef = reg.lookup("plus")
    assert fdef is not None and not fdef.is_aggregate
    assert fdef.check([1]) == "plus takes 2 arguments"
    assert fdef.check([1, 2]) is None
    out = fdef.exec_batch([_col(1, 2, None), _col(10)], 3, None)  # a 1-row constant broadcasts
    assert out.to_pylist() == [11, 12, None] and out.kind == "bigint"


@pytest.mark.parametrize("ret", [
    "columns[0]",
    "columns[0].values * 2",
    "[v * 2 for v in columns[0].to_pylist()]",
])
def test_vectorized_exec_batch_results(reg: FunctionRegistry, plugin_writer, ret: str) -> None:
    plugin_writer("functions", "vec.py", f"""
        from kuiper.api import Function
        class Vec(Function):
            def exec(self, args, ctx):
                raise AssertionError("exec_batch should be used")
            def exec_batch(self, columns, ctx):
                return {ret}
    """)
    out = reg.lookup("vec").exec_batch([_col(1, 2, 3)], 3, None)
    assert out.to_pylist() in ([1, 2, 3], [2, 4, 6])
    assert len(out) == 3


def test_exec_batch_float_array_kind(reg: FunctionRegistry, plugin_writer) -> None:
    plugin_writer("functions", "half.py", """
        from kuiper.api import Function
        class Half(Function):
            def exec_batch(self, columns, ctx):
                return columns[0].values / 2
    """)
    out = reg.lookup("half").exec_batch([Column("bigint", np.array([1, 4]))], 2, None)
    assert out.kind == "float" and out.to_pylist() == [0.5, 2.0]


def test_exec_batch_wrong_length(reg: FunctionRegistry, plugin_writer) -> None:
    plugin_writer("functions", "short.py", """
        from kuiper.api import Function
        class Short(Function):
            def exec_batch(self, columns, ctx):
                return [1]
    """)
    with pytest.raises(PluginError, match="returned 1 values for 3 rows"):
        reg.lookup("short").exec_batch([_col(1, 2, 3)], 3, None)


def test_plugin_exception_becomes_plugin_error(reg: FunctionRegistry, plugin_writer) -> None:
    plugin_writer("functions", "crash.py", """
        from kuiper.api import Function
        class Crash(Function):
            def exec(self, args, ctx):
                raise ZeroDivisionError("boom")
    """)
    with pytest.raises(PluginError) as err:
        reg.lookup("crash").exec_batch([_col(1)], 1, None)
    assert "function plugin 'crash'" in str(err.value) and "ZeroDivisionError: boom" in str(err.value)


def test_eval_error_fails_the_row_only(reg: FunctionRegistry, plugin_writer) -> None:
    plugin_writer("functions", "picky.py", """
        from kuiper.api import Function
        from kuiper.errors import EvalError
        class Picky(Function):
            def exec(self, args, ctx):
                raise EvalError("bad value")
    """)
    with pytest.raises(EvalError, match="call func picky error: bad value"):
        reg.lookup("picky").exec_batch([_col(1)], 1, None)


def test_aggregate_gets_lists(reg: FunctionRegistry, plugin_writer) -> None:
    plugin_writer("functions", "total.py", """
        from kuiper.api import Function
        class Total(Function):
            def exec(self, args, ctx):
                return sum(v for v in args[0] if v is not None) * args[1][0]
            def is_aggregate(self):
                return True
    """)
    fdef = reg.lookup("total")
    assert fdef.is_aggregate
    assert fdef.exec_batch([_col(1, 2, None), _col(10)], 3, None).to_pylist() == [30]


def test_state_through_engine_context(reg: FunctionRegistry, plugin_writer) -> None:
    plugin_writer("functions", "counter.py", """
        from kuiper.api import Function
        class Counter(Function):
            def exec(self, args, ctx):
                ctx.incr_counter("n", 1)
                return ctx.get_counter("n")
    """)
    ctx = FakeContext()
    fdef = reg.lookup("counter")
    assert fdef.exec_batch([_col(0, 0)], 2, ctx).to_pylist() == [1, 2]
    assert ctx.state.get_counter("n") == 2
    assert fdef.exec_batch([_col(0)], 1, None).to_pylist() == [1]  # no context: private state


def test_names_are_case_sensitive(reg: FunctionRegistry, plugin_writer) -> None:
    plugin_writer("functions", "Shout.py", """
        from kuiper.api import Function
        class Shout(Function):
            def exec(self, args, ctx):
                return "!"
    """)
    assert reg.lookup("shout") is not None
    assert reg.lookup("Shout") is None
    assert reg.lookup("SHOUT") is None


def test_builtin_wins_over_plugin(reg: FunctionRegistry, plugin_writer) -> None:
    plugin_writer("functions", "abs.py", """
        from kuiper.api import Function
        class Abs(Function):
            def exec(self, args, ctx):
                return "plugin"
    """)
    fdef = reg.lookup("abs")
    assert fdef.exec_batch([_col(-1)], 1, None).to_pylist() == [-1]  # the stand-in built-in


def test_multi_function_resolution(reg: FunctionRegistry, plugin_writer) -> None:
    plugin_writer("functions", "strs.py", """
        from kuiper.api import Function
        class Upper2(Function):
            def exec(self, args, ctx):
                return args[0].upper()
        class Lower2(Function):
            def exec(self, args, ctx):
                return args[0].lower()
        __all__ = ["Upper2", "Lower2"]
    """)
    assert reg.lookup("upper2").exec_batch([_col("a")], 1, None).to_pylist() == ["A"]
    assert reg.lookup("lower2").exec_batch([_col("B")], 1, None).to_pylist() == ["b"]
    assert reg.lookup("strs") is None
