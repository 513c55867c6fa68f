"""Fixtures for the plugin acceptance tests: the example plugins built from source once a
session (the .pyx compiled with Cython), and a kuiper root with them installed and the input."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from plugin_env import EXAMPLE_PLUGINS, EXAMPLES, install_all, write_inputs

from kuiper.plugins.build import build_plugin


@pytest.fixture(scope="session")
def example_zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example plugin built from source once a session: name -> zip."""
    out = tmp_path_factory.mktemp("example-zips")

    def build(item: tuple[str, str, str]) -> tuple[str, Path]:
        src, ptype, name = item
        return name, build_plugin(EXAMPLES / src, ptype, name, "1.0.0", None,
                                  out / f"{name}.zip", compile=src.endswith(".pyx"))

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(build, EXAMPLE_PLUGINS))


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
