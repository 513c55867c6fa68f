"""The nop sink: accepts results and discards them (throughput tests); never builds rows."""
from __future__ import annotations

from typing import Any

from kuiper.api import Batch, Context, Sink
from kuiper.runtime.registry import register_sink


@register_sink("nop")
class NopSink(Sink):
    """Counts what it receives: `rows` and `batches`."""

    def __init__(self) -> None:
        self.rows = 0
        self.batches = 0

    def collect_batch(self, ctx: Context, batch: Batch) -> None:
        self.rows += batch.n
        self.batches += 1

    def collect(self, ctx: Context, data: Any) -> None:
        self.rows += len(data) if isinstance(data, list) else 1
