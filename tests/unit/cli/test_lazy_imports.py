"""`kuiper run` imports only what its rules use: no server, gRPC, MQTT or protobuf stack for
the quickstart (the connectors are looked up by type name, kuiper/io/__init__.py), no window,
aggregate or analytic operators, sink templates, SQLite or management CLI for a rule without
them, and no YAML parser when the root has no yaml files (observed in sys.modules of a
subprocess)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
HEAVY = ("aiohttp", "grpc", "paho", "google.protobuf", "urllib.request", "kuiper.server",
         "kuiper.io.sinks.mqtt", "kuiper.io.sources.mqtt", "kuiper.io.formats.protobuf",
         "kuiper.external.grpc_client", "redis", "psycopg", "nats")
# loaded only by the rules (sinks, options) that need them
ON_DEMAND = ("kuiper.operators.window", "kuiper.operators.window_state",
             "kuiper.operators.watermark", "kuiper.operators.aggregate",
             "kuiper.functions.aggregates", "kuiper.operators.analytic", "kuiper.planner.join",
             "kuiper.runtime.template", "kuiper.runtime.template_funcs", "sqlite3",
             "kuiper.cli.manage", "kuiper.cli.plugins", "kuiper.plugins.naming")

PROBE = """
import json, sys
from kuiper.cli.main import main
rc = main(["run", *sys.argv[1].split(","), "-q"])
print(json.dumps({"rc": rc, "loaded": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


def _probe(paths: list[Path], modules: tuple[str, ...], cwd: Path) -> tuple[dict[str, Any], str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                    os.environ.get("PYTHONPATH")]))}
    res = subprocess.run([sys.executable, "-c", PROBE, ",".join(map(str, paths)), *modules],
                         capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1]), res.stdout + res.stderr


def test_kuiper_run_quickstart_skips_the_heavy_imports() -> None:
    answer, out = _probe([REPO / "examples" / "quickstart"], HEAVY + ON_DEMAND, REPO)
    assert answer == {"rc": 0, "loaded": []}
    assert "dev-002" in out  # the rule ran: the log sink printed its results


def test_a_plain_rule_without_yaml_files_loads_no_yaml(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"a": 1}\n{"a": -1}\n{"a": 2}\n')
    streams = tmp_path / "streams.sql"
    streams.write_text(f'CREATE STREAM s (a bigint) WITH (DATASOURCE="{data}", TYPE="file", '
                       'FORMAT="json");\n')
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"id": "r", "sql": "SELECT a FROM s WHERE a > 0",
                                "actions": [{"nop": {}}]}))
    answer, out = _probe([streams, rule], ("yaml", *HEAVY, *ON_DEMAND), tmp_path)
    assert answer == {"rc": 0, "loaded": []}
    sink_line = next(line for line in out.splitlines() if line.strip().startswith("sink_nop"))
    assert sink_line.split()[1:3] == ["2", "2"]  # in, out: the rule ran and filtered


def test_the_planner_window_kinds_are_the_operator_constants() -> None:
    from kuiper.operators import window
    from kuiper.planner.window import WINDOW_FUNCS

    kinds = {window.TUMBLING, window.HOPPING, window.SLIDING, window.SESSION, window.COUNT,
             window.STATE}
    assert set(WINDOW_FUNCS.values()) == kinds
    assert all(name == kind + "window" for name, kind in WINDOW_FUNCS.items())


def test_only_the_process_own_command_freezes_the_loaded_objects(tmp_path: Path) -> None:
    """`kuiper run` as a program moves what start-up loaded out of the cycle collector
    (gc.freeze: the collections at exit need not walk it) and leaves the collector on; a call
    from Python freezes nothing."""
    data = tmp_path / "in.jsonl"
    data.write_text('{"a": 1}\n')
    (tmp_path / "s.sql").write_text(f'CREATE STREAM s (a bigint) WITH (DATASOURCE="{data}", '
                                    'TYPE="file", FORMAT="json");\n')
    (tmp_path / "r.json").write_text(json.dumps({"id": "r", "sql": "SELECT a FROM s",
                                                 "actions": [{"nop": {}}]}))
    probe = ("import gc, json, sys\nfrom kuiper.cli.main import main\n"
             "main(['run', 's.sql', 'r.json', '-q'])\ncalled = gc.get_freeze_count()\n"
             "sys.argv = ['kuiper', 'run', 's.sql', 'r.json', '-q']\nmain()\n"
             "print(json.dumps([called, gc.get_freeze_count() > 0, gc.isenabled()]))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                    os.environ.get("PYTHONPATH")]))}
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == [0, True, True]


BLAS_PROBE = """
import ctypes, json, os, sys
sys.argv = ["kuiper", "run", "s.sql", "r.json", "-q"]
from kuiper.cli.main import main
main()
threads = None
maps = open("/proc/self/maps").read().split()
for path in sorted({p for p in maps if "openblas" in p and ".so" in p}):
    lib = ctypes.CDLL(path)
    for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                 "openblas_get_num_threads"):
        if hasattr(lib, name):
            threads = getattr(lib, name)()
print(json.dumps([threads, os.environ.get("OPENBLAS_NUM_THREADS")]))
"""


def test_kuiper_run_loads_openblas_with_one_thread_and_leaves_the_environment(
        tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"a": 1}\n')
    (tmp_path / "s.sql").write_text(f'CREATE STREAM s (a bigint) WITH (DATASOURCE="{data}", '
                                    'TYPE="file", FORMAT="json");\n')
    (tmp_path / "r.json").write_text(json.dumps({"id": "r", "sql": "SELECT a FROM s",
                                                 "actions": [{"nop": {}}]}))
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    res = subprocess.run([sys.executable, "-c", BLAS_PROBE], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    threads, variable = json.loads(res.stdout.strip().splitlines()[-1])
    assert threads in (None, 1)  # None: this numpy uses another BLAS
    assert variable is None  # plugin and service processes inherit the user's environment
