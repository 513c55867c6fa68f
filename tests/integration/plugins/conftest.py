"""Fixtures for the plugin acceptance tests: the example plugins built from source once a
session (the .pyx compiled with Cython), and a kuiper root with them installed and the input."""
from __future__ import annotations

from pathlib import Path

import pytest
from example_plugins import build_examples
from plugin_env import install_all, write_inputs


@pytest.fixture(scope="session")
def example_zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example plugin built from source once a session: name -> zip."""
    return build_examples(tmp_path_factory.mktemp("example-zips"), workers=3)


@pytest.fixture
def root(tmp_path: Path, example_zips: dict[str, Path]) -> Path:
    """A kuiper root with every example plugin installed and the words input."""
    path = tmp_path / "root"
    path.mkdir()
    install_all(path, example_zips)
    write_inputs(path)
    with (path / "etc" / "sources" / "random.yaml").open("a") as fh:
        fh.write("bounded:\n  interval: 1\n  seed: 10\n  rngSeed: 7\n  count: 20\n"
                 "  pattern:\n    temperature: 1\n    device: d1\n"
                 "fast:\n  interval: 2\n  pattern:\n    count: 1\n    label: a b\n")
    return path
