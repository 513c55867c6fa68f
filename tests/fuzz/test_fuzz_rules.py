"""Fuzzing the rule JSON validator: any JSON value as a rule body gives a valid rule or a
clear error (a KuiperError with a message), never another exception."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kuiper.io  # noqa: F401  (connectors)
from kuiper.catalog.catalog import Catalog
from kuiper.errors import KuiperError
from kuiper.manage.rules import RuleManager
from kuiper.manage.streams import StreamManager
from kuiper.runtime.options import parse_rule_options
from kuiper.state.kv import SqliteKV

EXAMPLES = int(os.environ.get("KUIPER_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize=os.environ.get("KUIPER_FUZZ_RANDOM") is None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10)
OPTION_NAMES = st.sampled_from([
    "isEventTime", "lateTolerance", "concurrency", "bufferLength", "sendMetaToSink",
    "sendError", "sendNilField", "qos", "checkpointInterval", "restartStrategy",
    "maxBatchSize", "bufferFullPolicy", "disableBufferFullDiscard", "maxMessageSize",
    "maxJsonDepth", "maxWindowRows", "enableSaveStateBeforeStop", "cron", "unknownOption"])
OPTION_VALUES = st.one_of(
    JSON, st.sampled_from(["1s", "500ms", "2m", "1h30m", "-1s", "1x", "", "dropOldest", "block"]),
    st.fixed_dictionaries({}, optional={
        "attempts": JSON | st.integers(-2, 5), "delay": JSON | st.sampled_from(["1s", 10]),
        "multiplier": JSON, "maxDelay": JSON, "jitterFactor": JSON}))
SQLS = st.sampled_from([
    "SELECT * FROM demo", "SELECT a FROM demo WHERE a > 1", "SELECT count(*) FROM demo "
    "GROUP BY TUMBLINGWINDOW(ss, 1)", "SELECT * FROM nope", "SELEC", "", "CREATE STREAM x ()",
]) | st.text(max_size=30)
SINK_TYPES = st.sampled_from(["log", "nop", "memory", "file", "mqtt", "rest", "nosuchsink"])
PROPS = st.one_of(JSON, st.dictionaries(
    st.sampled_from(["topic", "path", "server", "url", "sendSingle", "dataTemplate", "format",
                     "enableCache", "resendInterval", "x"]), JSON, max_size=3))
ACTIONS = st.one_of(JSON, st.lists(st.one_of(JSON, st.dictionaries(SINK_TYPES, PROPS,
                                                                       max_size=2)), max_size=3))
RULES = st.fixed_dictionaries({}, optional={
    "id": st.one_of(JSON, st.text(min_size=1, max_size=10)), "sql": SQLS, "actions": ACTIONS,
    "options": st.one_of(JSON, st.dictionaries(OPTION_NAMES, OPTION_VALUES, max_size=4)),
    "name": JSON, "triggered": JSON, "tags": JSON, "graph": JSON,
})


@pytest.fixture(scope="module")
def manager(tmp_path_factory: pytest.TempPathFactory) -> RuleManager:
    root = tmp_path_factory.mktemp("fuzz-rules")
    store = SqliteKV(":memory:")
    catalog = Catalog()
    rules = RuleManager(catalog, store, str(root))
    StreamManager(catalog, store, rules.referenced_by).exec_sql(
        'CREATE STREAM demo (a bigint) WITH (DATASOURCE="d", TYPE="memory", FORMAT="json")')
    return rules


def _validate(manager: RuleManager, body: Any) -> None:
    for form in (body, json.dumps(body)):
        try:
            streams = manager.validate(form)
        except KuiperError as exc:
            assert exc.message, "an error without a message"
            continue
        assert streams == ["demo"]
        parse_rule_options(body.get("options"))  # a valid rule has valid options


@FUZZ
@given(RULES)
def test_rule_bodies(manager: RuleManager, body: dict[str, Any]) -> None:
    _validate(manager, body)


@FUZZ
@given(JSON)
def test_any_json_value(manager: RuleManager, body: Any) -> None:
    _validate(manager, body)


def test_a_valid_rule_validates(manager: RuleManager, tmp_path: Path) -> None:
    body = {"id": "r", "sql": "SELECT a FROM demo", "actions": [{"log": {}}],
            "options": {"restartStrategy": {"attempts": 2, "delay": "1s"}, "maxJsonDepth": 8}}
    assert manager.validate(body) == ["demo"]
