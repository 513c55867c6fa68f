"""eKuiper's configuration overrides: kuiper.yaml < `KUIPER__…` env, typed values, defaults."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from runtime_helpers import RESULTS, SOURCE_DATA, MapOp, make_plan, stream

from kuiper.errors import ConfigError
from kuiper.runtime.conf import apply_env, env_value, kuiper_conf, merge, shipped_kuiper_yaml
from kuiper.runtime.loop import run
from kuiper.runtime.options import parse_rule_options, rule_defaults
from kuiper.runtime.rule import RuleRunner
from kuiper.runtime.sink_cache import CacheConf
from kuiper.runtime.sink_node import global_sink_defaults


@pytest.fixture(autouse=True)
def _clean():
    RESULTS.clear()
    SOURCE_DATA.clear()


@pytest.mark.parametrize(("text", "value"), [
    ("52341", 52341), ("-3", -3), ("true", True), ("F", False), ("1", 1), ("0.5", 0.5),
    ("1e3", 1000.0), ("tcp://h:1883", "tcp://h:1883"), (" 7 ", 7), ("300s", "300s"),
    ("[1,true,x]", [1, True, "x"]),
])
def test_values_are_typed_like_ekuiper(text, value):
    assert env_value(text) == value


def test_env_keys_match_existing_keys_ignoring_case():
    doc = {"basic": {"restPort": 9081, "restIp": "0.0.0.0"}, "rule": {"qos": 0}}
    env = {"KUIPER__BASIC__RESTPORT": "52341", "KUIPER__rule__QOS": "1",
           "KUIPER__RULE__BUFFERLENGTH": "16", "KUIPER__NEW__DEEP__KEY": "x",
           "OTHER__BASIC__RESTPORT": "1", "KUIPER_ROOT": "/x"}
    out = apply_env(doc, "KUIPER", env)
    assert out["basic"] == {"restPort": 52341, "restIp": "0.0.0.0"}
    assert out["rule"] == {"qos": 1, "bufferlength": 16}
    assert out["new"] == {"deep": {"key": "x"}}
    assert doc["basic"]["restPort"] == 9081  # the input is not changed


def test_env_into_a_value_is_a_clear_error():
    with pytest.raises(ConfigError, match="KUIPER__BASIC__RESTPORT__X.*not a section"):
        apply_env({"basic": {"restPort": 9081}}, "KUIPER", {"KUIPER__BASIC__RESTPORT__X": "1"})


def test_yaml_keys_override_defaults_ignoring_case():
    assert merge({"basic": {"restPort": 9081, "ip": "a"}}, {"basic": {"restport": 1}}) == \
        {"basic": {"restPort": 1, "ip": "a"}}


def test_precedence_env_over_yaml_over_shipped(tmp_path: Path, monkeypatch):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "kuiper.yaml").write_text(
        "basic:\n  restPort: 9100\n  restIp: 127.0.0.2\nrule:\n  qos: 1\n")
    monkeypatch.setenv("KUIPER__BASIC__RESTPORT", "9200")
    conf = kuiper_conf(tmp_path)
    assert conf["basic"]["restPort"] == 9200  # env
    assert conf["basic"]["restIp"] == "127.0.0.2"  # yaml
    assert conf["basic"]["prometheusPort"] == 20499  # shipped default
    assert conf["rule"] == {"qos": 1, "checkpointInterval": "300s", "sendError": False}


def test_shipped_defaults_are_the_code_defaults(tmp_path: Path):
    shipped = shipped_kuiper_yaml()
    assert set(shipped) == {"basic", "rule", "sink", "source", "store", "portable",
                            "openTelemetry"}
    assert parse_rule_options(rule_defaults(str(tmp_path))) == parse_rule_options({})
    sink = shipped["sink"]
    assert CacheConf(memory_threshold=sink["memoryCacheThreshold"],
                     max_disk=sink["maxDiskCache"], page_size=sink["bufferPageSize"],
                     resend_interval_ms=0, clean_at_stop=sink["cleanCacheAtStop"]) == CacheConf()
    assert shipped["basic"]["restPort"] == 9081


def test_sink_cache_defaults_from_env(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("KUIPER__SINK__ENABLECACHE", "true")
    monkeypatch.setenv("KUIPER__SINK__MEMORYCACHETHRESHOLD", "10")
    defaults = global_sink_defaults(str(tmp_path))
    assert defaults["enableCache"] is True and defaults["memoryCacheThreshold"] == 10


def _failing_rule(options: dict) -> list:
    SOURCE_DATA["d"] = [{"a": i} for i in range(3)]
    RESULTS.clear()

    def fail_on_1(batch):
        if 1 in batch.columns["a"].values.tolist():
            raise ValueError("bad row 1")
        return batch

    return make_plan(stream(), [MapOp(fn=fail_on_1)], [{"test_collect": {"key": "out"}}],
                     {"maxBatchSize": 1, **options})


def _run(plan, root: Path) -> list:
    async def main():
        runner = RuleRunner(plan, str(root))
        await runner.start()
        assert await runner.wait(5)
    run(main())
    return list(RESULTS["out"])


def test_rule_option_env_beats_yaml_and_the_rule_beats_both(tmp_path: Path, monkeypatch):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "kuiper.yaml").write_text("rule:\n  sendError: false\n")
    ok = [[{"a": 0}], [{"a": 2}]]
    assert _run(_failing_rule({}), tmp_path) == ok  # yaml: no error rows
    monkeypatch.setenv("KUIPER__RULE__SENDERROR", "true")
    assert _run(_failing_rule({}), tmp_path) == [[{"a": 0}], {"error": "bad row 1"}, [{"a": 2}]]
    assert _run(_failing_rule({"sendError": False}), tmp_path) == ok  # the rule's own option


def test_nested_rule_defaults_merge_key_by_key(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("KUIPER__RULE__RESTARTSTRATEGY__ATTEMPTS", "3")
    plan = _failing_rule({"restartStrategy": {"delay": 50}})
    strategy = RuleRunner(plan, str(tmp_path)).options.restart_strategy
    assert (strategy.attempts, strategy.delay_ms) == (3, 50)


def test_the_shipped_json_twin_is_the_parsed_yaml():
    from kuiper.runtime import conf

    twin = json.loads(conf.SHIPPED_KUIPER_JSON.read_text())
    assert twin["yaml_crc32"] == zlib.crc32(conf.SHIPPED_KUIPER_YAML.read_bytes()), (
        "kuiper/etc/kuiper.yaml changed: run python -c \"from kuiper.runtime.conf import "
        "write_shipped_json; write_shipped_json()\"")
    assert twin["defaults"] == conf.read_yaml(conf.SHIPPED_KUIPER_YAML)


def test_a_stale_json_twin_falls_back_to_the_yaml(tmp_path: Path, monkeypatch):
    from kuiper.runtime import conf

    yaml_file = tmp_path / "kuiper.yaml"
    yaml_file.write_text("basic:\n  restPort: 1234\n")
    stale = tmp_path / "kuiper.json"
    stale.write_text(json.dumps({"yaml_crc32": 1, "defaults": {"basic": {"restPort": 9}}}))
    monkeypatch.setattr(conf, "SHIPPED_KUIPER_YAML", yaml_file)
    monkeypatch.setattr(conf, "SHIPPED_KUIPER_JSON", stale)
    conf._shipped.cache_clear()
    try:
        assert conf.shipped_kuiper_yaml() == {"basic": {"restPort": 1234}}
        stale.unlink()
        conf._shipped.cache_clear()
        assert conf.shipped_kuiper_yaml() == {"basic": {"restPort": 1234}}
    finally:
        monkeypatch.undo()
        conf._shipped.cache_clear()
