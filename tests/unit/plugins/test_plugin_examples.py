"""The example plugins of plugins/, built from source, installed into a temp root and called."""
from __future__ import annotations

import csv
import random as stdlib_random
import shutil
import zipfile
from pathlib import Path

import pytest
from example_plugins import EXAMPLES
from plugin_testkit import FakeContext

from kuiper.api import Column, Function, Sink, Source
from kuiper.errors import ConfigError, PluginError
from kuiper.functions.registry import FunctionRegistry
from kuiper.plugins.build import build_plugin
from kuiper.plugins.manager import PluginManager
from kuiper.plugins.naming import extension_suffix

EXT = extension_suffix()


@pytest.fixture
def installed(root: Path, registry: FunctionRegistry, example_zips: dict[str, Path]) -> PluginManager:
    manager = PluginManager(root, registry=registry)
    types = {"random": "sources", "csvFile": "sinks"}
    for name, zpath in example_zips.items():
        manager.install(types.get(name, "functions"), name, str(zpath))
    return manager


@pytest.fixture(scope="session")
def echo_v2_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """echo rebuilt from a changed source: its batch form tags values with v2."""
    work = tmp_path_factory.mktemp("echo-v2")
    src = work / "echo.pyx"
    src.write_text((EXAMPLES / "functions/echo.pyx").read_text().replace(
        "return columns[0]", 'return ["v2:" + str(v) for v in columns[0].to_pylist()]'))
    return build_plugin(src, "functions", "echo", "2.0.0", None, work / "echo.zip")


def _col(*values):
    return Column.from_values(list(values))


def test_zip_layout(example_zips: dict[str, Path]) -> None:
    names = zipfile.ZipFile(example_zips["random"]).namelist()
    assert sorted(names) == sorted([f"random{EXT}", "random.json", "random.yaml"])
    names = zipfile.ZipFile(example_zips["dictLookup"]).namelist()
    assert sorted(names) == ["dictLookup.json", "dictLookup.py", "etc/dict.txt"]


def test_installed_listing(installed: PluginManager) -> None:
    assert installed.list("sources") == ["random"]
    assert installed.list("sinks") == ["csvFile"]
    assert installed.list("functions") == ["accumulateWordCount", "countPlusOne", "dictLookup", "echo"]
    info = installed.get("sources", "random")
    assert info["compiled"] and info["version"] == "1.0.0"
    assert info["properties"]["default"][0]["name"] == "interval"


def test_random_source(installed: PluginManager, root: Path) -> None:
    src = installed.loader.source_factory("random")()
    assert isinstance(src, Source)
    assert type(src).__module__ == "random" and stdlib_random.randint(1, 1) == 1
    with pytest.raises(ConfigError, match="interval"):
        src.configure("", {"interval": -1})
    src.configure("", {"interval": 50, "seed": 10, "rngSeed": 7, "count": 3,
                       "pattern": {"temperature": 1, "device": "d1"}})
    assert src.interval == pytest.approx(0.05) and src.bounded
    ctx = FakeContext(root)
    src.open(ctx)
    for _ in range(4):
        src.pull(ctx)
    assert len(ctx.rows) == 3 and ctx.eof
    for row, _meta in ctx.rows:
        assert row["device"] == "d1" and 0 <= row["temperature"] < 10
    assert (root / "etc/sources/random.yaml").is_file()


def test_csv_sink(installed: PluginManager, tmp_path: Path) -> None:
    sink = installed.loader.sink_factory("csvFile")()
    assert isinstance(sink, Sink)
    out = tmp_path / "out" / "rows.csv"
    sink.configure({"path": str(out), "fields": ["a", "b"]})
    ctx = FakeContext()
    sink.open(ctx)
    sink.collect(ctx, {"a": 1, "b": "x"})
    sink.collect(ctx, [{"a": 2, "b": "y", "c": 0}, {"a": 3}])
    sink.close(ctx)
    with out.open() as fh:
        assert list(csv.reader(fh)) == [["a", "b"], ["1", "x"], ["2", "y"], ["3", ""]]
    with pytest.raises(ConfigError, match="path"):
        installed.loader.sink_factory("csvFile")().configure({})


def test_echo(installed: PluginManager, registry: FunctionRegistry) -> None:
    fdef = registry.lookup("echo")
    col = _col("a", None, "c")
    assert fdef.exec_batch([col], 3, None) is col
    assert fdef.check([1, 2]) == "echo takes 1 argument, got 2"


