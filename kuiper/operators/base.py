"""The operator protocol: a pure Batch -> Batch transform with optional timers and end-of-input."""
from __future__ import annotations

from typing import Any

import numpy as np

from kuiper.api.batch import Batch
from kuiper.expr.ops import RowErrors


class Operator:
    """One step of a rule's pipeline. Pure: no IO, no asyncio, no sqlglot.

    `name` is eKuiper's stable op name ("2_filter", "3_project"), used in metrics
    (`op_2_filter_0_records_in_total`), explain output and tests.

    Expressions can fail on single rows (division by zero, a bad type in a schemaless field):
    such rows are dropped from the output and reported through `report_errors`; the runtime
    calls `take_errors()` after each call, counts them as exceptions and logs them (or sends
    them to the sinks with the rule option sendError).
    """

    name: str = "op"
    _row_errors: list[tuple[int, str]] | None = None
    _positioned: list[tuple[Any, np.ndarray, str]] | None = None

    def process(self, batch: Batch) -> Batch | None:
        """Transform one batch; None (or an empty batch) means nothing goes downstream."""
        return batch

    def on_time(self, now_ms: int) -> Batch | None:
        """Called by the runtime's clock for operators with timers (windows)."""
        return None

    def finish(self) -> Batch | None:
        """End of input: flush whatever is held (open windows close)."""
        return None

    @property
    def needs_timer(self) -> bool:
        return False

    def report_errors(self, count: int, messages: list[str]) -> None:
        if count:
            if self._row_errors is None:
                self._row_errors = []
            self._row_errors.append((count, "; ".join(dict.fromkeys(messages))))

    def report_row_errors(self, rows: RowErrors | list[tuple[int, str]], kept: np.ndarray,
                          prefix: str = "") -> None:
        """Rows that failed (a RowErrors, or (row, message) pairs), each with its own message
        (`prefix` + error), placed in the output: a failed input row i goes before the output
        row that follows it (`kept` marks the input rows that reach the output), so with
        sendError the sinks get rows and errors in input order, as eKuiper (which runs each
        event through the whole rule) sends them. Kept as given until `take_row_errors`."""
        if self._positioned is None:
            self._positioned = []
        self._positioned.append((rows, kept, prefix))

    def take_row_errors(self, expand: bool = True) -> list[tuple[int, str]]:
        """(output position, message) for each failed row since the last call; `expand=False`
        forgets them without building the list (sendError off)."""
        pending, self._positioned = self._positioned or [], None
        if not expand:
            return []
        out: list[tuple[int, str]] = []
        for rows, kept, prefix in pending:
            pairs = rows.row_messages() if not isinstance(rows, list) else rows
            before = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)])
            out += [(int(before[i]), prefix + msg) for i, msg in pairs]
        return out

    def take_errors(self) -> list[tuple[int, str]]:
        """(rows failed, message) pairs since the last call."""
        errs = self._row_errors or []
        self._row_errors = None
        return errs

