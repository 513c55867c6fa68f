"""The 20 most used built-in functions over 1,000,000-row columns: vectorized vs per-row Python.

For each function it prints the vectorized form (the registry's `exec_batch` over the whole
column, as a rule runs it) and the per-row form (a plain Python function called once per row,
with eKuiper's null handling: what a row-at-a-time engine does), in ns per row, and the ratio.

Run: PYTHONPATH=. python benchmarks/bench_functions.py [--rows 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from kuiper.api.batch import Column
from kuiper.functions.registry import lookup


def _null(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The per-row form: nil in, nil out."""
    return lambda *a: None if any(v is None for v in a) else fn(*a)


def _round(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


def _log10(x: float) -> float | None:
    return math.log10(x) if x > 0 else None


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


# name -> (argument builder key, constant extra args, per-row form)
CASES: list[tuple[str, str, tuple[Any, ...], Callable[..., Any]]] = [
    ("abs", "float", (), _null(abs)),
    ("round", "float", (), _null(_round)),
    ("floor", "float", (), _null(lambda x: float(math.floor(x)))),
    ("ceil", "float", (), _null(lambda x: float(math.ceil(x)))),
    ("sqrt", "float", (), _null(lambda x: math.sqrt(x) if x >= 0 else None)),
    ("power", "float", (2,), _null(lambda x, y: math.pow(x, y))),
    ("mod", "int", (7,), _null(lambda x, y: math.fmod(x, y))),
    ("log", "float", (), _null(_log10)),
    ("sin", "float", (), _null(math.sin)),
    ("sign", "float", (), _null(_sign)),
    ("cast", "float", ("bigint",), _null(lambda x, t: int(x))),
    ("isnull", "float", (), lambda x: x is None),
    ("coalesce", "float", (0.0,), lambda x, d: d if x is None else x),
    ("lower", "string", (), _null(str.lower)),
    ("upper", "string", (), _null(str.upper)),
    ("length", "string", (), lambda s: 0 if s is None else len(s)),
    ("trim", "string", (), _null(str.strip)),
    ("startswith", "string", ("Dev",), lambda s, p: s is not None and s.startswith(p)),
    ("indexof", "string", ("-1",), lambda s, p: -1 if s is None else s.find(p)),
    ("concat", "string", ("/x",), lambda s, x: ("" if s is None else s) + x),
]


def columns(rows: int) -> dict[str, tuple[Column, list[Any]]]:
    """Argument columns (10% nulls) and the same values as a Python list."""
    rng = np.random.default_rng(7)
    valid = rng.random(rows) > 0.1
    floats = rng.uniform(-100, 100, rows)
    ints = rng.integers(-1000, 1000, rows)
    r = random.Random(7)
    strings = np.array([f" Device-{r.randrange(1_000_000)} " for _ in range(rows)], dtype=object)
    out: dict[str, tuple[Column, list[Any]]] = {}
    for key, kind, vals in (("float", "float", floats), ("int", "bigint", ints),
                            ("string", "string", strings)):
        col = Column(kind, vals, valid)
        out[key] = (col, col.to_pylist())
    return out


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    ns = parser.parse_args()
    rows = ns.rows
    data = columns(rows)
    print(f"{rows:,} rows, best of {ns.repeat}")
    print(f"{'function':<12}{'vectorized ns/row':>20}{'per-row ns/row':>18}{'speed-up':>10}")
    for name, key, extra, per_row in CASES:
        col, values = data[key]
        fdef = lookup(name)
        assert fdef is not None, name
        args = [col] + [Column.constant(x, rows) for x in extra]
        vec = best(lambda: fdef.exec_batch(args, rows, None), ns.repeat)  # noqa: B023
        row = best(lambda: [per_row(v, *extra) for v in values], ns.repeat)  # noqa: B023
        print(f"{name:<12}{vec / rows * 1e9:>20.1f}{row / rows * 1e9:>18.1f}{row / vec:>9.1f}x")


if __name__ == "__main__":
    main()