def test_accumulate_word_count_state(installed: PluginManager, registry: FunctionRegistry) -> None:
    fdef = registry.lookup("accumulateWordCount")
    ctx = FakeContext()
    first = fdef.exec_batch([_col("a b c", "d e", None), _col(" ")], 3, ctx)
    assert first.to_pylist() == [3, 5, 5] and first.kind == "bigint"
    assert fdef.exec_batch([_col("x,y"), _col(",")], 1, ctx).to_pylist() == [7]
    saved = ctx.state.snapshot()
    # a restarted rule: a new instance, the state restored from the checkpoint
    again = registry.lookup("accumulateWordCount")
    ctx2 = FakeContext()
    ctx2.state.restore(saved)
    assert again.exec_batch([_col("one"), _col(" ")], 1, ctx2).to_pylist() == [8]
    # the row-wise exec gives the same running totals
    impl = installed.loader.function_factory("accumulateWordCount")()
    ctx3 = FakeContext()
    assert [impl.exec([t, " "], ctx3) for t in ("a b c", "d e", None)] == [3, 5, 5]


def test_count_plus_one_aggregate(installed: PluginManager, registry: FunctionRegistry) -> None:
    fdef = registry.lookup("countPlusOne")
    assert fdef.is_aggregate
    assert fdef.exec_batch([_col(1, None, 3, 4)], 4, None).to_pylist() == [4]


def test_dict_lookup_reads_etc(installed: PluginManager, registry: FunctionRegistry,
                               root: Path) -> None:
    assert (root / "etc/functions/dictLookup/dict.txt").is_file()
    fdef = registry.lookup("dictLookup")
    out = fdef.exec_batch([_col("dev1", "dev3", "zzz", None)], 4, FakeContext(root))
    assert out.to_pylist() == ["kitchen", "roof", None, None]
    # without an engine context, the root comes from where the plugin is installed
    assert registry.lookup("dictLookup").exec_batch([_col("dev2")], 1, None).to_pylist() == ["garage"]


def test_compiled_hot_reload(installed: PluginManager, registry: FunctionRegistry,
                             echo_v2_zip: Path) -> None:
    before = registry.lookup("echo")
    installed.install("functions", "echo", str(echo_v2_zip), replace=True)
    after = registry.lookup("echo")
    assert after.exec_batch([_col(1, 2)], 2, None).to_pylist() == ["v2:1", "v2:2"]
    assert before.exec_batch([_col(1, 2)], 2, None).to_pylist() == [1, 2]  # a running rule
    assert installed.get("functions", "echo")["version"] == "2.0.0"


def test_compiled_versioned_pick(root: Path, example_zips: dict[str, Path], echo_v2_zip: Path,
                                 registry: FunctionRegistry, tmp_path: Path) -> None:
    folder = root / "plugins" / "functions"
    folder.mkdir(parents=True)
    for zpath, version in ((example_zips["echo"], "1.10.0"), (echo_v2_zip, "1.9.0")):
        with zipfile.ZipFile(zpath) as zf:
            (folder / f"Echo@v{version}{EXT}").write_bytes(zf.read(f"echo{EXT}"))
    manager = PluginManager(root, registry=registry)
    assert manager.get("functions", "echo")["version"] == "1.10.0"
    assert registry.lookup("echo").exec_batch([_col(5)], 1, None).to_pylist() == [5]


def test_renamed_compiled_file_loads(root: Path, example_zips: dict[str, Path]) -> None:
    folder = root / "plugins" / "functions"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(example_zips["echo"]) as zf:
        (folder / "Echo.so").write_bytes(zf.read(f"echo{EXT}"))
    manager = PluginManager(root)
    impl = manager.loader.function_factory("echo")()
    assert isinstance(impl, Function) and impl.exec([1], None) == 1


def test_build_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pyx"
    bad.write_text("cdef int x = 'not an int'\n")
    with pytest.raises(PluginError, match="compiling plugin .*bad.pyx failed"):
        build_plugin(bad, "functions", "bad", out=tmp_path / "bad.zip")
    with pytest.raises(PluginError, match="must be compiled"):
        build_plugin(EXAMPLES / "functions/echo.pyx", "functions", "echo", compile=False,
                     out=tmp_path / "e.zip")
    with pytest.raises(PluginError, match="does not exist"):
        build_plugin(tmp_path / "none.py", "functions", "none")
    shutil.copy(EXAMPLES / "functions/dictLookup.py", tmp_path / "dl.py")
    with pytest.raises(PluginError, match="etc folder"):
        build_plugin(tmp_path / "dl.py", "functions", "dictLookup", etc_dir=tmp_path / "nope",
                     compile=False)
