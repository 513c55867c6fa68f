"""Helpers for plugin tests: a fake Context, inline .py plugins, small zips."""
from __future__ import annotations

import logging
import textwrap
import zipfile
from pathlib import Path
from typing import Any

from kuiper.api import Context
from kuiper.state.extension_state import ExtensionState


class FakeContext(Context):
    """A Context recording emissions, with in-memory state."""

    def __init__(self, root: str | Path = ".", rule_id: str = "rule1", op_id: str = "op1") -> None:
        self.root = str(root)
        self.rule_id = rule_id
        self.op_id = op_id
        self.state = ExtensionState()
        self.rows: list[tuple[dict[str, Any], Any]] = []
        self.errors: list[Any] = []
        self.eof: list[str] = []

    def get_logger(self) -> logging.Logger:
        return logging.getLogger("test.plugin")

    def get_rule_id(self) -> str:
        return self.rule_id

    def get_op_id(self) -> str:
        return self.op_id

    def get_instance_id(self) -> int:
        return 0

    def get_root_path(self) -> str:
        return self.root

    def put_state(self, key: str, value: Any) -> None:
        self.state.put_state(key, value)

    def get_state(self, key: str) -> Any:
        return self.state.get_state(key)

    def delete_state(self, key: str) -> None:
        self.state.delete_state(key)

    def incr_counter(self, key: str, amount: int = 1) -> None:
        self.state.incr_counter(key, amount)

    def get_counter(self, key: str) -> int:
        return self.state.get_counter(key)

    def emit(self, message: Any, meta: Any = None) -> None:
        self.rows.append((dict(message), meta))

    def emit_threadsafe(self, message: Any, meta: Any = None) -> None:
        self.emit(message, meta)

    def emit_error(self, error: Any) -> None:
        self.errors.append(error)

    def emit_eof(self, message: str = "") -> None:
        self.eof.append(message)


def write_plugin(root: Path, ptype: str, file_name: str, code: str) -> Path:
    """Write an inline .py plugin straight into `{root}/plugins/{ptype}/`."""
    folder = root / "plugins" / ptype
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    path.write_text(textwrap.dedent(code))
    return path


def make_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    """A zip holding `members` (name -> content)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path
