"""External functions over gRPC: argument mapping, results row by row, order under concurrency."""
from __future__ import annotations

import numpy as np
import pytest

from kuiper.api.batch import Column
from kuiper.external.functions import ExternalRowErrors
from kuiper.external.manager import ServiceManager


def call(mgr: ServiceManager, name: str, *cols: Column, n: int | None = None) -> list:
    fdef = mgr.resolve(name)
    assert fdef is not None, name
    rows = n if n is not None else len(cols[0])
    return fdef.exec_batch(list(cols), rows, None).to_pylist()


def rows_column(rows: list[dict]) -> Column:
    return Column.from_values(rows, "struct")


def test_get_feature_with_self_row_by_row(ai: ServiceManager) -> None:
    rows = [{"payload": [1.0, 2.0, 3.0], "device": "d1", "seq": 1, "extra": "ignored"},
            {"payload": [20.0, 40.0], "device": "d2", "seq": 2},
            {"payload": [], "device": "d3", "seq": 3}]
    out = call(ai, "getFeature", rows_column(rows))
    assert out == [
        {"vector": [2.0, 1.0, 3.0], "label": "low", "score": 2.0, "seq": 1},
        {"vector": [30.0, 20.0, 40.0], "label": "high", "score": 30.0, "seq": 2},
        {"vector": [0.0, 0.0, 0.0], "label": "low", "score": 0.0, "seq": 3},
    ]
    assert ai.resolve("getFeature").return_kind == "struct"


def test_positional_arguments_fill_fields_in_order(ai: ServiceManager) -> None:
    payload = Column.from_values([[5.0, 15.0], [1.0]], "array")
    device = Column.from_values(["a", "b"])
    seq = Column.from_values([10, 11])
    out = call(ai, "getFeature", payload, device, seq)
    assert [r["score"] for r in out] == [10.0, 1.0]
    assert [r["seq"] for r in out] == [10, 11]


def test_wrapper_types_return_scalars_and_empty_works(ai: ServiceManager, servers) -> None:
    text = Column.from_values(["a good day", "bad", None])
    fdef = ai.resolve("classify")
    col = fdef.exec_batch([text], 3, None)
    assert col.kind == "string"
    # a null argument leaves the field unset: classify("") is negative
    assert col.to_pylist() == ["positive", "negative", "negative"]
    assert call(ai, "ping", n=2) == ["pong", "pong"]


def test_constant_argument_column_is_broadcast(ai: ServiceManager) -> None:
    assert call(ai, "classify", Column.constant("good", 1), n=4) == ["positive"] * 4


def test_order_is_kept_under_concurrency(ai: ServiceManager, servers) -> None:
    n = 500
    rows = [{"payload": [float(i)], "device": f"d{i}", "seq": i} for i in range(n)]
    before = servers["grpc"].calls
    out = call(ai, "getFeature", rows_column(rows))
    assert [r["seq"] for r in out] == list(range(n))
    assert [r["score"] for r in out] == [float(i) for i in range(n)]
    assert servers["grpc"].calls - before == n
    assert ai.function("getFeature").stats.calls_total >= n


def test_plan_time_argument_count_is_checked(ai: ServiceManager) -> None:
    fdef = ai.resolve("getFeature")
    assert fdef.validate([1.0, "x", 3]) is None          # 3 fields, 3 arguments
    assert fdef.validate([{"payload": []}]) is None       # one struct
    msg = fdef.validate([[1.0], "x"])
    assert msg and "expects 3 argument(s) (payload, device, seq)" in msg and "got 2" in msg
    assert "got none" in fdef.validate([])
    assert "one bigint argument" in fdef.validate([5])
    assert ai.resolve("ping").validate([]) is None
    assert ai.resolve("classify").validate(["x"]) is None


def test_bad_value_fails_only_its_row(ai: ServiceManager) -> None:
    rows = [{"payload": [1.0], "seq": 1}, {"payload": "not a list", "seq": 2},
            {"payload": [3.0], "seq": 3.0}]
    fdef = ai.resolve("getFeature")
    with pytest.raises(ExternalRowErrors) as info:
        fdef.exec_batch([rows_column(rows)], 3, None)
    err = info.value
    assert err.failed.tolist() == [False, True, False]
    assert "field payload: expect an array" in str(err) and "(1 of 3 rows)" in str(err)
    vals = err.partial.to_pylist()
    assert vals[0]["seq"] == 1 and vals[1] is None and vals[2]["seq"] == 3
    assert ai.function("getFeature").stats.errors_total == 1


def test_row_by_row_fallback_replays_without_calling_again(ai: ServiceManager, servers) -> None:
    rows = [{"payload": [1.0], "seq": 1}, {"payload": "bad", "seq": 2}, {"payload": [2.0], "seq": 3}]
    col = rows_column(rows)
    fdef = ai.resolve("getFeature")
    with pytest.raises(ExternalRowErrors):
        fdef.exec_batch([col], 3, None)
    before = servers["grpc"].calls
    # what kuiper.expr's Call.eval does when a batch raises an EvalError
    assert fdef.exec_batch([col.slice(0, 1)], 1, None).to_pylist()[0]["seq"] == 1
    with pytest.raises(ExternalRowErrors):
        fdef.exec_batch([col.slice(1, 2)], 1, None)
    assert fdef.exec_batch([col.slice(2, 3)], 1, None).to_pylist()[0]["seq"] == 3
    assert servers["grpc"].calls == before
    # a later call goes to the service again
    assert fdef.exec_batch([col.slice(0, 1)], 1, None).to_pylist()[0]["seq"] == 1
    assert servers["grpc"].calls == before + 1


def test_functions_listing(ai: ServiceManager) -> None:
    names = [f["Name"] for f in ai.list_functions()]
    assert {"getFeature", "classify", "ping", "slow", "restFeature", "rpcFeature", "echo"} <= set(names)
    f = ai.get_function("getFeature")
    assert (f["ServiceName"], f["InterfaceName"], f["MethodName"]) == ("ai", "aigrpc", "get_feature")
    assert ai.resolve("GETFEATURE") is ai.resolve("getFeature")
    assert np.all(ai.list() == ["ai"])
