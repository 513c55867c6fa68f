"""`PluginConfig` and `start()`: in-process, `start` records the factories instead of serving IPC."""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

#: attribute set on the plugin module that called `start`
CONFIG_ATTR = "__kuiper_plugin_config__"


class PluginConfig:
    """A portable plugin's name and its source, sink and function factories by symbol name."""

    def __init__(self, name: str, sources: Mapping[str, Callable[[], Any]] | None = None,
                 sinks: Mapping[str, Callable[[], Any]] | None = None,
                 functions: Mapping[str, Callable[[], Any]] | None = None) -> None:
        self.name = name
        self.sources = dict(sources or {})
        self.sinks = dict(sinks or {})
        self.functions = dict(functions or {})

    def get(self, plugin_type: str, symbol_name: str) -> Callable[[], Any] | None:
        table = {"source": self.sources, "sink": self.sinks, "func": self.functions,
                 "function": self.functions}.get(plugin_type, {})
        return table.get(symbol_name)


def start(config: PluginConfig) -> None:
    """Record `config` on the calling module; the kuiper loader reads it after the import."""
    caller = sys._getframe(1).f_globals
    caller[CONFIG_ATTR] = config
    log.info("ekuiper plugin %s registered in-process: sources=%s sinks=%s functions=%s",
             config.name, sorted(config.sources), sorted(config.sinks), sorted(config.functions))
