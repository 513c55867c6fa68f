"""Loading .py plugins: symbols, base classes, import errors, stdlib shadowing, hot reload."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from kuiper.api import Function, Sink, Source
from kuiper.errors import NotFoundError, PluginError
from kuiper.plugins.loader import PluginLoader

ECHO = """
from kuiper.api import Function

class Echo(Function):
    def exec(self, args, ctx):
        return {tag!r}
"""


def test_loads_class_symbol_new_instance_each_time(root: Path, plugin_writer) -> None:
    plugin_writer("functions", "echo.py", ECHO.format(tag="v1"))
    loaded = PluginLoader(root).load("functions", "echo")
    make = loaded.factory()
    a, b = make(), make()
    assert isinstance(a, Function) and a is not b
    assert a.exec([], None) == "v1"
    assert loaded.module.__name__.startswith("kuiper_plugin_functions_echo_")


def test_instance_symbol_is_a_singleton(root: Path, plugin_writer) -> None:
    plugin_writer("sinks", "Mem.py", """
        from kuiper.api import Sink
        class _Mem(Sink):
            pass
        Mem = _Mem()
    """)
    make = PluginLoader(root).sink_factory("mem")
    assert isinstance(make(), Sink) and make() is make()


def test_missing_plugin(root: Path) -> None:
    with pytest.raises(NotFoundError, match="not installed"):
        PluginLoader(root).load("sources", "nope")


def test_wrong_symbol_name_names_file_and_fix(root: Path, plugin_writer) -> None:
    plugin_writer("sources", "zigbee.py", """
        from kuiper.api import Source
        class ZigbeeSource(Source):
            pass
    """)
    with pytest.raises(PluginError) as err:
        PluginLoader(root).source_factory("zigbee")
    text = str(err.value)
    assert "zigbee.py" in text and "'Zigbee'" in text and "ZigbeeSource" in text


def test_wrong_base_class(root: Path, plugin_writer) -> None:
    plugin_writer("sinks", "bad.py", """
        class Bad:
            def collect(self, ctx, data):
                pass
    """)
    with pytest.raises(PluginError, match=r"Bad is not a sink plugin.*kuiper.api.Sink"):
        PluginLoader(root).sink_factory("bad")


def test_source_must_not_be_a_function(root: Path, plugin_writer) -> None:
    plugin_writer("sources", "oops.py", """
        from kuiper.api import Function
        class Oops(Function):
            pass
    """)
    with pytest.raises(PluginError, match="not a source plugin"):
        PluginLoader(root).source_factory("oops")


def test_broken_import_names_the_file(root: Path, plugin_writer) -> None:
    plugin_writer("functions", "broken.py", "import no_such_module_for_kuiper\n")
    with pytest.raises(PluginError) as err:
        PluginLoader(root).load("functions", "broken")
    assert "broken.py" in str(err.value) and "no_such_module_for_kuiper" in str(err.value)
    assert not any("broken" in m for m in sys.modules if m.startswith("kuiper_plugin_"))


def test_syntax_error_is_a_plugin_error(root: Path, plugin_writer) -> None:
    plugin_writer("functions", "syntax.py", "def f(:\n")
    with pytest.raises(PluginError, match="SyntaxError"):
        PluginLoader(root).load("functions", "syntax")


def test_constructor_failure(root: Path, plugin_writer) -> None:
    plugin_writer("sources", "boom.py", """
        from kuiper.api import Source
        class Boom(Source):
            def __init__(self):
                raise RuntimeError("no device")
    """)
    make = PluginLoader(root).source_factory("boom")
    with pytest.raises(PluginError, match="constructor failed: RuntimeError: no device"):
        make()


@pytest.mark.parametrize("name", ["json", "random", "os"])
def test_plugin_named_like_stdlib_does_not_shadow_it(root: Path, plugin_writer, name: str) -> None:
    before = sys.modules.get(name)
    plugin_writer("functions", f"{name}.py", f"""
        import {name} as _std
        from kuiper.api import Function
        class {name.capitalize()}(Function):
            def exec(self, args, ctx):
                return _std.__name__
    """)
    loaded = PluginLoader(root).load("functions", name)
    assert loaded.factory()().exec([], None) == name  # the plugin itself sees the stdlib
    import importlib

    std = importlib.import_module(name)
    assert std is before and std.__file__ != str(loaded.file.path)
    assert json.dumps({"a": 1}) == '{"a": 1}'


def test_versioned_files_load_highest(root: Path, plugin_writer) -> None:
    for ver in ("1.9.0", "1.10.0", "1.2.0"):
        plugin_writer("functions", f"ver@v{ver}.py", ECHO.replace("Echo", "Ver").format(tag=ver))
    loaded = PluginLoader(root).load("functions", "ver")
    assert loaded.version == "1.10.0"
    assert loaded.factory()().exec([], None) == "1.10.0"


def test_hot_reload_gives_new_code_old_objects_keep_theirs(root: Path, plugin_writer) -> None:
    loader = PluginLoader(root)
    path = plugin_writer("functions", "echo.py", ECHO.format(tag="old"))
    old = loader.load("functions", "echo").factory()()
    assert loader.load("functions", "echo") is loader.load("functions", "echo")  # cached
    path.write_text(path.read_text().replace("'old'", "'new'"))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    new = loader.load("functions", "echo").factory()()
    assert new.exec([], None) == "new"
    assert old.exec([], None) == "old"


def test_multi_function_by_all(root: Path, plugin_writer) -> None:
    plugin_writer("functions", "strs.py", """
        from kuiper.api import Function
        class Upper2(Function):
            def exec(self, args, ctx):
                return args[0].upper()
        class Lower2(Function):
            def exec(self, args, ctx):
                return args[0].lower()
        __all__ = ["Upper2", "Lower2", "helper"]
        def helper():
            pass
    """)
    loaded = PluginLoader(root).load("functions", "strs")
    assert loaded.function_names() == ["lower2", "upper2"]
    assert loaded.factory("upper2")().exec(["a"], None) == "A"


def test_multi_function_by_manifest(root: Path, plugin_writer) -> None:
    plugin_writer("functions", "maths.py", """
        from kuiper.api import Function
        class Twice(Function):
            def exec(self, args, ctx):
                return args[0] * 2
        class Thrice(Function):
            def exec(self, args, ctx):
                return args[0] * 3
    """)
    etc = root / "etc" / "functions"
    etc.mkdir(parents=True)
    (etc / "maths.json").write_text(json.dumps({"functions": [{"name": "twice"}, "thrice"]}))
    loaded = PluginLoader(root).load("functions", "maths")
    assert loaded.function_names() == ["thrice", "twice"]
    assert loaded.factory("thrice")().exec([2], None) == 6
    (etc / "maths.json").write_text(json.dumps({"functions": ["twice", "missing"]}))
    with pytest.raises(PluginError, match="lists 'missing'.*'Missing'"):
        PluginLoader(root).load("functions", "maths")


def test_lookup_source_symbol(root: Path, plugin_writer) -> None:
    plugin_writer("sources", "table.py", """
        from kuiper.api import LookupSource, Source
        class Table(Source):
            pass
        class TableLookup(LookupSource):
            def lookup(self, ctx, fields, keys, values):
                return [{"k": values[0]}]
    """)
    loader = PluginLoader(root)
    assert isinstance(loader.source_factory("table")(), Source)
    assert loader.lookup_source_factory("table")().lookup(None, [], ["k"], [1]) == [{"k": 1}]
