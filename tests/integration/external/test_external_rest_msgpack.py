"""External functions over REST (http options, default POST, schemaless) and msgpack-rpc."""
from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from kuiper.api.batch import Column
from kuiper.external.functions import ExternalRowErrors
from kuiper.external.manager import ServiceManager


def run(mgr: ServiceManager, name: str, *cols: Column, n: int | None = None) -> list:
    rows = n if n is not None else len(cols[0])
    return mgr.resolve(name).exec_batch(list(cols), rows, None).to_pylist()


def test_rest_http_option_path_param_and_canonical_json_body(ai: ServiceManager, servers) -> None:
    rows = [{"payload": [4.0, 6.0], "device": "dev/1", "big_seq": 2**40},
            {"payload": [50.0], "device": "d2", "big_seq": 7}]
    out = run(ai, "restFeature", Column.from_values(rows, "struct"))
    assert out == [
        {"vector": [5.0, 4.0, 6.0], "label": "low", "score": 5.0, "big_seq": 2**40},
        {"vector": [50.0, 50.0, 50.0], "label": "high", "score": 50.0, "big_seq": 7},
    ]
    seen = sorted(servers["http"].seen[-2:], key=lambda s: s["path"])
    # the path field is taken out of the body; keys are lowerCamelCase, int64 a string
    assert seen[0]["path"] == "/v1/devices/d2/feature"
    assert seen[0]["body"] == {"payload": [50.0], "bigSeq": "7"}
    assert seen[1]["path"] == "/v1/devices/dev%2F1/feature"


def test_rest_default_post_with_string_value_body(ai: ServiceManager) -> None:
    assert run(ai, "restClassify", Column.from_values(['"so good"', '"meh"'])) == \
        ["positive", "negative"]


def test_rest_get_sends_fields_as_query(ai: ServiceManager) -> None:
    out = run(ai, "restSearch", Column.from_values(["ann lee"]), Column.from_values([2]))
    assert parse_qs(out[0]["query"]) == {"author": ["ann lee"], "page": ["2"]}


def test_rest_schemaless_call(ai: ServiceManager) -> None:
    verb, path = Column.constant("post", 1), Column.constant("/echo", 1)
    body = Column.from_values([{"a": 1}, {"a": 2}], "struct")
    out = run(ai, "echo", verb, path, body, n=2)
    assert out == [{"method": "POST", "body": {"a": 1}}, {"method": "POST", "body": {"a": 2}}]
    two = run(ai, "echo", verb, path, Column.constant(1, 1), Column.constant("x", 1), n=1)
    assert two == [{"method": "POST", "body": [1, "x"]}]
    fdef = ai.resolve("echo")
    assert "HTTP verb" in fdef.validate(["fetch", "/x"])
    assert fdef.validate(["get", "/x"]) is None


def test_rest_http_error_status_is_a_row_error(ai: ServiceManager) -> None:
    verb, path = Column.constant("post", 1), Column.constant("/missing", 1)
    with pytest.raises(ExternalRowErrors) as info:
        ai.resolve("echo").exec_batch([verb, path], 1, None)
    assert "http status 404" in str(info.value)


def test_msgpack_rpc_feature_and_classify(ai: ServiceManager, servers) -> None:
    rows = [{"payload": [1.0, 3.0], "device": "x", "seq": i} for i in range(100)]
    out = run(ai, "rpcFeature", Column.from_values(rows, "struct"))
    assert [r["seq"] for r in out] == list(range(100))
    assert out[0] == {"vector": [2.0, 1.0, 3.0], "label": "low", "score": 2.0, "seq": 0}
    assert run(ai, "rpcClassify", Column.from_values(["good", "no"])) == ["positive", "negative"]
    assert run(ai, "rpcPing", n=1) == ["pong"]
