"""`kuiper plugin …` and eKuiper's plugin verbs, in-process on a temp root (.py plugins)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kuiper.cli.main import main

SHOUT = '''
from kuiper.api import Function


class Shout(Function):
    def exec(self, args, ctx):
        return None if args[0] is None else str(args[0]).upper()
'''


@pytest.fixture
def shout_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    src = tmp_path / "src" / "shout.py"
    src.parent.mkdir()
    src.write_text(SHOUT)
    out = tmp_path / "shout.zip"
    assert main(["plugin", "build", str(src), "--type", "function", "--name", "shout",
                 "--version", "1.2.0", "--no-compile", "-o", str(out)]) == 0
    assert "Plugin shout is built" in capsys.readouterr().out
    return out


def test_plugin_family(tmp_path: Path, shout_zip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "root")
    assert main(["plugin", "install", "function", "shout", str(shout_zip), "--root", root]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Plugin shout is installed.")
    assert main(["plugin", "list", "functions", "--root", root, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == ["shout"]
    assert main(["plugin", "describe", "function", "shout", "--root", root]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == "1.2.0" and not info["compiled"]
    assert main(["plugin", "udfs", "--root", root]) == 0
    assert capsys.readouterr().out.split() == ["shout"]
    # installed twice: refused unless --replace
    assert main(["plugin", "install", "function", "shout", str(shout_zip), "--root", root]) == 2
    assert "already installed" in capsys.readouterr().err
    assert main(["plugin", "install", "function", "shout", str(shout_zip), "--root", root,
                 "--replace"]) == 0
    assert main(["plugin", "install", "function", "shout", str(shout_zip), "--root", root,
                 "--replace", "--sha256", "00"]) == 2
    assert "sha256" in capsys.readouterr().err
    assert main(["plugin", "remove", "function", "shout", "--root", root]) == 0
    assert main(["plugin", "list", "function", "--root", root]) == 0
    assert "No function plugin is installed." in capsys.readouterr().out


def test_ekuiper_spellings(tmp_path: Path, shout_zip: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "root")
    body = json.dumps({"file": shout_zip.as_uri()})
    assert main(["create", "plugin", "function", "shout", body, "--root", root]) == 0
    assert "Plugin shout is created." in capsys.readouterr().out
    assert main(["show", "plugins", "function", "--root", root]) == 0
    assert capsys.readouterr().out.split() == ["shout"]
    assert main(["describe", "plugin", "function", "shout", "--root", root]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "shout"
    assert main(["register", "plugin", "function", "shout", '{"functions": ["shout"]}',
                 "--root", root]) == 0
    assert main(["show", "udfs", "--root", root]) == 0
    assert "shout" in capsys.readouterr().out
    assert main(["describe", "udf", "shout", "--root", root]) == 0
    assert json.loads(capsys.readouterr().out) == {"name": "shout", "plugin": "shout"}
    assert main(["drop", "plugin", "function", "shout", "--root", root]) == 0
    assert "Plugin shout is dropped." in capsys.readouterr().out
    assert main(["drop", "plugin", "function", "shout", "--root", root]) == 2
    assert "not installed" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "error"), [
    (["create", "plugin", "function", "x", "not json"], "not valid JSON"),
    (["create", "plugin", "function", "x", "{}"], '"file"'),
    (["create", "plugin", "function", "x", '{"file": "a.zip", "shellParas": ["-x"]}'],
     "shellParas"),
    (["plugin", "list", "portable"], "unknown plugin type"),
    (["register", "plugin", "source", "x", '{"functions": []}'], "only function plugins"),
])
def test_errors(tmp_path: Path, argv: list[str], error: str,
                capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--root", str(tmp_path)]) == 2
    assert error in capsys.readouterr().err
