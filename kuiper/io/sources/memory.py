"""The memory source: rows published by memory sinks on a topic (wildcards + and #)."""
from __future__ import annotations

import asyncio
from typing import Any

from kuiper.api import Context, Source
from kuiper.errors import ConfigError
from kuiper.io.pubsub import BUS
from kuiper.runtime.registry import register_source


@register_source("memory")
class MemorySource(Source):
    """DATASOURCE is the topic (pattern) to subscribe to; meta carries the actual topic."""

    def __init__(self) -> None:
        self.topic = ""
        self._token: int | None = None

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        if not datasource:
            raise ConfigError("memory source needs a topic", hint='DATASOURCE="my/topic"')
        self.topic = datasource

    async def open(self, ctx: Context) -> None:
        def on_rows(topic: str, rows: list[dict[str, Any]]) -> None:
            ctx.emit_rows(rows, [{"topic": topic}] * len(rows))

        self._token = BUS.subscribe(self.topic, on_rows)
        await asyncio.Event().wait()  # runs until the rule stops

    def close(self, ctx: Context) -> None:
        if self._token is not None:
            BUS.unsubscribe(self._token)
            self._token = None
