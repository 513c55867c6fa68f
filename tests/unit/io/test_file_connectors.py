"""File source (json array, lines, csv, missing file) and file sink (lines, json, csv) on real files."""
from __future__ import annotations

import json
import logging

import pytest
from io_helpers import COLLECTED, run_stream

from kuiper.catalog.defs import FieldDef


@pytest.fixture(autouse=True)
def _clean():
    COLLECTED.clear()


def write_conf(root, text: str) -> None:
    (root / "etc" / "sources").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "sources" / "file.yaml").write_text(text)


def collect():
    return [{"io_collect": {"key": "out", "sendSingle": True}}]


def test_json_array_file_relative_to_path(tmp_path):
    write_conf(tmp_path, "default:\n  path: data\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.json").write_text(json.dumps([{"a": 1}, {"a": 2, "b": "x"}]))
    status = run_stream(str(tmp_path), {"type": "file", "datasource": "in.json"}, collect())
    assert COLLECTED["out"] == [{"a": 1}, {"a": 2, "b": "x"}]
    assert status["source_demo_0_records_in_total"] == 2


def test_json_file_with_one_object_per_line_is_read_as_lines(tmp_path):
    path = tmp_path / "in.json"
    path.write_text('{"a": 1}\n{"a": 2}\n')
    run_stream(str(tmp_path), {"type": "file", "datasource": str(path)}, collect())
    assert COLLECTED["out"] == [{"a": 1}, {"a": 2}]


def test_lines_with_declared_schema_and_a_bad_line(tmp_path, caplog):
    write_conf(tmp_path, "default:\n  path: data\njl:\n  fileType: lines\n")
    (tmp_path / "data").mkdir()
    lines = [json.dumps({"t": float(i), "d": f"x{i}"}) for i in range(2000)]
    lines[1500] = '{"t": oops}'
    (tmp_path / "data" / "in.jsonl").write_text("\n".join(lines))  # no final newline
    fields = (FieldDef("t", "float"), FieldDef("d", "string"))
    with caplog.at_level(logging.WARNING):
        status = run_stream(str(tmp_path), {"type": "file", "datasource": "in.jsonl",
                                            "conf_key": "jl"}, collect(), fields)
    assert len(COLLECTED["out"]) == 1999
    assert COLLECTED["out"][0] == {"t": 0, "d": "x0"} or COLLECTED["out"][0] == {"t": 0.0, "d": "x0"}
    assert COLLECTED["out"][-1]["d"] == "x1999"
    assert status["source_demo_0_exceptions_total"] == 1
    assert "line 1501" in status["source_demo_0_last_exception"]
    assert "in.jsonl" in caplog.text and "line 1501" in caplog.text


@pytest.mark.parametrize("header", [True, False])
def test_csv_with_and_without_header(tmp_path, header):
    write_conf(tmp_path, f"default:\n  fileType: csv\n  hasHeader: {str(header).lower()}\n")
    body = "1, dev-1, 2.5\n2, dev-2, 3\n"
    (tmp_path / "in.csv").write_text(("id,name,v\n" if header else "") + body)
    fields = (FieldDef("id", "bigint"), FieldDef("name", "string"), FieldDef("v", "float")) if header else ()
    run_stream(str(tmp_path), {"type": "file", "datasource": "in.csv"}, collect(), fields)
    if header:
        assert COLLECTED["out"] == [{"id": 1, "name": "dev-1", "v": 2.5}, {"id": 2, "name": "dev-2", "v": 3.0}]
    else:
        assert COLLECTED["out"] == [{"cols0": "1", "cols1": "dev-1", "cols2": "2.5"},
                                    {"cols0": "2", "cols1": "dev-2", "cols2": "3"}]


def test_csv_columns_and_delimiter_from_stream(tmp_path):
    write_conf(tmp_path, "default:\n  fileType: csv\n  columns: [a, b]\n")
    (tmp_path / "in.csv").write_text("1 2\n3 4\n")
    run_stream(str(tmp_path), {"type": "file", "datasource": "in.csv", "delimiter": " "}, collect())
    assert COLLECTED["out"] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


def test_missing_file_is_a_clear_counted_error(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        status = run_stream(str(tmp_path), {"type": "file", "datasource": "nope.json"}, collect())
    assert COLLECTED["out"] == []
    assert status["source_demo_0_exceptions_total"] == 1
    assert "nope.json does not exist" in status["source_demo_0_last_exception"]
    assert "does not exist" in caplog.text


def test_file_sink_lines_json_csv(tmp_path):
    (tmp_path / "in.json").write_text(json.dumps([{"a": 1, "t": 86.0, "s": "é"}, {"a": 2, "t": 1.5}]))
    actions = [
        {"file": {"path": str(tmp_path / "out.lines")}},
        {"file": {"path": "out/single.lines", "sendSingle": True, "fields": ["t", "a"]}},
        {"file": {"path": str(tmp_path / "out.json"), "fileType": "json"}},
        {"file": {"path": str(tmp_path / "out.csv"), "fileType": "csv", "hasHeader": True,
                  "sendSingle": True}},
    ]
    run_stream(str(tmp_path), {"type": "file", "datasource": "in.json"}, actions)
    assert (tmp_path / "out.lines").read_text(encoding="utf-8").splitlines() == [
        '[{"a":1,"t":86,"s":"é"}]', '[{"a":2,"t":1.5}]']
    assert (tmp_path / "out" / "single.lines").read_text().splitlines() == [
        '{"t":86,"a":1}', '{"t":1.5,"a":2}']
    assert json.loads((tmp_path / "out.json").read_text()) == [[{"a": 1, "t": 86, "s": "é"}],
                                                               [{"a": 2, "t": 1.5}]]
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines() == ["a,s,t", "1,é,86", "2,,1.5"]
