"""`kuiper run`: load streams (.sql) and rules (.json), run them to the end of their input."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

import kuiper.io  # noqa: F401  (registers the built-in connectors and formats)
from kuiper import planner, sql
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.errors import ConfigError, KuiperError
from kuiper.runtime.clock import Clock
from kuiper.runtime.loop import run as run_loop
from kuiper.runtime.options import with_rule_defaults
from kuiper.runtime.rule import RuleRunner
from kuiper.runtime.shared_source import shared_sources

log = logging.getLogger(__name__)


def expand_paths(paths: Iterable[str]) -> tuple[list[Path], list[Path]]:
    """(.sql files, .json files) in order; a directory gives its *.sql then its *.json."""
    sql_files: list[Path] = []
    json_files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            sql_files += sorted(p.glob("*.sql"))
            json_files += sorted(p.glob("*.json"))
        elif not p.exists():
            raise ConfigError(f"{raw} does not exist")
        elif p.suffix.lower() == ".sql":
            sql_files.append(p)
        elif p.suffix.lower() == ".json":
            json_files.append(p)
        else:
            raise ConfigError(f"{raw}: expected a .sql file of streams, a .json rule file or a folder")
    return sql_files, json_files


def _located(exc: KuiperError, where: str) -> KuiperError:
    """The same error, its message prefixed with the file or rule it comes from."""
    exc.message = f"{where}: {exc.message}"
    exc.args = (exc.message,)
    return exc


def load_streams(files: list[Path], catalog: Catalog) -> None:
    for path in files:
        try:
            statements = sql.parse_many(path.read_text(encoding="utf-8"))
        except KuiperError as exc:
            raise _located(exc, str(path)) from None
        for st in statements:
            if not isinstance(st, sql.CreateStream):
                raise ConfigError(f"{path}: only CREATE STREAM / CREATE TABLE statements belong "
                                  f"in a .sql file, found {type(st).__name__}",
                                  hint="put rules in a .json file")
            catalog.add_stream(st.definition)


def load_rules(files: list[Path]) -> list[RuleDef]:
    rules: list[RuleDef] = []
    for path in files:
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
        for obj in doc if isinstance(doc, list) else [doc]:
            try:
                rules.append(RuleDef.from_json(obj))
            except KuiperError as exc:
                raise ConfigError(f"{path}: {exc}") from exc
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise ConfigError(f"rule id '{r.id}' is used twice")
        seen.add(r.id)
    return rules


def build_runners(
    paths: Iterable[str], root: str, clock: Clock | None
) -> list[RuleRunner]:
    sql_files, json_files = expand_paths(paths)
    catalog = Catalog()
    load_streams(sql_files, catalog)
    rules = load_rules(json_files)
    if not rules:
        raise ConfigError("no rule to run", hint="pass a rule .json file (or a folder holding one)")
    runners = []
    for rule in rules:
        try:
            plan = planner.plan_rule(with_rule_defaults(root, rule), catalog)
        except KuiperError as exc:
            raise _located(exc, f"rule '{rule.id}'") from None
        runners.append(RuleRunner(plan, root, clock=clock))
    return runners


async def _progress(runners: list[RuleRunner], every: float = 0.5) -> None:
    """One refreshing line on stderr: events in/out per second over all rules."""
    def totals() -> tuple[int, int]:
        ins = outs = 0
        for r in runners:
            for k, v in r.metrics().items():
                if k.startswith("source_") and k.endswith("_records_in_total"):
                    ins += v
                elif k.startswith("sink_") and k.endswith("_records_out_total"):
                    outs += v
        return ins, outs

    last, t_last = totals(), time.monotonic()
    try:
        while True:
            await asyncio.sleep(every)
            now, t_now = totals(), time.monotonic()
            dt = max(t_now - t_last, 1e-9)
            sys.stderr.write(f"\r  in {now[0]:>12,} ({(now[0] - last[0]) / dt:>12,.0f}/s)"
                             f"  out {now[1]:>12,} ({(now[1] - last[1]) / dt:>12,.0f}/s)  ")
            sys.stderr.flush()
            last, t_last = now, t_now
    except asyncio.CancelledError:
        sys.stderr.write("\n")


async def run_runners(runners: list[RuleRunner], *, progress: bool = False) -> None:
    """Start every rule; return when all have finished or on SIGINT/SIGTERM (graceful stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    ticker = asyncio.create_task(_progress(runners)) if progress else None
    try:
        with shared_sources().hold():  # rules over one file share one read of it
            for r in runners:
                await r.start()
        all_done = asyncio.gather(*(r.wait() for r in runners))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({all_done, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("stopping %d rule(s)", len(runners))
        for r in runners:
            await r.stop()
        stopping.cancel()
        await asyncio.gather(all_done, return_exceptions=True)
    finally:
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


def default_root(paths: list[str]) -> str:
    """The kuiper root when --root is not given: a directory argument holding an etc/ folder,
    else $KUIPER_ROOT, else the current directory."""
    for p in paths:
        if os.path.isdir(p) and os.path.isdir(os.path.join(p, "etc")):
            return p
    return os.environ.get("KUIPER_ROOT") or os.getcwd()


@contextlib.contextmanager
def extensions(root: str) -> Iterator[None]:
    """Installed plugins (`{root}/plugins`) and external services (`{root}/etc/services`) are
    visible to the rules planned inside this block, and unregistered after it."""
    from kuiper.functions.registry import default_registry

    plugins = services = None
    base = Path(root)
    try:
        if (base / "plugins").is_dir():
            from kuiper.plugins.manager import PluginManager

            plugins = PluginManager(base, registry=default_registry)
        if (base / "etc" / "services").is_dir():
            from kuiper.external.manager import ServiceManager  # grpc/protobuf: only when used

            services = ServiceManager(base, default_registry)
            services.load_all()
            for name, err in services.load_errors.items():
                log.error("external service %s not loaded: %s", name, err)
        yield
    finally:
        if services is not None:
            services.close()
        if plugins is not None and plugins.resolver is not None:
            default_registry.remove_resolver(plugins.resolver)


def run_paths(
    paths: Iterable[str], root: str | None = None, *, clock: Clock | None = None,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run the streams and rules found in `paths`; each rule's status (eKuiper's shape)."""
    paths = list(paths)
    root = root or default_root(paths)

    async def main() -> dict[str, dict[str, Any]]:
        runners = build_runners(paths, root, clock)
        await run_runners(runners, progress=progress)
        return {r.rule_id: r.status().to_json() for r in runners}

    with extensions(root):
        return run_loop(main())


_COLUMNS = (("records_in_total", "in"), ("records_out_total", "out"),
            ("exceptions_total", "errors"), ("process_latency_us", "latency_us"),
            ("dropped_total", "dropped"))


def format_metrics(results: dict[str, dict[str, Any]]) -> str:
    """A readable table per rule: one line per node."""
    lines: list[str] = []
    for rule_id, status in results.items():
        lines.append(f"rule {rule_id}: {status.get('status')}"
                     + (f" ({status['message']})" if status.get("message") else ""))
        nodes: dict[str, dict[str, Any]] = {}
        for key, value in status.items():
            for metric, _ in (*_COLUMNS, ("last_exception", "")):
                suffix = "_" + metric
                if key.endswith(suffix) and key.startswith(("source_", "op_", "sink_")):
                    nodes.setdefault(key[: -len(suffix)], {})[metric] = value
        width = max((len(n) for n in nodes), default=4)
        lines.append("  " + "node".ljust(width) + "".join(f"{h:>14}" for _, h in _COLUMNS))
        for node, vals in nodes.items():
            cells = "".join(f"{vals.get(m, '-')!s:>14}" for m, _ in _COLUMNS)
            lines.append("  " + node.ljust(width) + cells)
            if vals.get("last_exception"):
                lines.append("  " + " " * width + f"  last error: {vals['last_exception']}")
    return "\n".join(lines)
