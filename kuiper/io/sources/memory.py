"""The memory source: rows published by memory sinks on a topic (wildcards + and #), and the
memory lookup table: the latest row per key published on a topic.

Offsets (rule qos >= 1): the bus's sequence number of the last publish received; a rule
restarted in the same process from a checkpoint replays the publishes after it that the bus
still holds (`TopicBus.retain`, the last HISTORY_ROWS rows). A new process has no history."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from kuiper.api import Context, LookupSource, Source
from kuiper.errors import ConfigError
from kuiper.io.pubsub import BUS
from kuiper.runtime.registry import register_lookup, register_source

log = logging.getLogger(__name__)


@register_source("memory")
class MemorySource(Source):
    """DATASOURCE is the topic (pattern) to subscribe to; meta carries the actual topic."""

    def __init__(self) -> None:
        self.topic = ""
        self._token: int | None = None
        self._offset = 0
        self._rewind_to: int | None = None

    def checkpointed(self) -> bool:
        BUS.retain()
        self._offset = BUS.seq
        return True

    def get_offset(self) -> int:
        return self._offset

    def rewind(self, offset: Any) -> None:
        self._rewind_to = int(offset)

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        if not datasource:
            raise ConfigError("memory source needs a topic", hint='DATASOURCE="my/topic"')
        self.topic = datasource

    async def open(self, ctx: Context) -> None:
        def on_rows(topic: str, rows: list[dict[str, Any]]) -> None:
            self._offset = BUS.seq
            ctx.emit_rows(rows, [{"topic": topic}] * len(rows))

        if self._rewind_to is not None:  # replay, then subscribe: no gap, nothing twice
            kept, complete = BUS.since(self.topic, self._rewind_to)
            if not complete:
                log.warning("memory source %s: publishes after offset %d are no longer kept; "
                            "replaying %d", self.topic, self._rewind_to, len(kept))
            for seq, topic, rows in kept:
                self._offset = seq
                ctx.emit_rows(rows, [{"topic": topic}] * len(rows))
            self._rewind_to = None
        self._token = BUS.subscribe(self.topic, on_rows)
        await asyncio.Event().wait()  # runs until the rule stops

    def close(self, ctx: Context) -> None:
        if self._token is not None:
            BUS.unsubscribe(self._token)
            self._token = None


class MemoryTable:
    """The rows published on a topic, by the value of their key field (the latest wins)."""

    def __init__(self, topic: str, key: str) -> None:
        self.topic = topic
        self.key = key
        self.rows: dict[Any, dict[str, Any]] = {}
        self.users = 0
        self._token = BUS.subscribe(topic, self._on_rows)

    def _on_rows(self, topic: str, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            k = row.get(self.key)
            if k is not None:
                self.rows[k] = row

    def close(self) -> None:
        BUS.unsubscribe(self._token)


_TABLES: dict[tuple[str, str], MemoryTable] = {}


def memory_table(topic: str, key: str) -> MemoryTable:
    """The shared table of (topic, key), created on first use."""
    table = _TABLES.get((topic, key))
    if table is None:
        table = _TABLES[(topic, key)] = MemoryTable(topic, key)
    return table


@register_lookup("memory")
class MemoryLookupSource(LookupSource):
    """`CREATE TABLE t () WITH (TYPE="memory", KIND="lookup", DATASOURCE="topic", KEY="id")`:
    rows that memory sinks publish on the topic, kept by their KEY field (updates replace);
    lookups by any fields, answered for all the keys of a batch in one call."""

    def __init__(self) -> None:
        self.topic = ""
        self.key = ""
        self.table: MemoryTable | None = None

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        if not datasource:
            raise ConfigError("memory lookup table needs a topic", hint='DATASOURCE="my/topic"')
        self.topic = datasource
        self.key = str(conf.get("key") or "")
        if not self.key:
            raise ConfigError(f"memory lookup table on {datasource} needs KEY",
                              hint='CREATE TABLE t () WITH (..., KIND="lookup", KEY="id")')
        self.table = memory_table(self.topic, self.key)
        self.table.users += 1

    def open(self, ctx: Context) -> None:
        if self.table is None:
            self.table = memory_table(self.topic, self.key)
            self.table.users += 1

    def lookup(self, ctx: Context, fields: list[str], keys: list[str],
               values: list[Any]) -> list[dict[str, Any]]:
        return self.lookup_batch(ctx, fields, keys, [values])[0]

    def lookup_batch(self, ctx: Context, fields: list[str], keys: list[str],
                     values_list: list[list[Any]]) -> list[list[dict[str, Any]]]:
        assert self.table is not None
        rows = self.table.rows
        out: list[list[dict[str, Any]]] = []
        if keys == [self.key]:
            for values in values_list:
                row = rows.get(values[0])
                out.append([_pick(row, fields)] if row is not None else [])
            return out
        for values in values_list:
            out.append([_pick(r, fields) for r in rows.values()
                        if all(r.get(k) == v for k, v in zip(keys, values, strict=True))])
        return out

    def close(self, ctx: Context) -> None:
        table = self.table
        self.table = None
        if table is not None:
            table.users -= 1
            if table.users <= 0:
                table.close()
                _TABLES.pop((table.topic, table.key), None)


def _pick(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {k: row[k] for k in fields if k in row} if fields else row
