"""eKuiper Python SDK compatibility: `import ekuiper` resolves here, so SDK plugins run in-process.

`install()` maps the SDK's module names (`ekuiper`, `ekuiper.function`, `ekuiper.source`,
`ekuiper.sink`, `ekuiper.runtime`, `ekuiper.runtime.plugin`, `ekuiper.runtime.context`) to this
package; the loader calls it before importing a plugin. `plugin.start(PluginConfig(...))`
records the factories on the calling module (no IPC), and `adapt()` wraps SDK objects so the
engine drives them through kuiper.api.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import types
from collections.abc import Iterator
from typing import Any

from kuiper.plugins.ekuiper_compat import plugin
from kuiper.plugins.ekuiper_compat.adapters import CompatContext, adapt
from kuiper.plugins.ekuiper_compat.plugin import CONFIG_ATTR, PluginConfig
from kuiper.plugins.ekuiper_compat.sdk import Context, Function, Sink, Source

log = logging.getLogger(__name__)

__all__ = [
    "plugin", "PluginConfig", "Source", "Sink", "Function", "Context",
    "CompatContext", "adapt", "install", "installed", "recorded_config",
]

name = "ekuiper"


def _runtime_module() -> types.ModuleType:
    from kuiper.plugins.ekuiper_compat import sdk

    mod = types.ModuleType("ekuiper.runtime", "eKuiper SDK runtime names, served in-process.")
    mod.plugin = plugin  # type: ignore[attr-defined]
    mod.context = sdk  # type: ignore[attr-defined]
    return mod


def install() -> None:
    """Make `import ekuiper` (and its submodules) resolve to this shim."""
    me = sys.modules[__name__]
    current = sys.modules.get("ekuiper")
    if current is me:
        return
    if current is not None:
        log.warning("replacing the installed ekuiper SDK with kuiper's in-process shim")
    from kuiper.plugins.ekuiper_compat import sdk

    runtime = _runtime_module()
    sys.modules.update({
        "ekuiper": me,
        "ekuiper.function": sdk,
        "ekuiper.source": sdk,
        "ekuiper.sink": sdk,
        "ekuiper.runtime": runtime,
        "ekuiper.runtime.plugin": plugin,
        "ekuiper.runtime.context": sdk,
    })
    me.runtime = runtime  # type: ignore[attr-defined]


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """`install()` for the duration of a plugin import (the mapping stays afterwards)."""
    install()
    yield


def recorded_config(module: Any) -> PluginConfig | None:
    """The PluginConfig a plugin module passed to `plugin.start`, if it did."""
    cfg = getattr(module, CONFIG_ATTR, None)
    return cfg if isinstance(cfg, PluginConfig) else None
