"""The extension contract: Source, LookupSource, Sink, Function and the Context they receive.

Method names follow eKuiper's Python plugin SDK (configure/open/collect/close, validate/exec/
is_aggregate). Each lifecycle is written in the class docstring. Built-in connectors are
written against these classes only, so they double as examples.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from kuiper.api.batch import Batch, Column


class Context:
    """What a running extension instance sees of the engine.

    The runtime passes a concrete subclass. Identity: `get_rule_id()`, `get_op_id()`,
    `get_instance_id()`; `get_root_path()` is the kuiper root (etc/, plugins/, data/), so a
    plugin finds its runtime files under `{root}/etc/{sources|sinks|functions}/{name}/`.

    State is scoped to this instance (rule, operator, instance[, function id]), kept in memory,
    saved with checkpoints and restored when the rule restarts.

    Sources emit through the context. Every `emit*` call is non-blocking and may be called from
    the event loop thread; from another thread use `emit_threadsafe`. An async source should
    `await ctx.drain()` now and then so a slow rule back-pressures it.
    """

    # --- identity ---------------------------------------------------------------------
    def get_logger(self) -> logging.Logger:
        raise NotImplementedError

    def get_rule_id(self) -> str:
        raise NotImplementedError

    def get_op_id(self) -> str:
        raise NotImplementedError

    def get_instance_id(self) -> int:
        raise NotImplementedError

    def get_root_path(self) -> str:
        raise NotImplementedError

    # --- state ------------------------------------------------------------------------
    def put_state(self, key: str, value: Any) -> None:
        raise NotImplementedError

    def get_state(self, key: str) -> Any:
        raise NotImplementedError

    def delete_state(self, key: str) -> None:
        raise NotImplementedError

    def incr_counter(self, key: str, amount: int = 1) -> None:
        raise NotImplementedError

    def get_counter(self, key: str) -> int:
        raise NotImplementedError

    # --- source emission --------------------------------------------------------------
    def emit(self, message: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> None:
        """One decoded row (a tuple source)."""
        raise NotImplementedError

    def emit_rows(
        self,
        messages: Sequence[Mapping[str, Any]],
        metas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Several decoded rows at once."""
        for i, m in enumerate(messages):
            self.emit(m, metas[i] if metas else None)

    def emit_bytes(self, payload: bytes, meta: Mapping[str, Any] | None = None) -> None:
        """One raw payload; the engine decodes it with the stream's FORMAT (a bytes source)."""
        raise NotImplementedError

    def emit_payloads(
        self,
        payloads: Sequence[bytes],
        meta: Mapping[str, Column | Sequence[Any]] | None = None,
    ) -> None:
        """Several raw payloads at once, with their meta column-wise: per meta key a Column or
        a sequence holding one value per payload (`{"topic": [...], "qos": [...]}`)."""
        for i, payload in enumerate(payloads):
            self.emit_bytes(payload, {k: _value_at(v, i) for k, v in meta.items()} if meta else None)

    def emit_lines(self, chunk: bytes, meta: Mapping[str, Any] | None = None) -> None:
        """Many newline-separated payloads at once, decoded in bulk (the fast path); `meta`
        is every row's metadata (e.g. the file they come from)."""
        raise NotImplementedError

    def emit_batch(self, batch: Batch | Mapping[str, Column | Sequence[Any]]) -> None:
        """Rows already in columns: a Batch, or a mapping of field -> Column or values."""
        raise NotImplementedError

    def emit_error(self, error: BaseException | str) -> None:
        """Report a recoverable error: it is counted and logged, the rule goes on."""
        raise NotImplementedError

    def emit_eof(self, message: str = "") -> None:
        """A bounded source is exhausted: the rule finishes once what was emitted is processed."""
        raise NotImplementedError

    def emit_threadsafe(self, message: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> None:
        """`emit` from a thread that is not the event loop's."""
        raise NotImplementedError

    async def drain(self) -> None:
        """Wait until the rule has room for more input (back-pressure for async sources)."""
        raise NotImplementedError


def _value_at(values: Column | Sequence[Any], i: int) -> Any:
    if isinstance(values, Column):
        return values.slice(i, i + 1).to_pylist()[0]
    return values[i]


class Source:
    """A stream source.

    Lifecycle: `configure(datasource, conf)` once with the stream's DATASOURCE and the merged
    properties (`etc/sources/{type}.yaml` section named by CONF_KEY, overridden by the stream);
    then `open(ctx)`. A push source's `open` runs until the rule stops: it may be `async def`
    (runs on the event loop) or a plain blocking function (runs in a thread; emit with
    `ctx.emit_threadsafe`). A pull source sets `interval` (seconds) instead and implements
    `pull(ctx)`, called every interval. `close(ctx)` releases resources.

    Capabilities: `bounded = True` for finite input (call `ctx.emit_eof()` at the end);
    `get_offset()`/`rewind(offset)` make a source rewindable, so QoS >= 1 can replay.
    """

    bounded: bool = False
    interval: float | None = None

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        """Validate and keep the configuration; raise ConfigError with a clear message if bad."""

    def open(self, ctx: Context) -> Any:
        """Start producing (push sources)."""

    def pull(self, ctx: Context) -> Any:
        """Produce what is available now (pull sources, every `interval`)."""

    def close(self, ctx: Context) -> Any:
        """Stop and release resources."""

    def get_offset(self) -> Any:
        return None

    def rewind(self, offset: Any) -> None:
        return None


class LookupSource:
    """A table queried by key for stream-table joins (KIND="lookup")."""

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        """Keep the configuration."""

    def open(self, ctx: Context) -> Any:
        """Connect."""

    def lookup(
        self, ctx: Context, fields: list[str], keys: list[str], values: list[Any]
    ) -> list[dict[str, Any]]:
        """Rows whose `keys` equal `values`; `fields` are the columns wanted (empty = all)."""
        return []

    def close(self, ctx: Context) -> Any:
        """Disconnect."""


class Sink:
    """A rule action.

    Lifecycle: `configure(conf)` with the action's properties; `open(ctx)`; then for each
    emission `collect(ctx, data)` where data is the transformed result: a dict when
    `sendSingle` is true, else a list of dicts, or bytes when the sink sets `accepts_bytes`
    (the encoded payload: format, dataTemplate applied). A sink that overrides
    `collect_batch(ctx, batch)` receives whole columnar batches instead (the fast path).
    `close(ctx)` flushes and releases. Any method may be `async def`.
    """

    accepts_bytes: bool = False

    def configure(self, conf: dict[str, Any]) -> None:
        """Validate and keep the properties."""

    def open(self, ctx: Context) -> Any:
        """Connect."""

    def collect(self, ctx: Context, data: Any) -> Any:
        """Deliver one emission."""

    def collect_batch(self, ctx: Context, batch: Batch) -> Any:
        """Deliver a columnar batch; the default falls back to `collect` per emission."""
        return NotImplemented

    def close(self, ctx: Context) -> Any:
        """Flush and disconnect."""


class Function:
    """A SQL function.

    `validate(args)` checks the arguments at plan time: return None (or "") if fine, or an
    error message. `exec(args, ctx)` computes one row's value (for an aggregate, each arg is a
    list of the group's values). An optional `exec_batch(columns, ctx)` computes a whole batch
    at once: it receives one Column (or numpy array) per argument and returns a Column, a numpy
    array, or a list of values of the batch's length.
    """

    def validate(self, args: list[Any]) -> str | None:
        return None

    def exec(self, args: list[Any], ctx: Context) -> Any:
        raise NotImplementedError

    def is_aggregate(self) -> bool:
        return False
