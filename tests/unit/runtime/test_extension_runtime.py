"""Extensions in running rules: per-call-site function state, state across stop/start and
checkpoints, plugin failures routed to the rule (error state, restartStrategy), isolation."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from runtime_helpers import RESULTS, SOURCE_DATA

from kuiper.api import Column, Context, Source
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.errors import ConfigError, EvalError, PluginError
from kuiper.functions.registry import FunctionDef, default_registry
from kuiper.planner.build import plan_rule
from kuiper.runtime.loop import run
from kuiper.runtime.options import RestartStrategy
from kuiper.runtime.registry import register_source
from kuiper.runtime.rule import ERROR, STOPPED, RuleRunner, restart_delay_ms
from kuiper.sql import parse
from kuiper.state import checkpoint
from kuiper.state.kv import SqliteKV

FAILS: dict[str, int] = {}  # function name -> calls left before it raises (-1: never)


def _counter(args: list[Column], n: int, ctx: Any) -> Column:
    """Running count of rows this call site has seen, in its state."""
    base = ctx.get_counter("rows")
    ctx.incr_counter("rows", n)
    return Column("bigint", np.arange(base + 1, base + n + 1, dtype=np.int64))


def _site(args: list[Column], n: int, ctx: Any) -> Column:
    return Column.from_values([f"{ctx.get_op_id()}#{ctx.get_func_id()}"] * n)


def _boom(args: list[Column], n: int, ctx: Any) -> Column:
    left = FAILS.get("boom", 0)
    FAILS["boom"] = left - 1
    if left == 0:
        raise PluginError("function plugin 'boom' (boom.py, symbol Boom) failed: ValueError: bad")
    return args[0]


def _rowfail(args: list[Column], n: int, ctx: Any) -> Column:
    raise EvalError("row-level error")


PLUGINS = {
    "tcounter": FunctionDef("tcounter", 1, 1, _counter),
    "tsite": FunctionDef("tsite", 0, 0, _site),
    "tboom": FunctionDef("tboom", 1, 1, _boom),
    "trowfail": FunctionDef("trowfail", 1, 1, _rowfail),
}


@register_source("test_counting")
class CountingSource(Source):
    """Bounded: emits `rows` rows numbered on from its state's counter."""

    bounded = True

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.rows = int(datasource or 3)

    async def open(self, ctx: Context) -> None:
        for _ in range(self.rows):
            ctx.incr_counter("emitted", 1)
            ctx.emit({"a": ctx.get_counter("emitted")})
        ctx.emit_eof()


@pytest.fixture(autouse=True)
def _plugins():
    resolver = PLUGINS.get
    default_registry.add_resolver(resolver)
    RESULTS.clear()
    SOURCE_DATA.clear()
    FAILS.clear()
    yield
    default_registry.remove_resolver(resolver)


def _plan(sql: str, rule_id: str = "x1", options: dict[str, Any] | None = None,
          source: str = 'TYPE="test_list", DATASOURCE="d"', key: str = "out") -> Any:
    catalog = Catalog()
    catalog.add_stream(parse(f"CREATE STREAM demo (a BIGINT) WITH ({source})").definition)
    rule = RuleDef.from_json({"id": rule_id, "sql": sql, "options": options or {},
                              "actions": [{"test_collect": {"key": key}}]})
    return plan_rule(rule, catalog)


def _run(*runners: RuleRunner, timeout: float = 5) -> None:
    async def main() -> None:
        for r in runners:
            await r.start()
        for r in runners:
            assert await r.wait(timeout)

    run(main())


def _values(key: str, field: str) -> list[Any]:
    return [row[field] for msg in RESULTS[key] for row in (msg if isinstance(msg, list) else [msg])]


