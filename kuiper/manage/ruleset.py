"""eKuiper's ruleset: every stream, table and rule as one JSON document.

    {"streams": {name: "CREATE STREAM …"}, "tables": {name: "CREATE TABLE …"},
     "rules": {id: "<the rule JSON as a string>"}}

`export_ruleset` writes it from the current definitions; `import_ruleset` creates what it
holds, in order streams, tables, rules, skipping (and logging) any item that already exists
or is refused, as eKuiper does. Imported rules start when their JSON says `triggered` (the
default).
"""
from __future__ import annotations

import json
import logging
from typing import Any

from kuiper.errors import ConfigError, KuiperError
from kuiper.manage.rules import RuleManager
from kuiper.manage.streams import StreamManager

log = logging.getLogger(__name__)


def export_ruleset(streams: StreamManager, rules: RuleManager) -> dict[str, Any]:
    """The ruleset document of the current definitions (rule JSON as stored, with the
    `triggered` state the user last asked for)."""
    out: dict[str, Any] = {"streams": {}, "tables": {}, "rules": {}}
    for key, is_table in (("streams", False), ("tables", True)):
        for name in streams.list(is_table):
            out[key][name] = streams.get(name, is_table).statement
    for rid in rules.ids():
        out["rules"][rid] = json.dumps(rules.describe(rid), ensure_ascii=False)
    return out


def parse_ruleset(content: str | bytes | dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A ruleset from its JSON text (or object); each part is optional."""
    doc: Any = content
    if isinstance(content, str | bytes):
        try:
            doc = json.loads(content)
        except ValueError as exc:
            raise ConfigError(f"Import ruleset error: invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError("Import ruleset error: the ruleset must be a JSON object with "
                          '"streams", "tables" and "rules"')
    out: dict[str, dict[str, Any]] = {}
    for key in ("streams", "tables", "rules"):
        part = doc.get(key)
        if part is None:
            part = {}
        if not isinstance(part, dict):
            raise ConfigError(f'Import ruleset error: "{key}" must be an object of name -> '
                              "definition")
        out[key] = part
    return out


async def import_ruleset(streams: StreamManager, rules: RuleManager,
                         content: str | bytes | dict[str, Any]) -> tuple[int, int, int]:
    """Create the ruleset's streams, tables and rules; the numbers created of each."""
    doc = parse_ruleset(content)
    counts = [0, 0, 0]
    for i, (key, is_table) in enumerate((("streams", False), ("tables", True))):
        for name, statement in doc[key].items():
            try:
                if not isinstance(statement, str):
                    raise ConfigError("the definition must be a CREATE statement string")
                created = streams.create(statement, is_table)
                log.info("ruleset import: %s", created)
                counts[i] += 1
            except KuiperError as exc:
                log.error("ruleset import: %s %s skipped: %s", key[:-1], name, exc)
    for rid, body in doc["rules"].items():
        try:
            if not isinstance(body, str | dict):
                raise ConfigError("the rule must be its JSON (a string or an object)")
            await rules.create(body, rid)
            counts[2] += 1
        except KuiperError as exc:
            log.error("ruleset import: rule %s skipped: %s", rid, exc)
    return counts[0], counts[1], counts[2]
