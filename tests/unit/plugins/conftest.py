"""Fixtures for plugin tests: roots, registries, managers, example zips built once a session."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from example_plugins import build_examples
from plugin_testkit import FakeContext, write_plugin

from kuiper.functions.registry import FunctionDef, FunctionRegistry
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
    return build_examples(tmp_path_factory.mktemp("example-zips"), workers=2)
