"""Streams and tables: create from SQL, list, describe, update, drop; kept in the KV store.

Definitions are stored as eKuiper does, by name, the statement text in JSON
(`{"streamType": 0|1, "statement": "CREATE …", "streamKind": "scan|lookup|"}`): streams in
namespace `stream`, tables in `table`. A name is unique across streams and tables (eKuiper
keeps both in one bucket). Messages are eKuiper's ("Stream demo is created.").
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from kuiper import sql
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import FieldDef, StreamDef
from kuiper.errors import ConfigError, ConflictError, KuiperError, NotFoundError
from kuiper.runtime import registry
from kuiper.state.kv import KVStore

log = logging.getLogger(__name__)

STREAM_NS, TABLE_NS = "stream", "table"


def kind_word(is_table: bool) -> str:
    return "table" if is_table else "stream"


def _title(is_table: bool) -> str:
    return "Table" if is_table else "Stream"


def _failed(exc: KuiperError, what: str) -> KuiperError:
    """The same error with eKuiper's "Create stream fails: …" prefix."""
    exc.message = f"{what} fails: {exc.message}"
    exc.args = (exc.message,)
    return exc


def field_schema(f: FieldDef) -> dict[str, Any]:
    """One field in eKuiper's JSON-schema-like shape (GET /streams/{name}/schema)."""
    out: dict[str, Any] = {"type": f.kind}
    if f.kind == "array" and f.element is not None:
        out["items"] = field_schema(f.element)
    if f.kind == "struct" and f.fields:
        out["properties"] = {sub.name: field_schema(sub) for sub in f.fields}
    return out


def describe_text(d: StreamDef) -> str:
    """eKuiper's DESCRIBE STREAM text: the fields, then the options."""
    lines = ["Fields", "-" * 80]
    lines += [f"{f.name}\t{f.describe()}" for f in d.fields]
    lines.append("")
    lines += [f"{k}: {v}" for k, v in d.options.items()]
    return "\n".join(lines) + "\n"


