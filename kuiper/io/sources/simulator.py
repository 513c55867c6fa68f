"""The simulator source: emits the configured rows one by one every `interval` ms."""
from __future__ import annotations

from typing import Any

from kuiper.api import Context, Source
from kuiper.errors import ConfigError
from kuiper.runtime.registry import register_source

DEFAULT_DATA = [{"temperature": 22.5, "humidity": 50}]


@register_source("simulator")
class SimulatorSource(Source):
    """Properties: data (a row or a list of rows), interval (ms, default 1000), loop (default
    true). Without loop it is bounded: the rule ends after the last row."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = list(DEFAULT_DATA)
        self.loop = True
        self._next = 0

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        data = conf.get("data", DEFAULT_DATA)
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
            raise ConfigError("simulator: 'data' must be a row or a non-empty list of rows",
                              hint="data: [{temperature: 22.5, humidity: 50}]")
        interval = conf.get("interval", 1000)
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise ConfigError("simulator: 'interval' must be a positive number of milliseconds")
        loop = conf.get("loop", True)
        if not isinstance(loop, bool):
            raise ConfigError("simulator: 'loop' must be true or false")
        self.rows, self.interval, self.loop = data, interval / 1000, loop
        self.bounded = not loop

    def open(self, ctx: Context) -> None:
        self._next = 0

    def pull(self, ctx: Context) -> None:
        if self._next >= len(self.rows):
            if not self.loop:
                ctx.emit_eof()
                return
            self._next = 0
        ctx.emit(self.rows[self._next])
        self._next += 1
        if not self.loop and self._next >= len(self.rows):
            ctx.emit_eof()