def test_each_call_site_has_its_own_context_and_state(tmp_path: Path) -> None:
    SOURCE_DATA["d"] = [{"a": i} for i in range(5)]
    plan = _plan("SELECT tsite() AS s, tcounter(a) AS c1, tcounter(a + 1) AS c2 FROM demo "
                 "WHERE tcounter(a) > 0", rule_id="sites")
    runner = RuleRunner(plan, str(tmp_path))
    _run(runner)
    sites = sorted((c.get_op_id(), c.get_func_id()) for c in runner.function_contexts)
    # func ids are positions in the SQL: tsite 0, tcounter 1, tcounter 2, the WHERE's tcounter 3
    assert sites == [("2_filter", 3), ("3_project", 0), ("3_project", 1), ("3_project", 2)]
    assert _values("out", "s") == ["3_project#0"] * 5
    assert _values("out", "c1") == [1, 2, 3, 4, 5] and _values("out", "c2") == [1, 2, 3, 4, 5]
    scopes = runner.extension_state.scopes()
    assert "3_project/0/1" in scopes and "2_filter/0/3" in scopes
    assert all(c.get_rule_id() == "sites" for c in runner.function_contexts)


def test_state_survives_stop_and_start(tmp_path: Path) -> None:
    SOURCE_DATA["d"] = [{"a": i} for i in range(3)]
    _run(RuleRunner(_plan("SELECT tcounter(a) AS c FROM demo", rule_id="again"), str(tmp_path)))
    second = RuleRunner(_plan("SELECT tcounter(a) AS c FROM demo", rule_id="again"), str(tmp_path))
    _run(second)
    assert _values("out", "c") == [1, 2, 3, 4, 5, 6]
    # a source's state too: the counting source numbers on
    src = 'TYPE="test_counting", DATASOURCE="2"'
    for _ in range(2):
        _run(RuleRunner(_plan("SELECT a FROM demo", rule_id="src", source=src, key="src"),
                        str(tmp_path)))
    assert _values("src", "a") == [1, 2, 3, 4]


def test_qos_checkpoints_survive_a_process_restart(tmp_path: Path) -> None:
    SOURCE_DATA["d"] = [{"a": i} for i in range(4)]
    store = SqliteKV(tmp_path / "kv.db")
    for _ in range(2):
        checkpoint.forget("durable", tmp_path)  # as if the process restarted
        runner = RuleRunner(_plan("SELECT tcounter(a) AS c FROM demo", rule_id="durable",
                                  options={"qos": 1, "checkpointInterval": 3_600_000}),
                            str(tmp_path), store=store)
        _run(runner)
    assert _values("out", "c") == list(range(1, 9))
    assert runner.checkpointer.count == 1  # saved at the end (the interval never elapsed)
    # qos 0 without enableSaveStateBeforeStop neither saves nor restores
    checkpoint.forget("durable", tmp_path)
    RESULTS.clear()
    _run(RuleRunner(_plan("SELECT tcounter(a) AS c FROM demo", rule_id="durable"),
                    str(tmp_path), store=store))
    assert _values("out", "c") == [1, 2, 3, 4]


def test_save_state_before_stop(tmp_path: Path) -> None:
    SOURCE_DATA["d"] = [{"a": 1}]
    opts = {"enableSaveStateBeforeStop": True}
    for _ in range(3):
        checkpoint.forget("saved", tmp_path)
        _run(RuleRunner(_plan("SELECT tcounter(a) AS c FROM demo", "saved", opts), str(tmp_path)))
    assert _values("out", "c") == [1, 2, 3]
    assert (tmp_path / "data" / "sqliteKV.db").is_file()
    with pytest.raises(ConfigError, match="enableSaveStateBeforeStop"):
        RuleRunner(_plan("SELECT a FROM demo", "bad", {"enableSaveStateBeforeStop": "yes"}))


def test_plugin_error_fails_only_its_rule(tmp_path: Path) -> None:
    SOURCE_DATA["d"] = [{"a": i} for i in range(50)]
    bad = RuleRunner(_plan("SELECT tboom(a) AS b FROM demo", "bad", key="bad"), str(tmp_path))
    good = RuleRunner(_plan("SELECT a FROM demo", "good", key="good"), str(tmp_path))
    _run(bad, good)
    status = bad.status().to_json()
    assert status["status"] == "stopped by error"
    assert "function plugin 'boom'" in status["message"] and "op 2_project" in status["message"]
    assert status["op_2_project_0_exceptions_total"] == 1
    assert "ValueError: bad" in status["op_2_project_0_last_exception"]
    assert good.status().status == STOPPED and _values("good", "a") == list(range(50))


