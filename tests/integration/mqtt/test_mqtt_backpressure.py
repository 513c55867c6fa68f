"""Back-pressure from a slow sink to the MQTT broker: at rule qos 1 with a one-row buffer
nothing is lost and the source acknowledges only what the rule has taken (the broker keeps
the rest); at qos 0 with dropOldest every lost row is counted in the metrics."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from mqtt_helpers import Publisher

import kuiper.io  # noqa: F401  (connectors)
from kuiper.api import Context, Sink
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.errors import ConfigError
from kuiper.planner.build import plan_rule
from kuiper.runtime.loop import run
from kuiper.runtime.options import parse_rule_options
from kuiper.runtime.registry import register_sink
from kuiper.runtime.rule import RuleRunner
from kuiper.sql import parse

GATES: dict[str, asyncio.Event] = {}
SEEN: dict[str, list[int]] = {}


@register_sink("test_gated")
class GatedSink(Sink):
    """Holds every message until GATES[key] is set: a sink slower than the input."""

    def configure(self, conf: dict[str, Any]) -> None:
        self.key = conf["key"]

    async def collect(self, ctx: Context, data: Any) -> None:
        await GATES[self.key].wait()
        rows = data if isinstance(data, list) else [data]
        SEEN[self.key].extend(r["seq"] for r in rows)


def _runner(root: Path, port: int, topic: str, key: str, options: dict[str, Any]) -> RuleRunner:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "mqtt_source.yaml").write_text(
        yaml.safe_dump({"default": {"server": f"tcp://127.0.0.1:{port}", "qos": 1}}))
    catalog = Catalog()
    catalog.add_stream(parse(f'CREATE STREAM bp (seq bigint) WITH (DATASOURCE="{topic}", '
                             'TYPE="mqtt", FORMAT="json")').definition)
    rule = RuleDef(id=key, sql="SELECT seq FROM bp", actions=(("test_gated", {"key": key}),),
                   options=options)
    GATES[key], SEEN[key] = asyncio.Event(), []
    return RuleRunner(plan_rule(rule, catalog), str(root))


async def _warm_up(pub: Publisher, topic: str, key: str) -> None:
    """Markers (seq -1) until one went through: the source is subscribed."""
    GATES[key].set()
    async with asyncio.timeout(15):
        while -1 not in SEEN[key]:
            await asyncio.to_thread(pub.send, topic, [{"seq": -1}], 1)
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # markers still in flight arrive before the gate closes
    GATES[key].clear()


async def _until(cond: Any, what: str, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


def test_qos1_slow_sink_tiny_buffer_loses_nothing(tmp_path: Path, broker_port: int) -> None:
    topic, key = f"kbp/{uuid.uuid4().hex[:10]}", "bp1"
    n = 300
    runner = _runner(tmp_path, broker_port, topic, key, {"qos": 1, "bufferLength": 1})
    source = None

    async def main() -> dict[str, Any]:
        nonlocal source
        pub = Publisher(broker_port)
        await runner.start()
        try:
            await _warm_up(pub, topic, key)
            source = runner.topology.sources[0].source  # type: ignore[union-attr]
            await asyncio.to_thread(pub.send, topic, [{"seq": i} for i in range(n)], 1)
            # the sink holds the rule: its queues fill, the source stops acknowledging
            await _until(lambda: source.pending_acks > 0, "unacknowledged messages")
            taken = runner.metrics()["source_bp_0_records_out_total"]
            assert taken < n, taken  # the broker holds what the rule has not taken
            GATES[key].set()
            await _until(lambda: len([s for s in SEEN[key] if s >= 0]) >= n, "every message")
            await _until(lambda: source.pending_acks == 0, "every acknowledgement")
            return runner.metrics()
        finally:
            await runner.stop()
            pub.close()

    metrics = run(main())
    assert [s for s in SEEN[key] if s >= 0] == list(range(n))
    assert not any(k.endswith("dropped_total") and v for k, v in metrics.items())
    assert metrics["source_bp_0_exceptions_total"] == 0


def test_qos0_drop_oldest_counts_every_lost_row(tmp_path: Path, broker_port: int) -> None:
    topic, key = f"kbp/{uuid.uuid4().hex[:10]}", "bp0"
    n = 2000
    runner = _runner(tmp_path, broker_port, topic, key,
                     {"qos": 0, "bufferLength": 5, "bufferFullPolicy": "dropOldest"})

    async def main() -> dict[str, Any]:
        pub = Publisher(broker_port)
        await runner.start()
        try:
            await _warm_up(pub, topic, key)
            await asyncio.to_thread(pub.send, topic, [{"seq": i} for i in range(n)], 1)
            await _until(lambda: runner.metrics()["source_bp_0_records_out_total"] >= n,
                         "the source took every message")
            GATES[key].set()
            await _until(lambda: n - 1 in SEEN[key], "the last message")

            def settled() -> bool:
                m = runner.metrics()
                dropped = sum(v for k, v in m.items() if k.endswith("dropped_total"))
                return len([s for s in SEEN[key] if s >= 0]) + dropped >= n
            await _until(settled, "every message delivered or counted")
            return runner.metrics()
        finally:
            await runner.stop()
            pub.close()

    metrics = run(main())
    got = [s for s in SEEN[key] if s >= 0]
    dropped = sum(v for k, v in metrics.items() if k.endswith("dropped_total"))
    assert dropped > 0 and len(got) + dropped == n
    assert got == sorted(got) and got[-1] == n - 1


def test_drop_oldest_needs_qos0() -> None:
    with pytest.raises(ConfigError, match="qos 1 forbids"):
        parse_rule_options({"qos": 1, "bufferFullPolicy": "dropOldest"})
    with pytest.raises(ConfigError, match="qos 2 forbids"):
        parse_rule_options({"qos": 2, "disableBufferFullDiscard": False})
