"""Event time without a window: rows go on in timestamp order once the watermark passes them."""
from __future__ import annotations

import numpy as np

from kuiper.api.batch import Batch
from kuiper.operators.base import Operator
from kuiper.operators.window import event_timestamps
from kuiper.operators.window_buffer import END_OF_TIME, RowBuffer, Watermark


class WatermarkOp(Operator):
    """eKuiper's watermark operator (internal/topo/node/watermark_op.go) for an `isEventTime`
    rule without a window: a row whose TIMESTAMP field is older than the watermark (the latest
    event time minus `lateTolerance`) is late, dropped and counted; the others wait until the
    watermark reaches them and leave sorted by event time. The end of a bounded input releases
    what is still waiting."""

    def __init__(self, name: str, timestamp_field: str, late_tolerance_ms: int) -> None:
        self.name = name
        self.timestamp_field = timestamp_field
        self.watermark = Watermark(late_tolerance_ms, 1)
        self.buffer = RowBuffer()

    @property
    def late_rows_total(self) -> int:
        return self.watermark.late_rows_total

    def metrics(self) -> dict[str, int]:
        return {"late_rows_total": self.late_rows_total, "buffered_rows": len(self.buffer)}

    def state_size(self) -> int:
        return len(self.buffer)

    def process(self, batch: Batch) -> Batch | None:
        if batch.n == 0:
            return None
        batch = event_timestamps(batch, self.timestamp_field)
        keep = self.watermark.admit(batch.timestamps)
        if keep is not None:
            batch = batch.filter(keep)
        self.buffer.append(batch)
        return self._release(self.watermark.value)

    def finish(self) -> Batch | None:
        return self._release(END_OF_TIME)

    def _release(self, upto: int) -> Batch | None:
        if not len(self.buffer):
            return None
        rows = self.buffer.rows()
        ready = int(np.searchsorted(rows.timestamps, upto, side="right"))
        if ready == 0:
            return None
        self.buffer.keep_from(ready)
        return rows.slice(0, ready)
