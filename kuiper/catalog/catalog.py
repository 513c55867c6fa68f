"""The catalog: streams, tables and rules by name, in memory, optionally persisted to a KV store."""
from __future__ import annotations

from typing import Protocol

from kuiper.catalog.defs import RuleDef, StreamDef
from kuiper.errors import ConflictError, NotFoundError


class KVStore(Protocol):
    def get(self, table: str, key: str) -> str | None: ...
    def set(self, table: str, key: str, value: str) -> None: ...
    def delete(self, table: str, key: str) -> None: ...
    def keys(self, table: str) -> list[str]: ...


class Catalog:
    """Stream/table and rule definitions. Names are case-sensitive, as in eKuiper."""

    def __init__(self) -> None:
        self._streams: dict[str, StreamDef] = {}
        self._tables: dict[str, StreamDef] = {}
        self._rules: dict[str, RuleDef] = {}

    # --- streams and tables ---------------------------------------------------------------
    def add_stream(self, definition: StreamDef, *, replace: bool = False) -> None:
        store = self._tables if definition.is_table else self._streams
        what = "table" if definition.is_table else "stream"
        if not replace and definition.name in store:
            raise ConflictError(f"{what} {definition.name} already exists",
                                hint="drop it first or choose another name")
        store[definition.name] = definition

    def get_stream(self, name: str) -> StreamDef:
        """A stream or a table by name."""
        found = self._streams.get(name) or self._tables.get(name)
        if found is None:
            raise NotFoundError(f"stream or table {name} not found",
                                hint="create it with CREATE STREAM before the rule that reads it")
        return found

    def find_stream(self, name: str) -> StreamDef | None:
        return self._streams.get(name) or self._tables.get(name)

    def drop_stream(self, name: str, *, is_table: bool = False) -> None:
        store = self._tables if is_table else self._streams
        if name not in store:
            raise NotFoundError(f"{'table' if is_table else 'stream'} {name} not found")
        del store[name]

    def streams(self, *, tables: bool = False) -> list[StreamDef]:
        return list((self._tables if tables else self._streams).values())

    # --- rules ----------------------------------------------------------------------------
    def add_rule(self, rule: RuleDef, *, replace: bool = False) -> None:
        if not replace and rule.id in self._rules:
            raise ConflictError(f"rule {rule.id} already exists")
        self._rules[rule.id] = rule

    def get_rule(self, rule_id: str) -> RuleDef:
        rule = self._rules.get(rule_id)
        if rule is None:
            raise NotFoundError(f"rule {rule_id} not found")
        return rule

    def drop_rule(self, rule_id: str) -> None:
        if rule_id not in self._rules:
            raise NotFoundError(f"rule {rule_id} not found")
        del self._rules[rule_id]

    def rules(self) -> list[RuleDef]:
        return list(self._rules.values())
