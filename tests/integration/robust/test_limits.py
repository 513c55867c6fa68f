"""Resource limits: an oversized message, a JSON document nested too deep and a window over
maxWindowRows are each refused with a counted error (and an error row with sendError); the
rule goes on with the rest of its input."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kuiper.api import Context, Source
from kuiper.cli.run import run_paths
from kuiper.errors import ConfigError
from kuiper.runtime.options import parse_rule_options
from kuiper.runtime.registry import register_source

PAYLOADS: list[bytes] = []


@register_source("test_payloads")
class PayloadSource(Source):
    """Bounded: emits PAYLOADS as one `emit_payloads` (as the MQTT source does)."""

    bounded = True

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.payloads = list(PAYLOADS)

    async def open(self, ctx: Context) -> None:
        ctx.emit_payloads(self.payloads, {"topic": ["t"] * len(self.payloads)})
        ctx.emit_eof()


def _run(tmp_path: Path, streams: str, rule: dict[str, Any],
         lines: list[bytes] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    root = tmp_path / "root"
    (root / "etc" / "sources").mkdir(parents=True)
    (root / "etc" / "sources" / "file.yaml").write_text(
        "default:\n  fileType: lines\n  path: data\n")
    (root / "data").mkdir()
    if lines is not None:
        (root / "data" / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.lines"
    rule = {"id": "r", "actions": [{"file": {"path": str(out), "sendSingle": True}}], **rule}
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "streams.sql").write_text(streams)
    (rules / "rules.json").write_text(json.dumps([rule]))
    status = run_paths([str(rules)], str(root))["r"]
    rows = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return status, rows


FILE_STREAM = ('CREATE STREAM s (v BIGINT, x STRING) '
               'WITH (TYPE="file", DATASOURCE="in.jsonl", FORMAT="json");\n')
SCHEMALESS = 'CREATE STREAM s () WITH (TYPE="file", DATASOURCE="in.jsonl", FORMAT="json");\n'
PAYLOAD_STREAM = 'CREATE STREAM s (v BIGINT) WITH (TYPE="test_payloads", FORMAT="json");\n'


def _deep(levels: int) -> bytes:
    return b'{"v": 9, "x": "y", "z": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


@pytest.mark.parametrize("streams", [FILE_STREAM, SCHEMALESS], ids=["kernel", "orjson"])
def test_oversized_lines_are_refused_and_counted(tmp_path: Path, streams: str) -> None:
    big = b'{"v": 2, "x": "' + b"a" * 500 + b'"}'
    lines = [b'{"v": 1, "x": "a"}', big, b'{"v": 3, "x": "b"}', big]
    status, rows = _run(tmp_path, streams,
                        {"sql": "SELECT v FROM s",
                         "options": {"maxMessageSize": 200, "sendError": True}}, lines)
    assert status["status"] == "stopped", status
    assert [r["v"] for r in rows if "v" in r] == [1, 3]
    errors = [r["error"] for r in rows if "error" in r]
    assert len(errors) == 2 and all("exceeds maxMessageSize (200 bytes)" in e for e in errors)
    assert "line 2" in errors[0] and "line 4" in errors[1]
    assert status["source_s_0_exceptions_total"] == 2
    assert "message of 517 bytes" in status["source_s_0_last_exception"]


def test_oversized_payloads_are_refused_and_counted(tmp_path: Path) -> None:
    PAYLOADS[:] = [b'{"v": 1}', b'{"v": 2, "pad": "' + b"p" * 300 + b'"}', b'{"v": 3}',
                   b"not json", b'{"v": 5}']
    status, rows = _run(tmp_path, PAYLOAD_STREAM,
                        {"sql": "SELECT v, meta(topic) AS t FROM s",
                         "options": {"maxMessageSize": 100, "sendError": True}})
    assert [r["v"] for r in rows if "v" in r] == [1, 3, 5]
    assert all(r["t"] == "t" for r in rows if "v" in r)
    errors = [r["error"] for r in rows if "error" in r]
    assert len(errors) == 2
    assert "message 2: message of 319 bytes exceeds maxMessageSize (100 bytes)" in errors[0]
    assert "message 4: " in errors[1]  # numbered as they arrived, the big one included
    assert status["source_s_0_exceptions_total"] == 2


@pytest.mark.parametrize("streams", [FILE_STREAM, SCHEMALESS], ids=["kernel", "orjson"])
def test_json_nested_too_deep_is_refused(tmp_path: Path, streams: str) -> None:
    lines = [_deep(8), b'{"v": 1, "x": "a"}', _deep(9), _deep(3000)]
    status, rows = _run(tmp_path, streams,
                        {"sql": "SELECT v FROM s",
                         "options": {"maxJsonDepth": 8, "sendError": True}}, lines)
    assert [r["v"] for r in rows if "v" in r] == [9, 1]
    errors = [r["error"] for r in rows if "error" in r]
    assert len(errors) == 2, errors
    assert all("nesting too deep (more than maxJsonDepth=8" in e for e in errors)
    assert status["source_s_0_exceptions_total"] == 2


def test_json_depth_default_holds_on_the_payload_paths(tmp_path: Path) -> None:
    # a payload starting with '[' goes through orjson even with a declared schema
    deep_array = b"[" + _deep(600) + b"]"
    PAYLOADS[:] = [_deep(600), deep_array, b'{"v": 4}', b"[" * 5000 + b"]" * 5000]
    status, rows = _run(tmp_path, PAYLOAD_STREAM,
                        {"sql": "SELECT v FROM s", "options": {"sendError": True}})
    assert [r["v"] for r in rows if "v" in r] == [4]
    assert status["source_s_0_exceptions_total"] == 3


def test_window_over_max_rows_refuses_the_rest(tmp_path: Path) -> None:
    lines = [json.dumps({"v": i, "x": "a"}).encode() for i in range(25)]
    status, rows = _run(tmp_path, FILE_STREAM,
                        {"sql": "SELECT count(*) AS c, sum(v) AS s FROM s "
                                "GROUP BY COUNTWINDOW(100)",
                         "options": {"maxWindowRows": 10, "sendError": True}}, lines)
    errors = [r["error"] for r in rows if "error" in r]
    assert len(errors) == 15 and "exceed maxWindowRows (10)" in errors[0]
    assert status["op_2_window_0_exceptions_total"] == 15, status
    assert "maxWindowRows" in status["op_2_window_0_last_exception"]


def test_tumbling_window_stays_within_max_rows(tmp_path: Path) -> None:
    lines = [json.dumps({"v": i, "x": "a"}).encode() for i in range(40)]
    status, rows = _run(tmp_path, FILE_STREAM,
                        {"sql": "SELECT count(*) AS c FROM s GROUP BY TUMBLINGWINDOW(ss, 60)",
                         "options": {"maxWindowRows": 30}}, lines)
    assert [r["c"] for r in rows] == [30]  # the window closes at the end of the input
    assert status["op_2_window_0_exceptions_total"] == 10


@pytest.mark.parametrize(("options", "text"), [
    ({"maxJsonDepth": 2000}, "at most 1024"),
    ({"maxJsonDepth": 0}, "must be >= 1"),
    ({"maxMessageSize": "big"}, "must be an integer"),
    ({"maxWindowRows": -1}, "must be >= 1"),
])
def test_bad_limits_are_clear_errors(options: dict[str, Any], text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        parse_rule_options(options)


def test_limit_defaults() -> None:
    o = parse_rule_options({})
    assert (o.max_message_size, o.max_json_depth, o.max_window_rows) == (
        10 * 1024 * 1024, 512, 10_000_000)


def test_limits_from_kuiper_yaml_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kuiper.runtime.options import effective_options

    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "kuiper.yaml").write_text("rule:\n  maxJsonDepth: 8\n")
    monkeypatch.setenv("KUIPER__RULE__MAXMESSAGESIZE", "1000")
    o = parse_rule_options(effective_options(str(tmp_path), {"maxWindowRows": 5}))
    assert (o.max_message_size, o.max_json_depth, o.max_window_rows) == (1000, 8, 5)
