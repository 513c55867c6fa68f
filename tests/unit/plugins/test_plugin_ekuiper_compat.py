"""eKuiper Python SDK plugins load in-process: `ekuiper` imports, `plugin.start`, adapters."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from plugin_testkit import FakeContext

from kuiper.api import Column, Function, Sink, Source
from kuiper.functions.registry import FunctionRegistry
from kuiper.plugins.functions import install_resolver
from kuiper.plugins.loader import PluginLoader

PORTABLE_SOURCE = """
import time
from typing import Any, List

from ekuiper import Context, Function, PluginConfig, Sink, Source, plugin


class PyJson(Source):
    def __init__(self):
        self.data = {"name": "pyjson", "value": 2021}
        self.running = True

    def configure(self, datasource: str, conf: dict):
        self.conf = conf

    def open(self, ctx: Context):
        while self.running:
            ctx.emit(self.data, None)
            time.sleep(0.01)

    def close(self, ctx: Context):
        self.running = False


class PrintSink(Sink):
    def configure(self, conf):
        self.got = []

    def open(self, ctx):
        pass

    def collect(self, ctx: Context, data: Any):
        self.got.append(data)
        ctx.ack_ok()

    def close(self, ctx):
        pass


class RevertFunc(Function):
    def validate(self, args: List[Any]):
        return "" if len(args) == 1 else "revert takes one argument"

    def exec(self, args: List[Any], ctx: Context):
        return args[0][::-1] + ":" + ctx.get_rule_id()

    def is_aggregate(self):
        return False


revertIns = RevertFunc()

if __name__ == "__main__":
    c = PluginConfig("pysam", {"pyjson": lambda: PyJson()}, {"print": lambda: PrintSink()},
                     {"revert": lambda: revertIns})
    plugin.start(c)
"""


def test_sdk_function_with_symbol(root: Path, plugin_writer) -> None:
    plugin_writer("functions", "revert.py", """
        from ekuiper import Function
        from ekuiper.runtime import plugin  # noqa: F401 - the SDK's module layout imports
        from ekuiper.runtime.context import Context  # noqa: F401

        class RevertFunc(Function):
            def exec(self, args, ctx):
                return args[0][::-1]

        Revert = RevertFunc()
    """)
    reg = FunctionRegistry()
    install_resolver(reg, root)
    fdef = reg.lookup("revert")
    assert fdef.check(["abc"]) is None
    assert fdef.exec_batch([Column.from_values(["abc", "xy"])], 2, None).to_pylist() == ["cba", "yx"]


def test_portable_main_script_records_factories(root: Path, plugin_writer) -> None:
    for ptype, name in (("sources", "pyjson"), ("sinks", "print"), ("functions", "revert")):
        plugin_writer(ptype, f"{name}.py", PORTABLE_SOURCE)
    loader = PluginLoader(root)

    fn = loader.function_factory("revert")()
    assert isinstance(fn, Function) and fn.validate(["a"]) is None
    assert fn.validate([]) == "revert takes one argument"
    assert fn.exec(["abc"], FakeContext(rule_id="r9")) == "cba:r9"

    sink = loader.sink_factory("print")()
    assert isinstance(sink, Sink) and sink.accepts_bytes
    sink.configure({})
    ctx = FakeContext()
    sink.open(ctx)
    sink.collect(ctx, b'[{"a":1}]')
    assert sink.inner.got == [b'[{"a":1}]']

    src = loader.source_factory("pyjson")()
    assert isinstance(src, Source)
    src.configure("topic", {"k": 1})
    sctx = FakeContext()
    thread = threading.Thread(target=src.open, args=(sctx,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not sctx.rows and time.monotonic() < deadline:
        time.sleep(0.01)
    src.close(sctx)
    thread.join(5)
    assert not thread.is_alive()
    assert sctx.rows[0][0] == {"name": "pyjson", "value": 2021}


def test_sdk_context_reaches_kuiper_state(root: Path, plugin_writer) -> None:
    plugin_writer("functions", "tally.py", """
        from ekuiper import Function
        class Tally(Function):
            def exec(self, args, ctx):
                ctx.incr_counter("n", 2)
                return ctx.get_counter("n")
    """)
    fn = PluginLoader(root).function_factory("tally")()
    ctx = FakeContext()
    assert fn.exec([], ctx) == 2 and fn.exec([], ctx) == 4
