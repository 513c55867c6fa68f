"""Helpers of the plugin acceptance tests: example plugins, inputs, rule files, the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from example_plugins import EXAMPLE_PLUGINS, REPO

from kuiper.functions.registry import default_registry
from kuiper.plugins.manager import PluginManager

#: the input of the file-source rules: 40 rows over 4 s of event time, 3 devices
WORDS = [{"ts": 1_000 + i * 100, "text": "a b c" if i % 2 else "x y", "k": f"dev{i % 3}",
          "n": i} for i in range(40)]
STREAM_SQL = ('CREATE STREAM words (ts BIGINT, text STRING, k STRING, n BIGINT) '
              'WITH (TYPE="file", DATASOURCE="words.jsonl", FORMAT="json", TIMESTAMP="ts");\n')


def install_all(root: Path, zips: dict[str, Path]) -> PluginManager:
    """Install every example zip into `root` through the service layer."""
    manager = PluginManager(root, registry=default_registry, register=False)
    for _src, ptype, name in EXAMPLE_PLUGINS:
        manager.install(ptype, name, str(zips[name]))
    return manager


def write_inputs(root: Path) -> None:
    (root / "etc" / "sources").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "sources" / "file.yaml").write_text(
        "default:\n  fileType: lines\n  path: data\n")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "words.jsonl").write_text("\n".join(json.dumps(r) for r in WORDS) + "\n")


def write_rules(folder: Path, rules: list[dict[str, Any]], streams: str = STREAM_SQL) -> Path:
    """A folder with `streams.sql` and `rules.json` (what `kuiper run` takes)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "streams.sql").write_text(streams)
    (folder / "rules.json").write_text(json.dumps(rules))
    return folder


def file_action(path: Path, **props: Any) -> dict[str, Any]:
    return {"file": {"path": str(path), "sendSingle": True, **props}}


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def kuiper_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m kuiper.cli.main ARGS` in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("KUIPER_ROOT", None)
    return subprocess.run([sys.executable, "-m", "kuiper.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def kuiper_popen(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("KUIPER_ROOT", None)
    return subprocess.Popen([sys.executable, "-m", "kuiper.cli.main", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
