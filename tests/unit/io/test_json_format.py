"""The json decoder (both paths give the same results) and the Go-compatible encoder."""
from __future__ import annotations

import numpy as np
import orjson
import pytest

import kuiper.io.formats.json as jf
from kuiper.api import Batch, Column
from kuiper.catalog.defs import FieldDef, StreamDef
from kuiper.io.formats.encode import JsonEncoder, encode_json, go_batch
from kuiper.io.formats.json import JsonDecoder, parse_lines

SCHEMA = StreamDef("demo", (FieldDef("deviceId", "string"), FieldDef("temperature", "float"),
                            FieldDef("humidity", "bigint"), FieldDef("tags", "array")))
SCHEMALESS = StreamDef("demo")

LINES = (b'{"deviceId": "dev-1", "temperature": 23.5, "humidity": 55, "tags": ["a"]}\n'
         b'{"deviceId": "d\xc3\xa9v-2", "temperature": 30, "humidity": null}\n'
         b'\n'
         b'{"deviceId": "dev-3", "temperature": 1.5, "humidity": 7}')


@pytest.fixture(params=["kernel", "orjson"])
def decoder_path(request, monkeypatch):
    if request.param == "kernel":
        assert jf._kernel is not None, "kuiper._core.jsondecode is not built"
    else:
        monkeypatch.setattr(jf, "_kernel", None)
    return request.param


def test_declared_schema_lines(decoder_path):
    batch, errors = JsonDecoder(SCHEMA, ["deviceId", "temperature", "humidity", "tags"]).decode_lines(LINES)
    assert errors == []
    assert batch.n == 3
    assert batch.columns["deviceId"].to_pylist() == ["dev-1", "dév-2", "dev-3"]
    assert batch.columns["temperature"].values.dtype == np.float64
    assert batch.columns["temperature"].to_pylist() == [23.5, 30.0, 1.5]
    assert batch.columns["humidity"].to_pylist() == [55, None, 7]
    assert batch.columns["tags"].to_pylist() == [["a"], None, None]


def test_only_the_fields_the_rule_reads(decoder_path):
    batch, _ = JsonDecoder(SCHEMA, ["temperature"]).decode_lines(LINES)
    assert list(batch.columns) == ["temperature"]


def test_bad_lines_are_reported_with_line_numbers_and_skipped(decoder_path):
    chunk = (b'{"deviceId": "a", "temperature": 1.0}\n'
             b'{"deviceId": "b", "temperature": \n'
             b'{"deviceId": "c", "temperature": "hot"}\n'
             b'{"deviceId": "d", "temperature": 4.0}\n')
    batch, errors = JsonDecoder(SCHEMA, ["deviceId", "temperature"]).decode_lines(chunk)
    assert batch.columns["deviceId"].to_pylist() == ["a", "d"]
    assert [no for no, _ in errors] == [2, 3]
    assert "malformed JSON" in errors[0][1] or "JSON" in errors[0][1]
    assert "temperature" in errors[1][1]


def test_schemaless_lines_and_payloads():
    dec = JsonDecoder(SCHEMALESS, None)
    batch, errors = dec.decode_lines(b'{"a": 1}\n{"b": "x"}\n[1]\n')
    assert batch.to_rows() == [{"a": 1}, {"b": "x"}]
    assert errors[0][0] == 3
    batch, errors = dec.decode_payloads([b'{"a": 1}', b'[{"a": 2}, {"a": 3}]', b"nope"])
    assert batch.columns["a"].to_pylist() == [1, 2, 3]
    assert [no for no, _ in errors] == [3]


def test_schemaless_with_fields_keeps_only_those():
    batch, _ = JsonDecoder(SCHEMALESS, ["a", "z"]).decode_lines(b'{"a": 1, "b": 2}\n')
    assert list(batch.columns) == ["a", "z"]
    assert batch.columns["z"].to_pylist() == [None]


def test_parse_lines_fast_and_slow_paths_agree():
    clean = b"".join(orjson.dumps({"i": i}) + b"\n" for i in range(50))
    rows, nos, errs = parse_lines(clean)
    assert [r["i"] for r in rows] == list(range(50)) and nos == list(range(1, 51)) and errs == []
    rows, nos, errs = parse_lines(clean.replace(b'{"i":7}', b'{"i":7'))
    assert len(rows) == 49 and errs[0][0] == 8 and nos[7] == 9


