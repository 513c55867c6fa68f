"""Data-driven window rules: SQL + timed input + expected emissions, on a manual clock.

The YAML cases are those of operator_cases.py (tests/rules): `stream`, `sql`, `options`,
`input`, `expected` and optional `late_rows`, `end`, `finish`, `plan_error`. Event-time cases
also run with the whole input as one batch: batching must not change results.
"""
from __future__ import annotations

from pathlib import Path

from operator_cases import check_case, parametrize_cases


@parametrize_cases(Path(__file__).parent)
def test_window_case(case: dict) -> None:
    check_case(case)
