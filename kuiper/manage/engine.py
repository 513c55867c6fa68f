"""Engine: one kuiper root's catalog, rules, plugins and external services, opened together.

`await Engine(root).open()` restores streams, tables and rules from the KV store
(`{root}/data/sqliteKV.db`, or the `store` section of `{root}/etc/kuiper.yaml`), makes the
installed plugins and services usable, and starts the rules that were running; `await
close()` stops the rules (their stored state says they were running, so the next server
starts them again) and releases everything. The REST routes and tests call its managers.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import kuiper.io  # noqa: F401  (registers the built-in connectors and formats)
from kuiper.catalog.catalog import Catalog
from kuiper.external.manager import ServiceManager
from kuiper.functions.registry import FunctionRegistry, default_registry
from kuiper.manage import ruleset
from kuiper.manage.config import ServerConfig, load_config
from kuiper.manage.rules import RuleManager
from kuiper.manage.streams import StreamManager
from kuiper.plugins.manager import PluginManager
from kuiper.runtime.clock import Clock
from kuiper.state import keyed
from kuiper.state.kv import KVStore, open_store

log = logging.getLogger(__name__)


class Engine:
    """Everything the management plane manages for one root."""

    def __init__(self, root: str | Path, *, config: ServerConfig | None = None,
                 store: KVStore | None = None, registry: FunctionRegistry | None = None,
                 clock: Clock | None = None) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = config or load_config(self.root)
        self.registry = registry if registry is not None else default_registry
        self._own_store = store is None
        self.store = store if store is not None else open_store(self.root, self.config.store)
        keyed.bind(self.store)  # get_keyed_state() reads this store's `keyed_state` namespace
        self.catalog = Catalog()
        self.rules = RuleManager(self.catalog, self.store, str(self.root), clock=clock,
                                 registry=self.registry)
        self.streams = StreamManager(self.catalog, self.store, self.rules.referenced_by)
        self.plugins = PluginManager(self.root, registry=self.registry)
        self.services = ServiceManager(self.root, self.registry)
        self.started_at = time.time()
        self._closed = False

    async def open(self) -> Engine:
        """Load plugins, services, streams and rules; start the rules that were running."""
        self.services.load_all()
        for name, err in self.services.load_errors.items():
            log.error("external service %s not loaded: %s", name, err)
        streams = self.streams.load()
        to_start = self.rules.load()
        log.info("engine at %s: %d stream(s)/table(s), %d rule(s), starting %d",
                 self.root, len(streams), len(self.rules.ids()), len(to_start))
        await self.rules.start_all(to_start)
        return self

    async def close(self) -> None:
        """Stop every rule and release the plugins, services and store."""
        if self._closed:
            return
        self._closed = True
        await self.rules.close()
        self.services.close()
        if self.plugins.resolver is not None:
            self.registry.remove_resolver(self.plugins.resolver)
        keyed.release(self.store)
        if self._own_store:
            self.store.close()

    def export_ruleset(self) -> dict[str, Any]:
        """POST /ruleset/export: `{"streams", "tables", "rules"}` (kuiper/manage/ruleset.py)."""
        return ruleset.export_ruleset(self.streams, self.rules)

    async def import_ruleset(self, content: str | bytes | dict[str, Any]) -> tuple[int, int, int]:
        """POST /ruleset/import: create what the ruleset holds; (streams, tables, rules)
        created, existing or refused items skipped."""
        return await ruleset.import_ruleset(self.streams, self.rules, content)

    def info(self) -> dict[str, Any]:
        """GET /: version, os, arch and uptime."""
        import platform
        import sys

        from kuiper import __version__

        return {"version": __version__, "os": sys.platform, "arch": platform.machine(),
                "upTimeSeconds": int(time.time() - self.started_at)}

    async def __aenter__(self) -> Engine:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