def test_row_errors_are_not_rule_failures(tmp_path: Path) -> None:
    SOURCE_DATA["d"] = [{"a": i} for i in range(3)]
    runner = RuleRunner(_plan("SELECT trowfail(a) AS b FROM demo", "rows"), str(tmp_path))
    _run(runner)
    assert runner.status().status == STOPPED
    assert runner.metrics()["op_2_project_0_exceptions_total"] == 3


def test_restart_strategy_retries_then_recovers(tmp_path: Path) -> None:
    SOURCE_DATA["d"] = [{"a": i} for i in range(3)]
    FAILS["boom"] = 0  # the first call fails, then it works
    options = {"restartStrategy": {"attempts": 3, "delay": 1, "jitterFactor": 0}}
    runner = RuleRunner(_plan("SELECT tboom(a) AS b FROM demo", "retry", options), str(tmp_path))
    _run(runner)
    assert runner.restarts == 1 and runner.status().status == STOPPED
    assert _values("out", "b")[-3:] == [0, 1, 2]


def test_restart_strategy_gives_up(tmp_path: Path) -> None:
    SOURCE_DATA["d"] = [{"a": 1}]
    FAILS["boom"] = 0

    def always(args: list[Column], n: int, ctx: Any) -> Column:
        raise PluginError("function plugin 'boom' failed: RuntimeError: always")

    PLUGINS["tboom"] = FunctionDef("tboom", 1, 1, always)
    try:
        options = {"restartStrategy": {"attempts": 2, "delay": 1, "multiplier": 1}}
        runner = RuleRunner(_plan("SELECT tboom(a) AS b FROM demo", "giveup", options),
                            str(tmp_path))
        _run(runner)
    finally:
        PLUGINS["tboom"] = FunctionDef("tboom", 1, 1, _boom)
    assert runner.restarts == 2
    status = runner.status()
    assert status.status == ERROR and "always" in status.message
    assert "restarting" not in status.message


def test_stop_during_the_restart_delay(tmp_path: Path) -> None:
    SOURCE_DATA["d"] = [{"a": 1}]
    FAILS["boom"] = 0
    options = {"restartStrategy": {"attempts": 5, "delay": 60_000}}
    runner = RuleRunner(_plan("SELECT tboom(a) AS b FROM demo", "slow", options), str(tmp_path))

    async def main() -> None:
        await runner.start()
        while runner.restarts == 0:
            await asyncio.sleep(0.005)
        assert runner.state == ERROR and "restarting in" in runner.status().message
        await runner.stop()
        assert await runner.wait(1)

    run(main())
    assert runner.state == STOPPED


def test_extension_failure_from_a_context(tmp_path: Path) -> None:
    """`ctx.fail_rule` (what guarded plugin sources/sinks call) fails the rule."""

    @register_source("test_failing")
    class Failing(Source):
        def configure(self, datasource: str, conf: dict[str, Any]) -> None:
            pass

        def open(self, ctx: Context) -> None:  # a blocking open: runs in a thread
            ctx.emit_threadsafe({"a": 1})
            ctx.fail_rule(PluginError("source plugin 'failing' failed in open: OSError: gone"))

    runner = RuleRunner(_plan("SELECT a FROM demo", "ctx_raises",
                              source='TYPE="test_failing", DATASOURCE="x"'), str(tmp_path))
    _run(runner)
    status = runner.status()
    assert status.status == ERROR and status.message.startswith("demo: source plugin 'failing'")


def test_restart_delays() -> None:
    s = RestartStrategy(attempts=5, delay_ms=100, multiplier=2, max_delay_ms=500, jitter_factor=0)
    assert [restart_delay_ms(s, k) for k in range(1, 6)] == [100, 200, 400, 500, 500]
    jittered = RestartStrategy(delay_ms=1000, jitter_factor=0.1)
    assert all(900 <= restart_delay_ms(jittered, 1) <= 1100 for _ in range(50))
