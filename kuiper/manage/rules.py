"""RuleManager: create, validate, update, delete, start, stop, restart rules; status and topo.

A rule is validated when it is created or updated: its JSON, its options, its SQL planned
against the catalog, its sinks and sources configured (nothing is opened). Definitions are
stored in the KV namespace `rule` as the rule JSON with `triggered` kept equal to the state
the user asked for (true after start, false after stop), so a server restart starts again
exactly the rules that were running. Each start plans the rule again (it sees the current
stream definitions and functions) and runs a fresh `RuleRunner` on the current event loop;
the rule's extension state survives restarts (it is keyed by the rule id).
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from kuiper import planner
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.errors import ConfigError, ConflictError, KuiperError, NotFoundError, PlanError
from kuiper.manage import topo as topology
from kuiper.planner.physical import PhysicalPlan
from kuiper.runtime import registry as connectors
from kuiper.runtime.clock import Clock
from kuiper.runtime.metrics import RuleStatus
from kuiper.runtime.options import effective_options, parse_rule_options, with_rule_defaults
from kuiper.runtime.rule import RuleRunner
from kuiper.runtime.shared_source import shared_sources
from kuiper.runtime.sink_node import SinkProps
from kuiper.runtime.topology import build_source
from kuiper.state import checkpoint
from kuiper.state.kv import KVStore

log = logging.getLogger(__name__)

RULE_NS = "rule"


@dataclass(slots=True)
class RuleEntry:
    """One rule: its definition, the streams it reads, its runner once started, and the
    error of its last failed start (the runner is None then)."""

    rule: RuleDef
    streams: tuple[str, ...] = ()
    runner: RuleRunner | None = None
    error: str = ""

    @property
    def running(self) -> bool:
        return self.runner is not None and self.runner.state == "running"


def parse_rule(body: dict[str, Any] | str | bytes, rule_id: str | None = None) -> RuleDef:
    """A rule from its JSON (text or object); `rule_id` (from the URL or the CLI) fills a
    missing id and must equal a given one."""
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise ConfigError(f"invalid rule json: {exc}") from exc
    if not isinstance(body, dict):
        raise ConfigError("invalid rule json: a rule must be a JSON object")
    body = dict(body)
    if rule_id:
        given = body.get("id")
        if given and given != rule_id:
            raise ConfigError(f"invalid rule json: the id '{given}' in the body differs from "
                              f"the rule '{rule_id}' addressed")
        body["id"] = rule_id
    if body.get("graph") is not None and not body.get("sql"):
        raise ConfigError("invalid rule json: graph rules are not supported",
                          hint='give the rule an "sql" and "actions"')
    try:
        rule = RuleDef.from_json(body)
    except KuiperError as exc:
        raise ConfigError(f"invalid rule json: {exc.message}", hint=exc.hint) from None
    if not rule.actions:
        raise ConfigError(f"invalid rule json: rule '{rule.id}' has no actions",
                          hint='add "actions": [{"log": {}}]')
    return rule


class RuleManager:
    """The rules of one engine. Methods that start or stop runners are coroutines and must
    run on the engine's event loop; they are serialized by one lock."""

    def __init__(self, catalog: Catalog, store: KVStore, root: str, *,
                 clock: Clock | None = None, registry: Any = None) -> None:
        self.catalog = catalog
        self.store = store
        self.root = root
        self.clock = clock
        self.registry = registry
        self._entries: dict[str, RuleEntry] = {}
        self._lock = asyncio.Lock()

    # --- planning and validation -------------------------------------------------------------
    def plan(self, rule: RuleDef) -> PhysicalPlan:
        """Plan the rule and check what its nodes would be built with (raises KuiperError;
        a missing stream or connector makes the rule invalid: a PlanError, not a 404)."""
        try:
            parse_rule_options(effective_options(self.root, rule.options))
            plan = planner.plan_rule(with_rule_defaults(self.root, rule), self.catalog,
                                     self.registry)
            for sink_type, props in rule.actions:
                SinkProps.parse(sink_type, props)
                sink = connectors.get_sink_factory(sink_type)()
                sink.configure(dict(props))
            for spec in plan.sources:
                build_source(spec, self.root)
        except NotFoundError as exc:
            raise PlanError(exc.message, hint=exc.hint) from None
        return plan

    def validate(self, body: dict[str, Any] | str | bytes) -> list[str]:
        """POST /rules/validate: the names of the streams the rule reads, or a KuiperError."""
        rule = parse_rule(body)
        return [s.name for s in self.plan(rule).sources]

    @staticmethod
    def _streams_of(plan: PhysicalPlan) -> tuple[str, ...]:
        names = [s.name for s in plan.sources]
        names += [op.lookup_table.name for op in plan.operators
                  if getattr(op, "lookup_table", None) is not None]
        return tuple(dict.fromkeys(names))

    def referenced_by(self, stream: str) -> list[str]:
        """Ids of the rules that read `stream`."""
        return [rid for rid, e in self._entries.items() if stream in e.streams]

    def _store_rule(self, rule: RuleDef, triggered: bool) -> None:
        doc = rule.to_json()
        doc["triggered"] = triggered
        self.store.set(RULE_NS, rule.id, json.dumps(doc, ensure_ascii=False))

    def _set_triggered(self, entry: RuleEntry, triggered: bool) -> None:
        if entry.rule.triggered != triggered:
            entry.rule = RuleDef.from_json({**entry.rule.to_json(), "triggered": triggered})
        self._store_rule(entry.rule, triggered)

    def _entry(self, rule_id: str) -> RuleEntry:
        entry = self._entries.get(rule_id)
        if entry is None:
            raise NotFoundError(f"Rule {rule_id} is not found")
        return entry

    # --- restore ---------------------------------------------------------------------------------
    def load(self) -> list[str]:
        """Read every stored rule (server start); returns the ids whose `triggered` is true.
        A rule that no longer plans is kept, stopped, with the reason in its status."""
        to_start: list[str] = []
        for rid, raw in self.store.items(RULE_NS).items():
            try:
                rule = parse_rule(raw.decode("utf-8"), rid)
            except KuiperError as exc:
                log.error("rule %s not restored: %s", rid, exc)
                continue
            entry = self._entries[rid] = RuleEntry(rule)
            self.catalog.add_rule(rule, replace=True)
            try:
                entry.streams = self._streams_of(planner.plan_rule(
                    with_rule_defaults(self.root, rule), self.catalog, self.registry))
            except KuiperError as exc:
                entry.error = str(exc)
            if rule.triggered:
                to_start.append(rid)
        return to_start

    async def start_all(self, rule_ids: list[str]) -> None:
        """Start restored rules; a failure is logged and shown in that rule's status. Rules
        reading one bounded source (a file) share one read of it."""
        with shared_sources().hold():
            for rid in rule_ids:
                try:
                    await self.start(rid, persist=False)
                except KuiperError as exc:
                    log.error("rule %s not restarted: %s", rid, exc)

    # --- lifecycle -----------------------------------------------------------------------------
    async def create(self, body: dict[str, Any] | str | bytes, rule_id: str | None = None) -> str:
        """Validate, store and (when `triggered`, the default) start a rule; its id."""
        rule = parse_rule(body, rule_id)
        async with self._lock:
            if rule.id in self._entries:
                raise ConflictError(f"rule {rule.id} already exists",
                                    hint="update it with PUT /rules/{id}, or delete it first")
            plan = self.plan(rule)
            if not self.store.setnx(RULE_NS, rule.id, json.dumps(rule.to_json())):
                raise ConflictError(f"rule {rule.id} already exists")
            entry = self._entries[rule.id] = RuleEntry(rule, self._streams_of(plan))
            self.catalog.add_rule(rule, replace=True)
            log.info("rule %s created", rule.id)
            if rule.triggered:
                await self._start_entry(entry, plan, swallow=True)
        return rule.id

    async def update(self, rule_id: str, body: dict[str, Any] | str | bytes) -> None:
        """Replace a rule's definition; a running rule restarts with it. A stopped rule
        starts only when the new JSON says `"triggered": true` explicitly."""
        rule = parse_rule(body, rule_id)
        explicit = _explicit_triggered(body)
        async with self._lock:
            entry = self._entry(rule_id)
            plan = self.plan(rule)
            was_running = entry.running
            run = (was_running and explicit is not False) or explicit is True
            await self._stop_entry(entry)
            entry.rule, entry.streams, entry.error = rule, self._streams_of(plan), ""
            self.catalog.add_rule(rule, replace=True)
            self._set_triggered(entry, run)
            if run:
                await self._start_entry(entry, plan)
        log.info("rule %s updated", rule_id)

    async def delete(self, rule_id: str) -> None:
        """Stop the rule, forget its definition and its saved state."""
        async with self._lock:
            entry = self._entry(rule_id)
            await self._stop_entry(entry)
            del self._entries[rule_id]
            self.store.delete(RULE_NS, rule_id)
            if any(r.id == rule_id for r in self.catalog.rules()):
                self.catalog.drop_rule(rule_id)
            checkpoint.forget(rule_id, self.root, self.store)
        log.info("rule %s dropped", rule_id)

    async def start(self, rule_id: str, *, persist: bool = True) -> None:
        """Plan the rule again and run it (a running rule is left alone)."""
        async with self._lock:
            entry = self._entry(rule_id)
            if persist:
                self._set_triggered(entry, True)
            if entry.running:
                return
            await self._stop_entry(entry)  # a failed runner may still have a restart pending
            await self._replan_and_start(entry)

    async def _replan_and_start(self, entry: RuleEntry) -> None:
        try:
            plan = self.plan(entry.rule)
        except KuiperError as exc:
            entry.runner, entry.error = None, str(exc)
            raise
        entry.streams = self._streams_of(plan)
        await self._start_entry(entry, plan)

    async def stop(self, rule_id: str) -> None:
        async with self._lock:
            entry = self._entry(rule_id)
            self._set_triggered(entry, False)
            await self._stop_entry(entry)

    async def restart(self, rule_id: str) -> None:
        async with self._lock:
            entry = self._entry(rule_id)
            await self._stop_entry(entry)
            self._set_triggered(entry, True)
            await self._replan_and_start(entry)

    async def _start_entry(self, entry: RuleEntry, plan: PhysicalPlan, *,
                           swallow: bool = False) -> None:
        runner = RuleRunner(plan, self.root, clock=self.clock, store=self.store)
        entry.runner, entry.error = runner, ""
        try:
            await runner.start()
        except KuiperError as exc:
            entry.runner, entry.error = None, str(exc)
            log.error("rule %s failed to start: %s", entry.rule.id, exc)
            if not swallow:
                raise
        else:
            log.info("rule %s started", entry.rule.id)

    @staticmethod
    async def _stop_entry(entry: RuleEntry) -> None:
        if entry.runner is not None:
            await entry.runner.stop()

    async def close(self) -> None:
        """Stop every rule (server shutdown); the stored `triggered` flags are unchanged, so
        the rules that were running start again with the next server."""
        async with self._lock:
            for entry in self._entries.values():
                try:
                    await self._stop_entry(entry)
                except Exception as exc:  # noqa: BLE001 - keep stopping the others
                    log.error("rule %s did not stop cleanly: %s", entry.rule.id, exc)

    # --- tags, bulk operations, state ---------------------------------------------------------
    def set_tags(self, rule_id: str, tags: list[str], mode: str = "reset") -> list[str]:
        """PUT (`reset`), PATCH (`add`) or DELETE (`remove`) /rules/{id}/tags: the rule's new
        tags, stored with its definition. A running rule keeps running (tags are labels)."""
        entry = self._entry(rule_id)
        current = list(entry.rule.tags)
        if mode == "reset":
            new = list(dict.fromkeys(tags))
        elif mode == "add":
            new = current + [t for t in dict.fromkeys(tags) if t not in current]
        elif mode == "remove":
            new = [t for t in current if t not in set(tags)]
        else:
            raise ValueError(f"unknown tag mode {mode!r}")
        entry.rule = RuleDef.from_json({**entry.rule.to_json(), "tags": new})
        self.catalog.add_rule(entry.rule, replace=True)
        self._store_rule(entry.rule, entry.rule.triggered)
        return new

    def match_tags(self, tags: list[str]) -> list[str]:
        """GET /rules/tags/match: ids (sorted) of the rules that have every one of `tags`."""
        wanted = set(tags)
        return [rid for rid in self.ids() if wanted <= set(self._entries[rid].rule.tags)]

    async def bulk(self, rule_ids: list[str], start: bool) -> list[dict[str, Any]]:
        """POST /rules/bulkstart|bulkstop: start or stop each rule in order; one result per
        rule, `{"ruleId", "success", "error"?}`. Not atomic: a failure does not undo the
        others."""
        results: list[dict[str, Any]] = []
        for rid in rule_ids:
            try:
                await (self.start(rid) if start else self.stop(rid))
            except KuiperError as exc:
                results.append({"ruleId": rid, "success": False, "error": str(exc)})
            else:
                results.append({"ruleId": rid, "success": True})
        return results

    async def reset_state(self, rule_id: str) -> None:
        """PUT /rules/{id}/reset_state: forget the rule's extension state and checkpoints; a
        running rule is stopped first (so it cannot save them again) and restarted."""
        async with self._lock:
            entry = self._entry(rule_id)
            was_running = entry.running
            await self._stop_entry(entry)
            checkpoint.forget(rule_id, self.root, self.store)
            if was_running:
                await self._replan_and_start(entry)
        log.info("rule %s state reset", rule_id)

    def cpu_usage(self) -> dict[str, int]:
        """GET /rules/usage/cpu, approximated: per running rule, the sum over its nodes of
        `records_in_total x process_latency_us` (the latency of the last record), in ms,
        since the rule's last start. kuiper does not sample the CPU per rule."""
        out: dict[str, int] = {}
        for rid in self.ids():
            runner = self._entries[rid].runner
            if runner is None or runner.state != "running":
                continue
            total_us = sum(n.records_in_total * n.process_latency_us
                           for n in runner.status().nodes)
            out[rid] = int(total_us // 1000)
        return out

    # --- queries -------------------------------------------------------------------------------
    def ids(self) -> list[str]:
        return sorted(self._entries)

    def describe(self, rule_id: str) -> dict[str, Any]:
        return self._entry(rule_id).rule.to_json()

    def state(self, rule_id: str) -> str:
        """eKuiper's brief state for GET /rules: `running`, `stopped`, `stopped: <why>` or
        `stopped by error: <error>`."""
        return self._status(rule_id, with_metrics=False).brief()

    def list(self) -> list[dict[str, Any]]:
        """GET /rules: id, name, tags and brief state of every rule, by id."""
        out = []
        for rid in self.ids():
            rule = self._entries[rid].rule
            out.append({"id": rid, "name": rule.name or rid, "tags": list(rule.tags),
                        "status": self.state(rid)})
        return out

    def status(self, rule_id: str) -> dict[str, Any]:
        """GET /rules/{id}/status: state, timestamps and every node's metrics."""
        return self._status(rule_id).to_json()

    def _status(self, rule_id: str, with_metrics: bool = True) -> RuleStatus:
        """The rule's status; without metrics (GET /rules) it stays cheap with many rules."""
        entry = self._entry(rule_id)
        if entry.runner is None:
            return RuleStatus(status="error" if entry.error else "stopped", message=entry.error)
        if with_metrics:
            return entry.runner.status()
        text, message = entry.runner.brief()
        return RuleStatus(status=text, message=message)

    def status_all(self) -> dict[str, dict[str, Any]]:
        return {rid: self.status(rid) for rid in self.ids()}

    def _current_plan(self, entry: RuleEntry) -> PhysicalPlan:
        if entry.runner is not None:
            return entry.runner.plan
        return planner.plan_rule(with_rule_defaults(self.root, entry.rule), self.catalog,
                                 self.registry)

    def topo(self, rule_id: str) -> dict[str, Any]:
        """GET /rules/{id}/topo: the running plan's nodes (or the plan it would run)."""
        return topology.topo(self._current_plan(self._entry(rule_id)))

    def explain(self, rule_id: str) -> str:
        return topology.explain(self._current_plan(self._entry(rule_id)))

    def runner(self, rule_id: str) -> RuleRunner | None:
        return self._entry(rule_id).runner


def _explicit_triggered(body: str | bytes | dict[str, Any]) -> bool | None:
    if isinstance(body, dict):
        value = body.get("triggered")
    else:
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        value = doc.get("triggered") if isinstance(doc, dict) else None
    return value if isinstance(value, bool) else None
