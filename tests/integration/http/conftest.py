"""Fixtures for the HTTP connector tests: a recording HTTP target and a kuiper root."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from http_helpers import Target

import kuiper.io  # noqa: F401  (registers the connectors)


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target().start()
    yield t
    t.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc" / "sources").mkdir(parents=True)
    return tmp_path
