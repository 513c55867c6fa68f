"""Helpers for connector tests: run a one-stream rule with a pass-through operator."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import kuiper.io  # noqa: F401  (registers the built-in connectors)
from kuiper.api import Context, Sink
from kuiper.catalog.defs import FieldDef, RuleDef, StreamDef
from kuiper.operators.base import Operator
from kuiper.planner.physical import PhysicalPlan, SourceSpec
from kuiper.runtime.loop import run
from kuiper.runtime.registry import register_sink
from kuiper.runtime.rule import RuleRunner

COLLECTED: dict[str, list[Any]] = defaultdict(list)


@register_sink("io_collect")
class IoCollect(Sink):
    def configure(self, conf: dict[str, Any]) -> None:
        self.key = conf.get("key", "out")

    def collect(self, ctx: Context, data: Any) -> None:
        COLLECTED[self.key].append(data)


class Pass(Operator):
    name = "2_project"


def run_stream(
    root: str,
    options: dict[str, str],
    actions: list[dict[str, Any]],
    fields: tuple[FieldDef, ...] = (),
    rule_options: dict[str, Any] | None = None,
    timeout: float = 10,
) -> dict[str, Any]:
    """Run the rule until its bounded input ends; its status document."""
    s = StreamDef("demo", fields, {k.upper(): v for k, v in options.items()})
    rule = RuleDef.from_json({"id": "r", "sql": "SELECT * FROM demo", "actions": actions,
                              "options": rule_options or {}})
    plan = PhysicalPlan(rule, [SourceSpec(s)], [Pass()])

    async def main() -> dict[str, Any]:
        runner = RuleRunner(plan, root)
        await runner.start()
        assert await runner.wait(timeout), "the rule did not finish"
        return runner.status().to_json()

    return run(main())
