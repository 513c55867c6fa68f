"""File names, versions and the pick among several files of one plugin."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kuiper.errors import PluginError
from kuiper.plugins.naming import (
    best_file,
    extension_suffix,
    parse_file_name,
    plugin_type,
    symbol_name,
    version_key,
)

EXT = extension_suffix()


@pytest.mark.parametrize(("file_name", "expected"), [
    ("random.so", ("random", "", True)),
    ("Random.so", ("Random", "", True)),
    ("random@v1.0.0.so", ("random", "1.0.0", True)),
    ("random@1.2.so", ("random", "1.2", True)),
    (f"random{EXT}", ("random", "", True)),
    (f"random@v1.0.0{EXT}", ("random", "1.0.0", True)),
    ("random.py", ("random", "", False)),
    ("wordCount@v2.py", ("wordCount", "2", False)),
    ("random.pyx", None),
    ("random.cpython-27-foo.so", None),
    ("my-plugin.so", None),
    ("random@.so", None),
    ("notes.txt", None),
])
def test_parse_file_name(file_name: str, expected: tuple[str, str, bool] | None) -> None:
    assert parse_file_name(file_name) == expected


def test_symbol_and_type_names() -> None:
    assert symbol_name("random") == "Random"
    assert symbol_name("wordCount") == "WordCount"
    assert plugin_type("function") == "functions"
    assert plugin_type("SINK") == "sinks"
    with pytest.raises(PluginError, match="unknown plugin type"):
        plugin_type("portable-ish")


def test_versions_compare_numerically() -> None:
    assert version_key("1.10.0") > version_key("1.9.3")
    assert version_key("v2") > version_key("1.99")
    assert version_key("1.0.0") > version_key("1.0.0-rc1") or version_key("1.0.0-rc1") > version_key("1.0.0")
    assert version_key("1.0.1") > version_key("1.0")


def _touch(folder: Path, name: str, mtime: int = 0) -> Path:
    path = folder / name
    path.write_text("")
    if mtime:
        os.utime(path, ns=(mtime, mtime))
    return path


def test_best_file_picks_highest_version(tmp_path: Path) -> None:
    _touch(tmp_path, "random@v1.9.0.so")
    _touch(tmp_path, "Random@v1.10.0.so")
    _touch(tmp_path, "random.so")
    _touch(tmp_path, "other@v9.so")
    best = best_file(tmp_path, "random")
    assert best is not None and best.path.name == "Random@v1.10.0.so"
    assert best.version == "1.10.0" and best.name == "random"


def test_best_file_prefers_compiled_then_newest(tmp_path: Path) -> None:
    _touch(tmp_path, "echo.py", mtime=2_000_000_000_000_000_000)
    _touch(tmp_path, "echo.so", mtime=1_000_000_000_000_000_000)
    assert best_file(tmp_path, "echo").path.name == "echo.so"
    assert best_file(tmp_path, "missing") is None
