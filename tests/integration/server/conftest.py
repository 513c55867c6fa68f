"""Fixtures of the server tests: a kuiper root and a `kuiper server` subprocess on it."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import ServerProcess, make_root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_root(tmp_path / "root")


@pytest.fixture
def server(root: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(root).start()
    yield proc
    proc.stop()
