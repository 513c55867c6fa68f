"""Fixtures for plugin tests: roots, registries, managers, example zips built once a session."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from plugin_testkit import EXAMPLE_PLUGINS, EXAMPLES, FakeContext, write_plugin

from kuiper.functions.registry import FunctionDef, FunctionRegistry
from kuiper.plugins.build import build_plugin
from kuiper.plugins.manager import PluginManager


@pytest.fixture
def fake_ctx(tmp_path: Path) -> FakeContext:
    return FakeContext(tmp_path)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def registry() -> FunctionRegistry:
    reg = FunctionRegistry()

    def _abs(args, n, ctx):  # a stand-in built-in, for name clashes
        return args[0]

    reg.register(FunctionDef("abs", 1, 1, _abs))
    return reg


@pytest.fixture
def manager(root: Path, registry: FunctionRegistry) -> PluginManager:
    return PluginManager(root, registry=registry)


@pytest.fixture
def plugin_writer(root: Path) -> Callable[[str, str, str], Path]:
    return lambda ptype, file_name, code: write_plugin(root, ptype, file_name, code)


@pytest.fixture(scope="session")
def example_zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example plugin built from source once per session: name -> zip."""
    out = tmp_path_factory.mktemp("example-zips")

    def build(item: tuple[str, str, str]) -> tuple[str, Path]:
        src, ptype, name = item
        compile_it = src.endswith(".pyx")
        return name, build_plugin(EXAMPLES / src, ptype, name, "1.0.0", None,
                                  out / f"{name}.zip", compile=compile_it)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(build, EXAMPLE_PLUGINS))
