"""`dictLookup(key)`: the value of `key` in a dictionary file shipped with the plugin.

The file is the runtime dependency `{root}/etc/functions/dictLookup/dict.txt` (one
`key,value` per line, `#` comments), found through `ctx.get_root_path()` and read once.
"""
from __future__ import annotations

import os
from typing import Any

from kuiper.api import Context, Function


class DictLookup(Function):
    def __init__(self) -> None:
        self.table: dict[str, str] | None = None

    def validate(self, args: list[Any]) -> str | None:
        if len(args) != 1:
            return f"dictLookup takes 1 argument, got {len(args)}"
        return None

    def _load(self, ctx: Context) -> dict[str, str]:
        path = os.path.join(ctx.get_root_path(), "etc", "functions", "dictLookup", "dict.txt")
        table: dict[str, str] = {}
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line or line.startswith("#") or "," not in line:
                    continue
                key, value = line.split(",", 1)
                table[key.strip()] = value.strip()
        return table

    def exec(self, args: list[Any], ctx: Context) -> Any:
        if self.table is None:
            self.table = self._load(ctx)
        key = args[0]
        return None if key is None else self.table.get(str(key))
