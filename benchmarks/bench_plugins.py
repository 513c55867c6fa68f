"""Per-row cost of a compiled function plugin called from a rule, vectorized and row-wise.

Builds two Cython plugins from the same source (`toF(x) = x * 1.8 + 32`): `toF` with
`exec_batch` (a typed loop over the float column) and `toFRows` with `exec` only, installs them
into a temporary root, plans `SELECT toF(temperature) AS f FROM demo` (and the same rule with
`toFRows`, and `SELECT temperature AS f FROM demo` as the baseline), binds the call sites'
contexts as the runtime does, then feeds 1,000,000 pre-decoded rows in batches of 8192 to the
ProjectOp. The plugin's cost per row is the rule's time minus the baseline's (best of N runs).

    python benchmarks/bench_plugins.py [--rows 1000000] [--batch 8192] [--repeat 5]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SOURCE = '''# cython: language_level=3
"""{doc}"""
cimport cython
import numpy as np
from kuiper.api import Column, Function


@cython.boundscheck(False)
@cython.wraparound(False)
cdef void _to_f(const double[:] src, double[:] dst) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(src.shape[0]):
        dst[i] = src[i] * 1.8 + 32.0


class {symbol}(Function):
    def validate(self, args):
        return None if len(args) == 1 else "toF takes 1 argument"

    def exec(self, args, ctx):
        x = args[0]
        return None if x is None else x * 1.8 + 32.0
{batch}'''

BATCH = '''
    def exec_batch(self, columns, ctx):
        col = columns[0]
        values = np.ascontiguousarray(col.values, dtype=np.float64)
        out = np.empty(len(values), dtype=np.float64)
        _to_f(values, out)
        return Column("float", out, col.valid)
'''


def build(work: Path) -> Path:
    """A root with `toF` (vectorized) and `toFRows` (row-wise) installed."""
    from kuiper.functions.registry import default_registry
    from kuiper.plugins.build import build_plugin
    from kuiper.plugins.manager import PluginManager

    root = work / "root"
    manager = PluginManager(root, registry=default_registry, register=False)
    for name, batch in (("toF", BATCH), ("toFRows", "")):
        src = work / f"{name}.pyx"
        src.write_text(SOURCE.format(doc=name, symbol=name[0].upper() + name[1:], batch=batch))
        manager.install("functions", name, str(build_plugin(src, "functions", name, "1.0.0",
                                                            None, work / f"{name}.zip")))
    return root


def project_op(sql: str, root: Path):  # noqa: ANN201
    """The rule's ProjectOp with its call sites bound to FunctionContexts."""
    from kuiper import sql as ksql
    from kuiper.catalog.catalog import Catalog
    from kuiper.catalog.defs import RuleDef
    from kuiper.planner.build import plan_rule
    from kuiper.runtime.context import bind_function_contexts
    from kuiper.state.extension_state import RuleExtensionState

    catalog = Catalog()
    catalog.add_stream(ksql.parse(
        'CREATE STREAM demo (temperature FLOAT) WITH (TYPE="memory", DATASOURCE="t")').definition)
    plan = plan_rule(RuleDef.from_json({"id": "bench", "sql": sql, "actions": [{"nop": {}}]}),
                     catalog)
    op = plan.operators[-1]
    bind_function_contexts(plan.operators, RuleExtensionState("bench"), str(root))
    return op


def time_rule(op, batches: list, repeat: int) -> float:  # noqa: ANN001
    """Best seconds to process every batch."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for batch in batches:
            op.process(batch)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from kuiper.api import Batch, Column
    from kuiper.cli.run import extensions

    rng = np.random.default_rng(1)
    values = rng.normal(25.0, 5.0, args.rows)
    batches = [Batch({"temperature": Column("float", values[i:i + args.batch])},
                     len(values[i:i + args.batch]))
               for i in range(0, args.rows, args.batch)]
    with tempfile.TemporaryDirectory(prefix="kuiper-bench-plugins-") as tmp:
        t0 = time.perf_counter()
        root = build(Path(tmp))
        print(f"built 2 plugins in {time.perf_counter() - t0:.1f} s")
        with extensions(str(root)):
            base = project_op("SELECT temperature AS f FROM demo", root)
            vec = project_op("SELECT toF(temperature) AS f FROM demo", root)
            rows = project_op("SELECT toFRows(temperature) AS f FROM demo", root)
            out = vec.process(batches[0]).columns["f"].values
            assert np.allclose(out, batches[0].columns["temperature"].values * 1.8 + 32)
            assert np.allclose(rows.process(batches[0]).columns["f"].values, out)
            t_base = time_rule(base, batches, args.repeat)
            t_vec = time_rule(vec, batches, args.repeat)
            t_rows = time_rule(rows, batches, max(1, min(args.repeat, 3)))
    n = args.rows
    per_vec = (t_vec - t_base) / n * 1e6
    per_rows = (t_rows - t_base) / n * 1e6
    print(f"{n:,} rows in batches of {args.batch} (best of {args.repeat})")
    print(f"  baseline  SELECT temperature     {t_base * 1e3:9.2f} ms  "
          f"{t_base / n * 1e6:7.4f} us/row")
    print(f"  exec_batch toF(temperature)      {t_vec * 1e3:9.2f} ms  "
          f"plugin {per_vec:7.4f} us/row  ({'under' if per_vec < 0.2 else 'OVER'} the 0.2 us "
          f"target)")
    print(f"  exec       toFRows(temperature)  {t_rows * 1e3:9.2f} ms  "
          f"plugin {per_rows:7.4f} us/row  ({per_rows / max(per_vec, 1e-9):,.0f}x)")


if __name__ == "__main__":
    main()
