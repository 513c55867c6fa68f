"""Wraps eKuiper SDK objects so the engine drives them through the kuiper.api contract."""
from __future__ import annotations

import logging
from typing import Any

from kuiper.api.contract import Context as KContext
from kuiper.api.contract import Function as KFunction
from kuiper.api.contract import Sink as KSink
from kuiper.api.contract import Source as KSource
from kuiper.plugins.ekuiper_compat import sdk

log = logging.getLogger(__name__)


class CompatContext(sdk.Context):
    """An SDK Context over a kuiper Context (emits are thread-safe: SDK sources block)."""

    def __init__(self, ctx: KContext) -> None:
        self._ctx = ctx

    def get_rule_id(self) -> str:
        return self._ctx.get_rule_id()

    def get_op_id(self) -> str:
        return self._ctx.get_op_id()

    def get_instance_id(self) -> int:
        return self._ctx.get_instance_id()

    def get_logger(self) -> logging.Logger:
        return self._ctx.get_logger()

    def emit(self, message: dict, meta: dict | None = None) -> None:
        self._ctx.emit_threadsafe(message, meta)

    def emit_error(self, error: str) -> None:
        self._ctx.emit_error(error)

    def ack_ok(self) -> None:
        """In-process delivery is acknowledged by returning from collect."""

    def ack_error(self, error: str) -> None:
        self._ctx.get_logger().warning("sink reported an error: %s", error)

    def __getattr__(self, item: str) -> Any:  # state API and the rest of the kuiper Context
        return getattr(self._ctx, item)


def _wrap_ctx(ctx: Any) -> Any:
    return CompatContext(ctx) if isinstance(ctx, KContext) else ctx


class SourceAdapter(KSource):
    """An SDK source as a kuiper push source whose blocking `open` runs in a thread."""

    def __init__(self, inner: sdk.Source) -> None:
        self.inner = inner

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.inner.configure(datasource, conf)

    def open(self, ctx: KContext) -> Any:
        return self.inner.open(_wrap_ctx(ctx))

    def close(self, ctx: KContext) -> Any:
        return self.inner.close(_wrap_ctx(ctx))


class SinkAdapter(KSink):
    """An SDK sink; like a portable plugin it receives the encoded (JSON) payload bytes."""

    accepts_bytes = True

    def __init__(self, inner: sdk.Sink) -> None:
        self.inner = inner

    def configure(self, conf: dict[str, Any]) -> None:
        self.inner.configure(conf)

    def open(self, ctx: KContext) -> Any:
        return self.inner.open(_wrap_ctx(ctx))

    def collect(self, ctx: KContext, data: Any) -> Any:
        return self.inner.collect(_wrap_ctx(ctx), data)

    def close(self, ctx: KContext) -> Any:
        return self.inner.close(_wrap_ctx(ctx))


class FunctionAdapter(KFunction):
    """An SDK function; its "" from validate means valid."""

    def __init__(self, inner: sdk.Function) -> None:
        self.inner = inner

    def validate(self, args: list[Any]) -> str | None:
        return self.inner.validate(args) or None

    def exec(self, args: list[Any], ctx: KContext) -> Any:
        return self.inner.exec(args, _wrap_ctx(ctx))

    def is_aggregate(self) -> bool:
        return bool(self.inner.is_aggregate())


def adapt(obj: Any, ptype: str) -> Any:
    """`obj` itself for a kuiper extension, an adapter for an eKuiper SDK one."""
    if isinstance(obj, sdk.Source):
        return SourceAdapter(obj)
    if isinstance(obj, sdk.Sink):
        return SinkAdapter(obj)
    if isinstance(obj, sdk.Function):
        return FunctionAdapter(obj)
    return obj
