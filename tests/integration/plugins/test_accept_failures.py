"""Acceptance, negative: bad packages are refused with a message naming the plugin and file;
a plugin raising in `exec`, `collect` or its source loop fails its own rule (error state,
counted in metrics) while the process and the other rule of the same run finish untouched."""
from __future__ import annotations

import textwrap
import zipfile
from pathlib import Path

import pytest
from plugin_env import WORDS, file_action, read_lines, write_rules

from kuiper.cli.run import run_paths
from kuiper.errors import PluginError
from kuiper.plugins.build import build_plugin
from kuiper.plugins.manager import PluginManager


def _py_zip(tmp_path: Path, ptype: str, name: str, code: str) -> Path:
    src = tmp_path / "src" / f"{name}.py"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(textwrap.dedent(code))
    return build_plugin(src, ptype, name, "1.0.0", None, tmp_path / f"{name}.zip", compile=False)


def _install(root: Path, ptype: str, name: str, zpath: Path) -> None:
    PluginManager(root, register=False).install(ptype, name, str(zpath))


def test_wrong_symbol_name_is_refused(root: Path, tmp_path: Path) -> None:
    zpath = _py_zip(tmp_path, "functions", "shout", """
        from kuiper.api import Function
        class Loud(Function):
            def exec(self, args, ctx):
                return str(args[0]).upper()
    """)
    with pytest.raises(PluginError) as info:
        _install(root, "functions", "shout", zpath)
    message = str(info.value)
    assert "shout.py" in message and "Shout" in message
    assert not (root / "plugins" / "functions" / "shout.py").exists()


def test_broken_import_is_refused(root: Path, tmp_path: Path) -> None:
    zpath = _py_zip(tmp_path, "sinks", "brokenSink", """
        import kuiper_no_such_module
        from kuiper.api import Sink
        class BrokenSink(Sink):
            pass
    """)
    with pytest.raises(PluginError) as info:
        _install(root, "sinks", "brokenSink", zpath)
    message = str(info.value)
    assert "brokenSink.py" in message and "kuiper_no_such_module" in message
    assert PluginManager(root, register=False).list("sinks") == ["csvFile"]


def test_zip_slip_is_refused(root: Path, tmp_path: Path) -> None:
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("evil.py", "from kuiper.api import Function\nclass Evil(Function):\n  pass\n")
        zf.writestr("../../outside.txt", "pwned")
        zf.writestr("etc/../../../escape.txt", "pwned")
    with pytest.raises(PluginError, match=r"\.\./"):
        _install(root, "functions", "evil", zpath)
    assert not list(tmp_path.rglob("outside.txt")) and not list(tmp_path.rglob("escape.txt"))
    assert not (root / "plugins" / "functions" / "evil.py").exists()


FAILING_FUNCTION = """
    from kuiper.api import Function
    class Fragile(Function):
        def exec(self, args, ctx):
            if args[0] == 7:
                raise ValueError("cannot handle seven")
            return args[0]
"""
FAILING_SINK = """
    from kuiper.api import Sink
    class Flaky(Sink):
        def __init__(self):
            self.seen = 0
        def collect(self, ctx, data):
            self.seen += 1
            if self.seen == 3:
                raise ZeroDivisionError("flaky sink gave up")
"""
FAILING_SOURCE = """
    from kuiper.api import Source
    class Shaky(Source):
        interval = 0.001
        def configure(self, datasource, conf):
            self.sent = 0
        def pull(self, ctx):
            self.sent += 1
            if self.sent > 5:
                raise RuntimeError("sensor unplugged")
            ctx.emit({"v": self.sent})
"""


@pytest.mark.parametrize(("ptype", "name", "code", "failing_rule", "where"), [
    ("functions", "fragile", FAILING_FUNCTION,
     {"sql": "SELECT fragile(n) AS f FROM words"},
     ["function plugin 'fragile'", "ValueError: cannot handle seven", "op 2_project"]),
    ("sinks", "flaky", FAILING_SINK,
     {"sql": "SELECT n FROM words", "actions": [{"flaky": {}}]},
     ["sink plugin 'flaky'", "failed in collect", "ZeroDivisionError: flaky sink gave up"]),
    ("sources", "shaky", FAILING_SOURCE,
     {"sql": "SELECT v FROM shaky_stream"},
     ["source plugin 'shaky'", "failed in pull", "RuntimeError: sensor unplugged"]),
], ids=["exec", "collect", "source-loop"])
def test_a_failing_plugin_fails_only_its_rule(root: Path, tmp_path: Path, ptype: str, name: str,
                                              code: str, failing_rule: dict, where: list[str]
                                              ) -> None:
    _install(root, ptype, name, _py_zip(tmp_path, ptype, name, code))
    good_out, bad_out = tmp_path / "good.lines", tmp_path / "bad.lines"
    bad = {"id": "bad", "actions": [file_action(bad_out)], **failing_rule}
    good = {"id": "good", "sql": "SELECT n, accumulateWordCount(text, ' ') AS total FROM words",
            "actions": [file_action(good_out)]}
    streams = ('CREATE STREAM words (ts BIGINT, text STRING, k STRING, n BIGINT) '
               'WITH (TYPE="file", DATASOURCE="words.jsonl", FORMAT="json");\n'
               'CREATE STREAM shaky_stream () WITH (TYPE="shaky");\n')
    results = run_paths([str(write_rules(tmp_path / "rules", [bad, good], streams))], str(root))
    status = results["bad"]
    assert status["status"] == "stopped by error", status
    for text in where:
        assert text in status["message"], status["message"]
    failures = {k: v for k, v in status.items() if k.endswith("_exceptions_total") and v}
    assert failures, status
    node = next(iter(failures))[: -len("exceptions_total")]
    assert name in status[node + "last_exception"]
    # the other rule of the same process ran to its end with its full output
    assert results["good"]["status"] == "stopped"
    assert [r["n"] for r in read_lines(good_out)] == [r["n"] for r in WORDS]


def test_a_failing_rule_restarts_per_its_strategy(root: Path, tmp_path: Path) -> None:
    _install(root, "sinks", "flaky", _py_zip(tmp_path, "sinks", "flaky", FAILING_SINK))
    rule = {"id": "retry", "sql": "SELECT n FROM words", "actions": [{"flaky": {}}],
            "options": {"restartStrategy": {"attempts": 2, "delay": 1, "multiplier": 1}}}
    status = run_paths([str(write_rules(tmp_path / "rules", [rule]))], str(root))["retry"]
    # every run fails at its 3rd message; after 2 restarts the rule stays in error
    assert status["status"] == "stopped by error"
    assert "flaky sink gave up" in status["message"] and "restarting" not in status["message"]
