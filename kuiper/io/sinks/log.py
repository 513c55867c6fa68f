"""The log sink: writes each result message to the log (debugging)."""
from __future__ import annotations

import logging
from typing import Any

from kuiper.api import Context, Sink
from kuiper.runtime.registry import register_sink

#: the results logger; `kuiper run` shows it at INFO whatever the verbosity
results_log = logging.getLogger("kuiper.sink.log")


@register_sink("log")
class LogSink(Sink):
    """Logs `sink result for rule {id}: {json}` at INFO for every message."""

    accepts_bytes = True

    def collect(self, ctx: Context, data: Any) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        results_log.info("sink result for rule %s: %s", ctx.get_rule_id(), text)
