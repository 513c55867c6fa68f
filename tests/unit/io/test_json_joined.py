"""The batch-at-once JSON encoding (`JsonEncoder.encode_joined`) writes the very bytes of the
message-by-message path, and the file sink takes it for plain rules."""
from __future__ import annotations

import json

import numpy as np
import pytest
from io_helpers import run_stream

from kuiper.api import Batch, Column
from kuiper.io.formats.encode import JsonEncoder, encode_json_many, go_batch


def reference(batch: Batch, sep: bytes, send_nil_field: bool) -> bytes:
    rows = go_batch(batch).to_rows(send_nil_field=send_nil_field)
    return sep.join(encode_json_many([[r] for r in rows]))


def check(batch: Batch, *, fast: bool = True) -> None:
    enc = JsonEncoder()
    for sep in (b"\n", b","):
        for nil in (False, True):
            got = enc.encode_joined(batch, sep, send_nil_field=nil)
            if got is None:
                assert not fast or (not nil and any(c.has_nulls() for c in batch.columns.values()))
                continue
            assert got == reference(batch, sep, nil)


FLOATS = [87.8, 86.0, -0.0, 0.0, 1e21, 1e19, 1e-7, 5e-324, 1.7976931348623157e308, 2.0**62,
          123456789.125, float("nan"), float("inf"), -3.0]


def test_numbers_booleans_datetimes():
    n = len(FLOATS)
    check(Batch({"f": Column("float", np.array(FLOATS)),
                 "i": Column("bigint", np.arange(n, dtype=np.int64) - 5),
                 "b": Column("boolean", np.arange(n) % 2 == 0),
                 "d": Column("datetime", np.full(n, 1700000000000, dtype=np.int64))}, n))


def test_all_integral_floats_and_big_integral_floats():
    check(Batch({"f": Column("float", np.array([1.0, -2.0, 3e5]))}, 3))
    check(Batch({"f": Column("float", np.array([1.5, 2.0**63, 2.0**60]))}, 3))
    # above 64 bits orjson fails: the row path finds and counts the bad message
    assert JsonEncoder().encode_joined(Batch({"f": Column("float", np.array([1.5, 1e20]))}, 2),
                                       b"\n") is None


STRS = ["dev-042", "é ü 中", "<a&b>", "\u2028\u2029", 'q"uo"te', '","', "back\\", "", "\x00\n\t",
        "[{]}", "dev-042"]


def test_strings_plain_and_dictionary():
    n = len(STRS)
    plain = np.empty(n, dtype=object)
    plain[:] = STRS
    words = np.array(sorted(set(STRS)), dtype=object)
    codes = np.array([list(words).index(s) for s in STRS], dtype=np.int32)
    check(Batch({"s": Column("string", plain), "k<&>": Column("string", codes, None, words),
                 "x": Column("float", np.linspace(0, 5, n))}, n))


def test_nested_bytes_and_mixed_values():
    vals = [[1.0, {"a": 2.0, "b": "<x>"}], {"k": [3.0, 1.5]}, b"\x00\xff", 7, "s", True, 2.5]
    arr = np.empty(len(vals), dtype=object)
    arr[:] = vals
    n = len(vals)
    check(Batch({"any": Column("any", arr), "arr": Column("array", arr.copy()),
                 "st": Column("struct", arr.copy())}, n))


def test_nulls_are_left_out_or_null():
    valid = np.array([True, False, True, False])
    words = np.array(["a", "b"], dtype=object)
    plain = np.empty(4, dtype=object)
    plain[:] = ["x", None, "z", None]
    anys = np.empty(4, dtype=object)
    anys[:] = [1, None, [2.0], None]
    batch = Batch({"f": Column("float", np.array([1.0, np.nan, 2.5, 0.0]), valid),
                   "i": Column("bigint", np.arange(4, dtype=np.int64), valid),
                   "d": Column("string", np.array([0, 0, 1, 1], dtype=np.int32), valid, words),
                   "s": Column("string", plain, valid),
                   "a": Column("any", anys, valid)}, 4)
    check(batch, fast=False)
    # a None inside an `any` column without a null bit is still left out of its row
    check(Batch({"a": Column("any", anys)}, 4), fast=False)


def test_no_rows_or_no_columns_take_the_row_path():
    enc = JsonEncoder()
    assert enc.encode_joined(Batch({}, 3), b"\n") is None
    assert enc.encode_joined(Batch({"f": Column("float", np.zeros(0))}, 0), b"\n") is None


def test_values_json_cannot_hold_take_the_row_path():
    arr = np.empty(2, dtype=object)
    arr[:] = [{1: "non-str key"}, object()]
    assert JsonEncoder().encode_joined(Batch({"a": Column("any", arr)}, 2), b"\n") is None


def test_string_kind_holding_other_values_is_not_split():
    arr = np.empty(3, dtype=object)
    arr[:] = ["a", {"k": "v", "w": "z", "x": "y"}, "b"]
    enc = JsonEncoder()
    got = enc.encode_joined(Batch({"s": Column("string", arr)}, 3), b"\n")
    assert got is None or got == reference(Batch({"s": Column("string", arr)}, 3), b"\n", False)


@pytest.mark.parametrize("file_type", ["lines", "json"])
def test_file_sink_writes_the_joined_batch(tmp_path, file_type):
    rows = [{"deviceId": f"dev-{i % 3}", "tf": 86.0 + i * 0.1, "n": i} for i in range(50)]
    (tmp_path / "in.json").write_text(json.dumps(rows))
    out = tmp_path / "out.txt"
    status = run_stream(str(tmp_path), {"type": "file", "datasource": "in.json"},
                        [{"file": {"path": str(out), "fileType": file_type}}])
    text = out.read_text()
    if file_type == "lines":
        lines = text.splitlines()
        assert lines[0] == '[{"deviceId":"dev-0","tf":86,"n":0}]'
        got = [json.loads(line)[0] for line in lines]
    else:
        got = [m[0] for m in json.loads(text)]
        assert text.startswith('[[{"deviceId":"dev-0","tf":86,"n":0}],[{')
    assert got == [{**r, "tf": int(r["tf"]) if r["tf"].is_integer() else r["tf"]} for r in rows]
    assert status["sink_file_0_0_records_out_total"] == 50
