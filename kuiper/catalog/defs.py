"""Stream, table and rule definitions as frozen dataclasses (what the catalog stores)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One declared column: `kind` is an eKuiper type name (bigint, float, string, datetime,
    boolean, bytea, array, struct). `element` is an array's element type; `fields` a struct's.
    `default` is the column's `DEFAULT` literal, already of the column's type (None: none)."""

    name: str
    kind: str
    element: FieldDef | None = None
    fields: tuple[FieldDef, ...] = ()
    default: Any = None

    def describe(self) -> str:
        if self.kind == "array" and self.element is not None:
            return f"array({self.element.describe_type()})"
        if self.kind == "struct" and self.fields:
            inner = ", ".join(f"{f.name} {f.describe_type()}" for f in self.fields)
            return f"struct({inner})"
        return self.kind

    def describe_type(self) -> str:
        return self.describe()


@dataclass(frozen=True, slots=True)
class StreamDef:
    """A CREATE STREAM or CREATE TABLE: name, declared fields (empty = schemaless), WITH options.

    `options` keys are upper-case as written in WITH (DATASOURCE, FORMAT, TYPE, KEY, CONF_KEY,
    SHARED, TIMESTAMP, TIMESTAMP_FORMAT, SCHEMAID, STRICT_VALIDATION, RETAIN_SIZE, KIND,
    DELIMITER, EXTRA, VERSION, TEMP); values are strings as in eKuiper.
    """

    name: str
    fields: tuple[FieldDef, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    is_table: bool = False
    statement: str = ""

    @property
    def schemaless(self) -> bool:
        return not self.fields

    @property
    def datasource(self) -> str:
        return self.options.get("DATASOURCE", "")

    @property
    def source_type(self) -> str:
        return self.options.get("TYPE", "mqtt").lower() if self.options.get("TYPE") else "mqtt"

    @property
    def format(self) -> str:
        return self.options.get("FORMAT", "json").lower() or "json"

    @property
    def conf_key(self) -> str:
        return self.options.get("CONF_KEY", "default") or "default"

    @property
    def shared(self) -> bool:
        return self.options.get("SHARED", "false").lower() == "true"

    @property
    def strict_validation(self) -> bool:
        return self.options.get("STRICT_VALIDATION", "false").lower() == "true"

    @property
    def timestamp_field(self) -> str:
        return self.options.get("TIMESTAMP", "")

    @property
    def kind(self) -> str:
        """Table kind: scan (default) or lookup; streams are 'stream'."""
        if not self.is_table:
            return "stream"
        return self.options.get("KIND", "scan").lower() or "scan"

    def field(self, name: str) -> FieldDef | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def to_json(self) -> dict[str, Any]:
        """eKuiper's DESCRIBE shape: {"Name", "StreamFields", "Options", "Statement"}."""
        return {
            "Name": self.name,
            "StreamFields": [
                {"Name": f.name, "FieldType": f.describe()} for f in self.fields
            ] or None,
            "Options": {k.lower(): v for k, v in self.options.items()},
            "Statement": self.statement,
            "StreamType": 1 if self.is_table else 0,
        }


@dataclass(frozen=True, slots=True)
class RuleDef:
    """A rule in eKuiper's JSON form: id, sql, actions [{sinkType: props}], options."""

    id: str
    sql: str
    actions: tuple[tuple[str, dict[str, Any]], ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    triggered: bool = True
    tags: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RuleDef:
        from kuiper.errors import ConfigError

        if not isinstance(obj, dict):
            raise ConfigError("a rule must be a JSON object", hint='{"id": …, "sql": …, "actions": […]}')
        rid = obj.get("id")
        if not rid or not isinstance(rid, str):
            raise ConfigError("rule has no 'id'", hint='add "id": "myRule" to the rule JSON')
        sql = obj.get("sql")
        if not sql or not isinstance(sql, str):
            raise ConfigError(f"rule '{rid}' has no 'sql'", hint='add "sql": "SELECT … FROM …"')
        actions_raw = obj.get("actions")
        if actions_raw is None:
            actions_raw = []
        if not isinstance(actions_raw, list):
            raise ConfigError(f"rule '{rid}': 'actions' must be a list of {{sinkType: props}}")
        actions: list[tuple[str, dict[str, Any]]] = []
        for i, act in enumerate(actions_raw):
            if not isinstance(act, dict) or not act:
                raise ConfigError(f"rule '{rid}': action {i} must be an object like {{\"log\": {{}}}}")
            for sink_type, props in act.items():
                if props is None:
                    props = {}
                if not isinstance(props, dict):
                    raise ConfigError(f"rule '{rid}': properties of action '{sink_type}' must be an object")
                actions.append((sink_type, dict(props)))
        options = obj.get("options") or {}
        if not isinstance(options, dict):
            raise ConfigError(f"rule '{rid}': 'options' must be an object")
        tags = obj.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ConfigError(f"rule '{rid}': 'tags' must be a list of strings",
                              hint='"tags": ["plant1", "temperature"]')
        return cls(
            id=rid,
            sql=sql,
            actions=tuple(actions),
            options=dict(options),
            name=str(obj.get("name", "")),
            triggered=bool(obj.get("triggered", True)),
            tags=tuple(tags),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "sql": self.sql,
            "actions": [{k: v} for k, v in self.actions],
            "options": self.options,
            "triggered": self.triggered,
            "tags": list(self.tags),
        }
