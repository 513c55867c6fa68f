"""Per-node metrics under eKuiper's names and keys, and a rule's status document."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

METRIC_NAMES = (
    "records_in_total",
    "records_out_total",
    "process_latency_us",
    "buffer_length",
    "last_invocation",
    "exceptions_total",
    "last_exception",
    "last_exception_time",
)


def _stamp(epoch_s: float) -> str:
    """eKuiper prints times as Go's time.Time: 2006-01-02T15:04:05.999999."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


class NodeMetrics:
    """Counters of one node instance. `kind` is source, op or sink; the key prefix is
    `{kind}_{name}_{instance}_` as in eKuiper (`source_demo_0_`, `op_2_filter_0_`,
    `sink_log_0_0_` where the sink's name is `{type}_{action index}`)."""

    __slots__ = (
        "kind", "name", "instance", "records_in_total", "records_out_total",
        "process_latency_us", "last_invocation_s", "exceptions_total", "last_exception",
        "last_exception_s", "dropped_total", "track_drops", "buffer_length_fn",
    )

    def __init__(self, kind: str, name: str, instance: int = 0, *, track_drops: bool = False):
        self.kind = kind
        self.name = name
        self.instance = instance
        self.records_in_total = 0
        self.records_out_total = 0
        self.process_latency_us = 0
        self.last_invocation_s = 0.0
        self.exceptions_total = 0
        self.last_exception = ""
        self.last_exception_s = 0.0
        self.dropped_total = 0
        self.track_drops = track_drops
        self.buffer_length_fn: Any = None

    @property
    def prefix(self) -> str:
        return f"{self.kind}_{self.name}_{self.instance}_"

    def invoked(self) -> None:
        self.last_invocation_s = time.time()

    def exception(self, error: BaseException | str) -> None:
        self.exceptions_total += 1
        self.last_exception = str(error)
        self.last_exception_s = time.time()

    def dropped(self, rows: int) -> None:
        self.dropped_total += rows

    @property
    def buffer_length(self) -> int:
        return int(self.buffer_length_fn()) if self.buffer_length_fn is not None else 0

    def values(self) -> dict[str, Any]:
        """Metric name -> value (without the node prefix)."""
        out: dict[str, Any] = {
            "records_in_total": self.records_in_total,
            "records_out_total": self.records_out_total,
            "process_latency_us": self.process_latency_us,
            "buffer_length": self.buffer_length,
            "last_invocation": _stamp(self.last_invocation_s) if self.last_invocation_s else 0,
            "exceptions_total": self.exceptions_total,
            "last_exception": self.last_exception,
            "last_exception_time": _stamp(self.last_exception_s) if self.last_exception_s else 0,
        }
        if self.track_drops or self.dropped_total:
            out["dropped_total"] = self.dropped_total
        return out

    def to_dict(self) -> dict[str, Any]:
        """Flat eKuiper keys: `source_demo_0_records_in_total` -> value."""
        p = self.prefix
        return {p + k: v for k, v in self.values().items()}


STOPPED_BY_ERROR = "stopped by error"  # eKuiper v2's name of a rule that failed


@dataclass(slots=True)
class RuleStatus:
    """What `GET /rules/{id}/status` returns: the state, its times and every node's metrics.

    `status` is the runner's state; the document shows eKuiper v2's names: `running`,
    `stopped`, and `stopped by error` for a failed rule (also while it waits to restart:
    `nextStartTimestamp` is then the time of the next attempt, else 0)."""

    status: str
    nodes: list[NodeMetrics] = field(default_factory=list)
    message: str = ""
    last_start_ms: int = 0
    last_stop_ms: int = 0
    next_stop_ms: int = 0
    next_start_ms: int = 0
    restarts: int = 0  # restarts after failures since the rule was started

    @property
    def state_name(self) -> str:
        return STOPPED_BY_ERROR if self.status == "error" else self.status

    def brief(self) -> str:
        """GET /rules' status text: `running`, `stopped: <why>`, `stopped by error: <error>`."""
        name = self.state_name
        return f"{name}: {self.message}" if self.message and name != "running" else name

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for node in self.nodes:
            out.update(node.to_dict())
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.state_name, "message": self.message}
        out["lastStartTimestamp"] = self.last_start_ms
        out["lastStopTimestamp"] = self.last_stop_ms
        out["nextStartTimestamp"] = self.next_start_ms
        out["nextStopTimestamp"] = self.next_stop_ms
        if self.restarts:
            out["restarts"] = self.restarts
        out.update(self.metrics())
        return out
