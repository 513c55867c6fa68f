"""Memory bus/source/sink, simulator, log and nop sinks, common sink properties, config files."""
from __future__ import annotations

import asyncio
import logging

import pytest
from io_helpers import COLLECTED, Pass

from kuiper.catalog.defs import RuleDef, StreamDef
from kuiper.errors import ConfigError, NotFoundError
from kuiper.io.config import load_source_conf
from kuiper.io.pubsub import BUS, topic_matches
from kuiper.io.sinks.nop import NopSink
from kuiper.planner.physical import PhysicalPlan, SourceSpec
from kuiper.runtime import registry
from kuiper.runtime.loop import run
from kuiper.runtime.rule import RuleRunner


@pytest.fixture(autouse=True)
def _clean():
    COLLECTED.clear()


@pytest.mark.parametrize(("pattern", "topic", "hit"), [
    ("a/b", "a/b", True), ("a/+", "a/b", True), ("a/+", "a/b/c", False), ("a/#", "a/b/c", True),
    ("#", "x", True), ("a/+/c", "a/b/c", True), ("a/b", "a/c", False), ("a/#", "b/c", False)])
def test_topic_matching(pattern, topic, hit):
    assert topic_matches(pattern, topic) is hit


def plan(stream_opts, actions, rule_id="r"):
    s = StreamDef("demo", (), {k.upper(): v for k, v in stream_opts.items()})
    rule = RuleDef.from_json({"id": rule_id, "sql": "x", "actions": actions})
    return PhysicalPlan(rule, [SourceSpec(s)], [Pass()])


def test_memory_sink_feeds_a_memory_source_rule():
    upstream = plan({"type": "simulator"}, [{"memory": {"topic": "dev/1/t"}}], "up")
    downstream = plan({"type": "memory", "datasource": "dev/+/t"},
                      [{"io_collect": {"key": "down", "sendSingle": True}}], "down")

    async def main():
        registry.set_conf_loader(lambda root, t, k: {"data": [{"v": 1}, {"v": 2}], "interval": 1,
                                                     "loop": False})
        try:
            down = RuleRunner(downstream)
            await down.start()
            await asyncio.sleep(0)
            up = RuleRunner(upstream)
            await up.start()
            assert await up.wait(5)
            for _ in range(100):
                if len(COLLECTED["down"]) == 2:
                    break
                await asyncio.sleep(0.001)
            await down.stop()
        finally:
            registry.set_conf_loader(load_source_conf)

    run(main())
    assert COLLECTED["down"] == [{"v": 1}, {"v": 2}]


def test_log_sink_logs_each_message(caplog):
    p = plan({"type": "simulator"}, [{"log": {}}])

    async def main():
        registry.set_conf_loader(lambda root, t, k: {"data": [{"v": 1.0}], "interval": 1,
                                                     "loop": False})
        try:
            r = RuleRunner(p)
            await r.start()
            assert await r.wait(5)
        finally:
            registry.set_conf_loader(load_source_conf)

    with caplog.at_level(logging.INFO):
        run(main())
    assert 'sink result for rule r: [{"v":1}]' in caplog.text


def test_common_sink_properties():
    data = [{"a": 1, "b": {"x": 1}}, {"a": 2, "b": None}]
    actions = [{"io_collect": {"key": "fields", "fields": ["a"]}},
               {"io_collect": {"key": "single", "sendSingle": True}},
               {"io_collect": {"key": "df", "dataField": "b", "omitIfEmpty": True}}]
    p = plan({"type": "simulator"}, actions)

    async def main():
        registry.set_conf_loader(lambda root, t, k: {"data": data, "interval": 1, "loop": False})
        try:
            r = RuleRunner(p)
            await r.start()
            assert await r.wait(5)
        finally:
            registry.set_conf_loader(load_source_conf)

    run(main())
    assert COLLECTED["fields"] == [[{"a": 1}], [{"a": 2}]]
    assert COLLECTED["single"] == [{"a": 1, "b": {"x": 1}}, {"a": 2}]
    assert COLLECTED["df"] == [{"x": 1}]


def test_nop_sink_takes_whole_batches():
    sink = NopSink()
    from kuiper.api import Batch, Column
    sink.collect_batch(None, Batch({"a": Column.from_values([1, 2, 3])}, 3))
    assert (sink.rows, sink.batches) == (3, 1)


def test_config_default_and_conf_key(tmp_path):
    (tmp_path / "etc" / "sources").mkdir(parents=True)
    (tmp_path / "etc" / "sources" / "file.yaml").write_text(
        "default:\n  fileType: json\n  path: data\ncsv:\n  fileType: csv\n")
    (tmp_path / "etc" / "mqtt_source.yaml").write_text("default:\n  qos: 1\n")
    assert load_source_conf(str(tmp_path), "file") == {"fileType": "json", "path": "data"}
    assert load_source_conf(str(tmp_path), "file", "csv") == {"fileType": "csv", "path": "data"}
    assert load_source_conf(str(tmp_path), "mqtt") == {"qos": 1}
    assert load_source_conf(str(tmp_path), "simulator") == {}
    with pytest.raises(ConfigError, match="CONF_KEY 'nope'"):
        load_source_conf(str(tmp_path), "file", "nope")


def test_unknown_types_list_the_known_ones():
    with pytest.raises(NotFoundError) as err:
        registry.get_sink_factory("kafkaesque")
    assert "log" in str(err.value) and "file" in str(err.value)
    with pytest.raises(NotFoundError, match="unknown source type"):
        registry.get_source_factory("nope")


def test_bad_simulator_and_memory_config():
    from kuiper.io.sinks.memory import MemorySink
    from kuiper.io.sources.simulator import SimulatorSource
    with pytest.raises(ConfigError, match="interval"):
        SimulatorSource().configure("", {"interval": "fast"})
    with pytest.raises(ConfigError, match="wildcards"):
        MemorySink().configure({"topic": "a/#"})
    assert BUS.publish("nobody/listens", [{"a": 1}]) == 0
