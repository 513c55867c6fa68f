"""Data-driven tests of every built-in scalar function: tests/unit/functions/cases/*.yaml.

Each file maps a function name to its `signature` and `cases`. A case has `args` (literal
values; `{$datetime: ms}` is a datetime, `!!binary` a bytea) and one of:
  want        the result (compared by value and Python type; floats approximately), with an
              optional `kind` (the result column's kind);
  match       a regular expression the result's text must match (clocks, random values);
  error       the start of the row error (after "call func NAME error: ");
  plan_error  the plan-time error for these arguments given as literals (`FunctionDef.check`).
Other cases are checked at plan time as field arguments (`ArgRef`), or all as literals with
`literal: true`.
Every case runs on 1-row columns; the `want` and `error` cases of a function also run together
as one batch through the compiled `Call` node, so the vectorized path gives the same values
and a failing row is counted while the other rows go on. The first `want` case is the
example docs/functions.md shows.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fnhelpers import same

from kuiper.api.batch import DATETIME, Batch, Column, kind_of
from kuiper.errors import EvalError
from kuiper.expr import nodes as n
from kuiper.functions.registry import LITERAL, ArgRef, default_registry, lookup
from kuiper.functions.timeutil import set_timezone

CASES_DIR = Path(__file__).parent / "cases"
DOCS = Path(__file__).parents[3] / "docs" / "functions.md"


def _load() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for name, spec in (yaml.safe_load(path.read_text()) or {}).items():
            assert name not in out, f"{name} is in two case files"
            spec["cases"] = spec.get("cases") or []
            out[name] = spec
    return out


FUNCS = _load()
CASES = [(name, i, case) for name, spec in FUNCS.items() for i, case in enumerate(spec["cases"])]


@pytest.fixture(autouse=True)
def utc() -> Any:
    set_timezone("UTC")
    yield
    set_timezone("UTC")


def _column(value: Any, rows: int = 1) -> Column:
    if isinstance(value, dict) and set(value) == {"$datetime"}:
        return Column.from_values([value["$datetime"]] * rows, DATETIME)
    return Column.from_values([value] * rows)


def _plan_args(fdef: Any, args: list[Any], literal: bool) -> list[Any]:
    """The arguments as the planner sees them: a row's values come from fields (`ArgRef`),
    except for literal-only parameters; `literal` passes every argument as a literal."""
    out: list[Any] = []
    for i, value in enumerate(args):
        if isinstance(value, dict) and set(value) == {"$datetime"}:
            out.append(ArgRef(DATETIME))
        elif literal or (i < len(fdef.arg_modes) and fdef.arg_modes[i] == LITERAL):
            out.append(value)
        else:
            out.append(ArgRef())
    return out


def _run(name: str, args: list[Any]) -> Column:
    fdef = lookup(name)
    assert fdef is not None, f"{name} is not registered"
    out = fdef.exec_batch([_column(a) for a in args], 1, None)
    assert len(out) == 1
    return out


@pytest.mark.parametrize("name,i,case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_case(name: str, i: int, case: dict[str, Any]) -> None:
    fdef = lookup(name)
    assert fdef is not None, f"{name} is not registered"
    args = case.get("args", [])
    checked = fdef.check(_plan_args(fdef, args, "plan_error" in case or case.get("literal", False)))
    if "plan_error" in case:
        assert checked == case["plan_error"]
        return
    assert checked is None, f"{name}{tuple(args)}: unexpected plan error {checked}"
    if "error" in case:
        with pytest.raises(EvalError) as err:
            _run(name, args)
        prefix = f"call func {name} error: {case['error']}"
        assert str(err.value).startswith(prefix), f"{err.value} does not start with {prefix}"
        return
    out = _run(name, args)
    got = out.to_pylist()[0]
    if "match" in case:
        assert re.fullmatch(case["match"], str(got)), f"{name}{tuple(args)}: got {got!r}"
        return
    assert same([got], [case["want"]]), f"{name}{tuple(args)}: got {got!r}, want {case['want']!r}"
    if "kind" in case:
        assert out.kind == case["kind"], f"{name}: kind {out.kind}, want {case['kind']}"


class _Given(n.Node):
    """A compiled node that yields a prepared column (an argument of the batch test)."""

    def __init__(self, col: Column) -> None:
        self.col = col

    def eval(self, ec: n.EvalContext) -> Column:
        return self.col


BATCHED = [name for name, spec in FUNCS.items()
           if any("want" in c or "error" in c for c in spec["cases"])]


def _arg_kind(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"$datetime"}:
        return DATETIME
    return "null" if value is None else kind_of(value)


@pytest.mark.parametrize("name", BATCHED)
def test_cases_as_one_batch(name: str) -> None:
    """The rows of a function's cases with the same argument kinds, run as one batch of typed
    columns: the same values, and an error row is counted (its value null) while the other
    rows keep theirs."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for case in FUNCS[name]["cases"]:
        if ("want" in case or "error" in case) and case.get("args"):
            key = tuple(_arg_kind(a) for a in case["args"])
            groups.setdefault(key, []).append(case)
    fdef = lookup(name)
    for key, cases in groups.items():
        rows = len(cases)
        cols = []
        for j, kind in enumerate(key):
            values = [c["args"][j] for c in cases]
            if kind == DATETIME:
                values = [v["$datetime"] for v in values]
            cols.append(Column.from_values(values, DATETIME if kind == DATETIME else None))
        call = n.Call(name, fdef, [_Given(c) for c in cols])
        ec = n.EvalContext(Batch({}, rows))
        got = call.eval(ec).to_pylist()
        want_failed = [("error" in c) for c in cases]
        mask = ec.errors.mask if ec.errors.mask is not None else np.zeros(rows, dtype=np.bool_)
        assert mask.tolist() == want_failed, f"{name} {key}: failed rows {mask.tolist()}"
        for r, case in enumerate(cases):
            if "error" in case:
                assert got[r] is None, f"{name} row {r}: {got[r]!r} for an error row"
            else:
                assert same([got[r]], [case["want"]]), (
                    f"{name} row {r} {case['args']}: got {got[r]!r}, want {case['want']!r}")


def test_every_builtin_has_cases() -> None:
    missing = [name for name in default_registry.names() if name not in FUNCS]
    assert not missing, f"functions without cases: {missing}"
    for name, spec in FUNCS.items():
        assert spec.get("signature"), f"{name} has no signature"
        assert any("want" in c or "match" in c for c in spec["cases"]), f"{name} has no example"


def test_docs_list_every_case_file_function() -> None:
    text = DOCS.read_text()
    missing = [name for name in FUNCS if f"`{name}`" not in text]
    assert not missing, f"docs/functions.md does not list {missing}"


def test_docs_list_every_builtin_aggregate_and_analytic_function() -> None:
    from kuiper.functions.aggregates import AGGREGATES
    from kuiper.operators.analytic import ANALYTIC_FUNCS

    text = DOCS.read_text()
    names = [*default_registry.names(), *AGGREGATES, *ANALYTIC_FUNCS, "rule_id", "rule_start",
             "window_start", "window_end", "meta", "mqtt"]
    missing = [name for name in names if f"`{name}`" not in text and f"`{name} " not in text]
    assert not missing, f"docs/functions.md does not list {missing}"