def test_encoder_writes_like_go():
    batch = Batch({"t": Column.from_values([86.0, 23.5, None]), "s": Column.from_values(["é<&>", "x", "y"]),
                   "n": Column.from_values([[1.0, 2.5], {"k": 3.0}, None])}, 3)
    enc = JsonEncoder()
    rows = enc.prepare(batch).to_rows()
    assert enc.encode(rows[0]) == '{"t":86,"s":"é\\u003c\\u0026\\u003e","n":[1,2.5]}'.encode()
    assert enc.encode(rows[1]) == b'{"t":23.5,"s":"x","n":{"k":3}}'
    assert enc.encode([rows[2]]) == b'[{"s":"y"}]'


def test_go_floats_all_integral_become_bigint():
    b = go_batch(Batch({"t": Column(kind="float", values=np.array([1.0, 2.0, 1e19]))}, 3))
    assert b.columns["t"].to_pylist() == [1, 2, 10**19]
    assert encode_json(b.to_rows()) == b'[{"t":1},{"t":2},{"t":10000000000000000000}]'
    b = go_batch(Batch({"t": Column(kind="float", values=np.array([1.0, 2.0]))}, 2))
    assert b.columns["t"].kind == "bigint"
    assert encode_json(b"\x01") == b'"AQ=="'


def test_declared_schema_payloads(decoder_path):
    dec = JsonDecoder(SCHEMA, ["deviceId", "humidity", "tags"])
    batch, errors = dec.decode_payloads([b'{"deviceId": "x", "humidity": 3, "tags": [1]}',
                                         b'{"humidity": "wet"}', b'{"deviceId": "y"}'])
    assert batch.to_rows() == [{"deviceId": "x", "humidity": 3, "tags": [1]}, {"deviceId": "y"}]
    assert [no for no, _ in errors] == [2]


MIXED = (b'{"deviceId": "a", "temperature": 1.0, "humidity": 1, "tags": ["x"]}\n'
         b'\n'
         b'{"deviceId": 7, "temperature": 2.0}\n'  # a number for a string: converted
         b'{"deviceId": "c", "temperature": \n'  # malformed
         b'   \n'
         b'[{"deviceId": "d1"}, {"deviceId": "d2", "humidity": 2}]\n'  # an array of objects
         b'{"deviceId": "e", "temperature": "hot"}\n'  # does not convert
         b'{"deviceId": "f", "temperature": 6.5, "humidity": 6}\n'
         b'{"deviceId": "g", "humidity": 7.5}\n'  # 7.5 for a bigint: an error
         b'"just a string"\n'
         b'{"deviceId": "h", "temperature": 8}')


def test_only_bad_lines_take_the_general_path_and_keep_their_place(monkeypatch):
    fields = ["deviceId", "temperature", "humidity"]
    assert jf._kernel is not None
    got, got_errors = JsonDecoder(SCHEMA, fields).decode_lines(MIXED)
    monkeypatch.setattr(jf, "_kernel", None)
    want, want_errors = JsonDecoder(SCHEMA, fields).decode_lines(MIXED)
    assert got.to_rows() == want.to_rows()
    assert [r["deviceId"] for r in got.to_rows()] == ["a", "7", "d1", "d2", "f", "h"]
    assert got_errors == want_errors
    assert [no for no, _ in got_errors] == [4, 7, 9, 10]


def test_general_path_is_not_called_for_good_lines(monkeypatch):
    seen: list[int] = []
    real = jf._parse_line

    def spy(line: bytes, *args):
        seen.append(len(line))
        return real(line, *args)

    monkeypatch.setattr(jf, "_parse_line", spy)
    monkeypatch.setattr(jf, "parse_lines", lambda chunk, *a: pytest.fail("whole chunk re-decoded"))
    good = b'{"deviceId": "a", "temperature": 1.0}\n' * 500
    chunk = good + b'{"deviceId": 1, "temperature": 2.0}\n' + good
    batch, errors = JsonDecoder(SCHEMA, ["deviceId", "temperature"]).decode_lines(chunk)
    assert not errors and batch.n == 1001 and len(seen) == 1
    assert batch.columns["deviceId"].to_pylist()[499:502] == ["a", "1", "a"]


def test_payloads_mend_bad_ones_in_place(monkeypatch):
    payloads = [b'{"deviceId": "a", "tags": ["x"]}', b'{"deviceId": 5}', b'nope',
                b'{"deviceId": "b", "tags": 3}', b'{"deviceId": "c", "temperature": "1.5"}',
                b'{"deviceId": "d"}']
    fields = ["deviceId", "temperature", "tags"]
    got, got_errors = JsonDecoder(SCHEMA, fields).decode_payloads(payloads)
    monkeypatch.setattr(jf, "_kernel", None)
    want, want_errors = JsonDecoder(SCHEMA, fields).decode_payloads(payloads)
    assert got.to_rows() == want.to_rows()
    assert got_errors == want_errors
    assert [no for no, _ in got_errors][:1] == [3]