class StreamManager:
    """Stream and table definitions of one engine: the catalog in memory, the KV store on disk.

    `referenced_by(name)` lists the rules reading a stream (a drop is refused while there are
    some, unless forced, as eKuiper does)."""

    def __init__(self, catalog: Catalog, store: KVStore,
                 referenced_by: Callable[[str], list[str]] | None = None) -> None:
        self.catalog = catalog
        self.store = store
        self.referenced_by = referenced_by or (lambda _name: [])

    # --- persistence ----------------------------------------------------------------------
    def load(self) -> list[str]:
        """Restore every stored stream and table into the catalog; a definition that no longer
        parses is logged and skipped. Returns the names loaded."""
        loaded: list[str] = []
        for ns, is_table in ((STREAM_NS, False), (TABLE_NS, True)):
            for name, raw in self.store.items(ns).items():
                try:
                    statement = json.loads(raw)["statement"]
                    parsed = sql.parse(statement)
                    if not isinstance(parsed, sql.CreateStream):
                        raise ConfigError(f"stored statement is not a CREATE: {statement}")
                    self.catalog.add_stream(parsed.definition, replace=True)
                    loaded.append(name)
                except (KuiperError, ValueError, KeyError, TypeError) as exc:
                    log.error("%s %s not restored: %s", kind_word(is_table), name, exc)
        return loaded

    def _save(self, d: StreamDef, *, replace: bool) -> None:
        ns = TABLE_NS if d.is_table else STREAM_NS
        value = json.dumps({"streamType": int(d.is_table), "statement": d.statement,
                            "streamKind": d.options.get("KIND", "").lower()})
        if replace:
            self.store.set(ns, d.name, value)
        elif not self.store.setnx(ns, d.name, value):
            raise ConflictError(f"Item {d.name} already exists")

    # --- statements -------------------------------------------------------------------------
    def exec_sql(self, text: str, is_table: bool = False) -> str:
        """Run a stream statement as eKuiper's POST /streams does: CREATE (a stream or a
        table), DROP, SHOW or DESCRIBE; the text answer."""
        statement = sql.parse(text)
        if isinstance(statement, sql.CreateStream):
            return self.create_definition(statement.definition)
        if isinstance(statement, sql.DropStream):
            return self.drop(statement.name, statement.is_table)
        if isinstance(statement, sql.ShowStreams):
            names = self.list(statement.is_table)
            return "\n".join(names) or f"No {kind_word(statement.is_table)} definitions are found."
        if isinstance(statement, sql.DescribeStream):
            return describe_text(self.get(statement.name, statement.is_table))
        raise ConfigError(f"Invalid {kind_word(is_table)} statement: {text}",
                          hint="rules are created with POST /rules")

    def create(self, text: str, is_table: bool | None = None) -> str:
        """CREATE STREAM|TABLE from SQL; `is_table` (when given) must match the statement."""
        statement = sql.parse(text)
        if not isinstance(statement, sql.CreateStream):
            raise ConfigError(f"Invalid {kind_word(bool(is_table))} statement: {text}",
                              hint="CREATE STREAM name (fields) WITH (DATASOURCE=…)")
        d = statement.definition
        if is_table is not None and d.is_table != is_table:
            raise ConfigError(f"expected a CREATE {kind_word(is_table).upper()} statement, got "
                              f"CREATE {kind_word(d.is_table).upper()}")
        return self.create_definition(d)

    def create_definition(self, d: StreamDef) -> str:
        what = f"Create {kind_word(d.is_table)}"
        try:
            validate_definition(d)
            if self.catalog.find_stream(d.name) is not None:
                raise ConflictError(f"Item {d.name} already exists")
            self._save(d, replace=False)
        except KuiperError as exc:
            raise _failed(exc, what) from None
        self.catalog.add_stream(d)
        message = f"{_title(d.is_table)} {d.name} is created."
        log.info(message)
        return message

    def update(self, name: str, text: str, is_table: bool) -> str:
        """Replace a definition (PUT); running rules keep the old one until they restart."""
        statement = sql.parse(text)
        if not isinstance(statement, sql.CreateStream):
            raise ConfigError(f"Invalid {kind_word(is_table)} statement: {text}")
        d = statement.definition
        old = self.get(name, is_table)
        if d.is_table != is_table:
            raise NotFoundError(f"{kind_word(is_table)} {d.name} is not found")
        if d.name != name:
            raise ConfigError(f"Replace {name} fails: the sql statement must update the "
                              f"{name} source.")
        new_version, old_version = d.options.get("VERSION", ""), old.options.get("VERSION", "")
        if new_version and old_version and new_version <= old_version:
            raise ConfigError(f"Replace {kind_word(is_table)} fails: version {new_version} is "
                              f"not newer than {old_version}.")
        try:
            validate_definition(d)
        except KuiperError as exc:
            raise _failed(exc, f"Replace {kind_word(is_table)}") from None
        self._save(d, replace=True)
        self.catalog.add_stream(d, replace=True)
        message = f"{_title(is_table)} {name} is replaced."
        log.info(message)
        return message

    def drop(self, name: str, is_table: bool = False, *, force: bool = False) -> str:
        """Drop a definition; refused while a rule reads it unless `force` (eKuiper's
        `?force=true`). Rules already running keep running."""
        self.get(name, is_table)
        users = self.referenced_by(name)
        if users and not force:
            raise ConflictError(f"{kind_word(is_table)} {name} has been referenced by other "
                                f"rules: {', '.join(sorted(users))}",
                                hint="drop the rules first, or drop with ?force=true")
        self.store.delete(TABLE_NS if is_table else STREAM_NS, name)
        self.catalog.drop_stream(name, is_table=is_table)
        message = f"{_title(is_table)} {name} is dropped."
        log.info(message)
        return message

    # --- queries ----------------------------------------------------------------------------
    def get(self, name: str, is_table: bool = False) -> StreamDef:
        d = self.catalog.find_stream(name)
        if d is None or d.is_table != is_table:
            raise NotFoundError(f"{kind_word(is_table)} {name} is not found")
        return d

    def list(self, is_table: bool = False, kind: str | None = None) -> list[str]:
        """Names, sorted; tables may be filtered by `kind` (scan or lookup)."""
        defs = self.catalog.streams(tables=is_table)
        if is_table and kind in ("scan", "lookup"):
            defs = [d for d in defs if d.kind == kind]
        return sorted(d.name for d in defs)

    def details(self, is_table: bool = False, kind: str | None = None) -> list[dict[str, str]]:
        """GET /streamdetails: name, source type and format of each."""
        return [{"name": n, "type": (d := self.get(n, is_table)).source_type, "format": d.format}
                for n in self.list(is_table, kind)]

    def describe(self, name: str, is_table: bool = False) -> dict[str, Any]:
        return self.get(name, is_table).to_json()

    def schema(self, name: str, is_table: bool = False) -> dict[str, Any]:
        """The declared fields as eKuiper's JSON-schema-like map ({} when schemaless)."""
        return {f.name: field_schema(f) for f in self.get(name, is_table).fields}


def validate_definition(d: StreamDef) -> None:
    """What eKuiper checks at CREATE beyond the grammar: a known connector and format, a
    TIMESTAMP that is a declared field, boolean and integer options that parse."""
    if d.is_table and d.kind == "lookup":
        known = registry.lookup_types()
        if d.source_type not in known:
            raise ConfigError(f"lookup table type '{d.source_type}' is not supported",
                              hint="one of: " + ", ".join(known))
    else:
        known = registry.source_types()
        if d.source_type not in known:
            raise ConfigError(f"source type '{d.source_type}' is not found",
                              hint="built-in types: " + ", ".join(known)
                              + " (or install a source plugin first)")
    if d.format not in registry.format_names() and d.format != "custom":
        raise ConfigError(f"format '{d.format}' is not supported",
                          hint="one of: " + ", ".join(registry.format_names()))
    for opt in ("SHARED", "STRICT_VALIDATION", "TEMP"):
        value = d.options.get(opt)
        if value is not None and value.lower() not in ("true", "false"):
            raise ConfigError(f"option {opt} must be true or false, got '{value}'")
    retain = d.options.get("RETAIN_SIZE")
    if retain is not None and not retain.strip().isdigit():
        raise ConfigError(f"option RETAIN_SIZE must be a non-negative integer, got '{retain}'")
    kind = d.options.get("KIND")
    if kind is not None and kind.lower() not in ("scan", "lookup"):
        raise ConfigError(f"option KIND must be scan or lookup, got '{kind}'")
    if d.timestamp_field and d.fields and d.field(d.timestamp_field) is None:
        raise ConfigError(f"TIMESTAMP field {d.timestamp_field} is not a field of "
                          f"{kind_word(d.is_table)} {d.name}")
