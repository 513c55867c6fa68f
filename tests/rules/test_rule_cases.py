"""Data-driven rule tests: each case in cases/*.yaml is SQL + input + expected emissions + metrics.

Every case runs a real rule end to end on file input, the way `kuiper run` does: the input events
are written one JSON document per line, a stream .sql and a rule .json are written next to them,
and `kuiper.cli.run.run_paths` runs the rule to the end of the file. The file sink's output
(one JSON emission per line) is compared with `expected`, and `expected_metrics` with the rule's
metrics. A second test drives three cases and a bad statement through the console script.

Case keys (see cases/projection.yaml for the common ones, cases/errors.yaml for the rest):
  name, stream, sql, input, expected           required (expected may be [] and is omitted
                                               when expect_error is given)
  options                                      rule options
  sink                                         extra file-sink properties (sendSingle, fields, ...)
  expected_metrics                             {"[kind_]metric": n | ">=n"} summed over the nodes:
                                               kind is source/op/sink or an operator name
                                               (filter, project, ...); no kind = every node
  datasource, log_contains, expect_error       bad-input cases
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

CASES_DIR = Path(__file__).parent / "cases"
RULE_ID = "r"
INPUT_NAME = "input.jsonl"
OUTPUT_NAME = "out.jsonl"
RUN_TIMEOUT_S = 60
CLI_CASES = ("filter_project_basic", "star_replace", "malformed_json_line_in_the_middle")

CASE_KEYS = {
    "name",
    "stream",
    "sql",
    "options",
    "sink",
    "input",
    "expected",
    "expected_metrics",
    "datasource",
    "log_contains",
    "expect_error",
}
METRIC_NAMES = (
    "records_in_total",
    "records_out_total",
    "exceptions_total",
    "messages_processed_total",
    "process_latency_us",
    "buffer_length",
)
NODE_KINDS = ("source", "op", "sink")


# ---------------------------------------------------------------------------------------------
# Loading


def load_cases() -> list[dict[str, Any]]:
    """Every case of every cases/*.yaml file, in file then document order."""
    cases: list[dict[str, Any]] = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        docs = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        for case in docs:
            case["_file"] = path.name
            cases.append(case)
    return cases


ALL_CASES = load_cases()


def case_param(case: dict[str, Any]) -> Any:
    return pytest.param(case, id=case["name"])


# ---------------------------------------------------------------------------------------------
# Writing a case to disk


def with_datasource(stream_sql: str, datasource: str) -> str:
    """Put DATASOURCE="<file>" first in the WITH (...) clause unless the stream already has one."""
    if re.search(r"\bDATASOURCE\s*=", stream_sql, re.IGNORECASE):
        return stream_sql
    match = re.search(r"\bWITH\s*\(", stream_sql, re.IGNORECASE)
    if match is None:
        raise ValueError(f"stream statement has no WITH (...) clause: {stream_sql}")
    return f'{stream_sql[: match.end()]}DATASOURCE="{datasource}", {stream_sql[match.end() :]}'


def input_line(event: Any) -> str:
    """A string event is written raw (malformed lines); anything else as compact JSON."""
    if isinstance(event, str):
        return event
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def write_case(case: dict[str, Any], root: Path) -> tuple[Path, Path, Path]:
    """Write input, source config, stream .sql and rule .json under root; return (sql, rule, out)."""
    datasource = case.get("datasource", INPUT_NAME)
    if "datasource" not in case:
        lines = [input_line(e) for e in case.get("input") or []]
        (root / INPUT_NAME).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")

    sources = root / "etc" / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    file_conf = {"default": {"fileType": "lines", "path": str(root)}}
    (sources / "file.yaml").write_text(yaml.safe_dump(file_conf), encoding="utf-8")

    stream_sql = with_datasource(case["stream"].strip().rstrip(";"), datasource)
    sql_path = root / "stream.sql"
    sql_path.write_text(stream_sql + ";\n", encoding="utf-8")

    out_path = root / OUTPUT_NAME
    sink = {"path": str(out_path), "fileType": "lines", **(case.get("sink") or {})}
    rule = {"id": RULE_ID, "sql": case["sql"], "actions": [{"file": sink}]}
    if case.get("options"):
        rule["options"] = case["options"]
    rule_path = root / "rule.json"
    rule_path.write_text(json.dumps(rule, indent=2, ensure_ascii=False), encoding="utf-8")
    return sql_path, rule_path, out_path


def read_emissions(out_path: Path) -> list[Any]:
    if not out_path.exists():
        return []
    text = out_path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# Comparing


def same_value(actual: Any, expected: Any, path: str = "$") -> str | None:
    """None when equal; else where they differ. Numbers compare by value (1 == 1.0), bools are
    never numbers, floats allow only a last-bit difference, key sets must match exactly."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        if isinstance(expected, bool) and isinstance(actual, bool) and actual == expected:
            return None
        return f"{path}: expected {expected!r}, got {actual!r}"
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        if actual == expected or math.isclose(actual, expected, rel_tol=1e-12, abs_tol=0.0):
            return None
        return f"{path}: expected {expected!r}, got {actual!r}"
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(actual) != set(expected):
            missing = sorted(set(expected) - set(actual))
            extra = sorted(set(actual) - set(expected))
            return f"{path}: keys differ (missing {missing}, unexpected {extra})"
        for key in expected:
            diff = same_value(actual[key], expected[key], f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return f"{path}: expected {len(expected)} items, got {len(actual)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            diff = same_value(a, e, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if type(actual) is type(expected) and actual == expected:
        return None
    return f"{path}: expected {expected!r}, got {actual!r}"


def metric_keys(metrics: dict[str, Any], key: str) -> list[str]:
    """The metric keys that an expected_metrics key stands for (see the module docstring)."""
    if key in metrics:
        return [key]
    metric = next((m for m in METRIC_NAMES if key == m or key.endswith("_" + m)), None)
    if metric is None:
        raise ValueError(f"unknown metric in expected_metrics: {key}")
    prefix = key[: -len(metric)].rstrip("_")
    candidates = [k for k in metrics if k.endswith("_" + metric)]
    if not prefix:
        return candidates
    if prefix in NODE_KINDS:
        return [k for k in candidates if k.startswith(prefix + "_")]
    return [k for k in candidates if k.startswith("op_") and f"_{prefix}_" in k]


def check_metrics(metrics: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    problems = []
    for key, want in expected.items():
        keys = metric_keys(metrics, key)
        if not keys:
            problems.append(f"{key}: no matching metric among {sorted(metrics)}")
            continue
        got = sum(int(metrics[k] or 0) for k in keys)
        if isinstance(want, str) and want.startswith(">="):
            ok = got >= int(want[2:])
        else:
            ok = got == int(want)
        if not ok:
            detail = ", ".join(f"{k}={metrics[k]}" for k in keys)
            problems.append(f"{key}: expected {want}, got {got} ({detail})")
    return problems


# ---------------------------------------------------------------------------------------------
# Running


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail a rule that never finishes instead of hanging the suite (POSIX main thread only)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the rule did not finish within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def engine_run_paths() -> Any:
    try:
        module = importlib.import_module("kuiper.cli.run")
    except ImportError as err:  # the engine has not landed yet
        pytest.fail(f"kuiper.cli.run is not importable: {err}")
    return module.run_paths


def error_class(name: str) -> type[BaseException]:
    import kuiper.errors

    return getattr(kuiper.errors, name)


@pytest.mark.parametrize("case", [case_param(c) for c in ALL_CASES])
def test_rule_case(case: dict[str, Any], tmp_path: Path, caplog: Any, capfd: Any) -> None:
    run_paths = engine_run_paths()
    sql_path, rule_path, out_path = write_case(case, tmp_path)
    caplog.set_level("INFO")

    if "expect_error" in case:
        want = case["expect_error"]
        with time_limit(RUN_TIMEOUT_S), pytest.raises(error_class(want["type"])) as raised:
            run_paths([str(sql_path), str(rule_path)], root=str(tmp_path))
        err = raised.value
        if "line" in want:
            assert getattr(err, "line", None) == want["line"], f"line of {err!r}"
            assert getattr(err, "column", 0) > 0, f"column of {err!r}"
        if "contains" in want:
            assert want["contains"] in str(err)
        return

    with time_limit(RUN_TIMEOUT_S):
        all_metrics = run_paths([str(sql_path), str(rule_path)], root=str(tmp_path))

    emissions = read_emissions(out_path)
    diff = same_value(emissions, case["expected"])
    assert diff is None, (
        f"{case['_file']}::{case['name']}: {diff}\n"
        f"  expected: {json.dumps(case['expected'], ensure_ascii=False)}\n"
        f"  actual:   {json.dumps(emissions, ensure_ascii=False)}"
    )

    if case.get("expected_metrics"):
        assert RULE_ID in all_metrics, f"no metrics for rule {RULE_ID}: {all_metrics!r}"
        problems = check_metrics(all_metrics[RULE_ID], case["expected_metrics"])
        assert not problems, "metrics: " + "; ".join(problems)

    if case.get("log_contains"):
        captured = capfd.readouterr()
        logged = caplog.text + captured.out + captured.err
        assert case["log_contains"] in logged, f"log does not mention {case['log_contains']!r}"


# ---------------------------------------------------------------------------------------------
# The console script


def kuiper_command() -> list[str]:
    return [sys.executable, "-m", "kuiper.cli.main"]


def run_cli(args: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [*kuiper_command(), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


@pytest.mark.parametrize("case", [case_param(c) for c in ALL_CASES if c["name"] in CLI_CASES])
def test_rule_case_through_cli(case: dict[str, Any], tmp_path: Path) -> None:
    engine_run_paths()
    sql_path, rule_path, out_path = write_case(case, tmp_path)
    done = run_cli(["run", str(sql_path), str(rule_path), "--root", str(tmp_path)], tmp_path)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    emissions = read_emissions(out_path)
    diff = same_value(emissions, case["expected"])
    assert diff is None, f"{diff}\n  actual: {json.dumps(emissions)}"


def test_bad_sql_through_cli(tmp_path: Path) -> None:
    engine_run_paths()
    case = next(c for c in ALL_CASES if c["name"] == "bad_sql_is_a_parse_error")
    sql_path, rule_path, _ = write_case(case, tmp_path)
    done = run_cli(["run", str(sql_path), str(rule_path), "--root", str(tmp_path)], tmp_path)
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert "line 2" in message, message
    assert "Traceback" not in message, message


# ---------------------------------------------------------------------------------------------
# The table itself (runs without the engine)


def test_case_table_is_well_formed() -> None:
    names = [c.get("name") for c in ALL_CASES]
    assert all(names), "every case needs a name"
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"duplicate case names: {duplicates}"
    for case in ALL_CASES:
        unknown = set(case) - CASE_KEYS - {"_file"}
        assert not unknown, f"{case['name']}: unknown keys {sorted(unknown)}"
        for key in ("stream", "sql", "input"):
            assert key in case, f"{case['name']}: missing {key}"
        assert ("expected" in case) != ("expect_error" in case), (
            f"{case['name']}: needs exactly one of expected / expect_error"
        )
        if "expected" in case:
            single = bool((case.get("sink") or {}).get("sendSingle"))
            for emission in case["expected"]:
                kind = dict if single else list
                assert isinstance(emission, kind), (
                    f"{case['name']}: with sendSingle={single} an emission is a {kind.__name__}"
                )
        for metric in case.get("expected_metrics") or {}:
            assert any(metric == m or metric.endswith("_" + m) for m in METRIC_NAMES), metric
    rule_cases = [c for c in ALL_CASES if c["_file"] != "errors.yaml"]
    assert len(rule_cases) >= 40, f"only {len(rule_cases)} non-error rule cases"
