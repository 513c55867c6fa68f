"""The eKuiper Python SDK's base classes (Function, Source, Sink, Context), same names and methods."""
from __future__ import annotations

import logging
from typing import Any


class Context:
    """What an eKuiper SDK extension sees: identity, logger, emit, acks."""

    def get_rule_id(self) -> str:
        raise NotImplementedError

    def get_op_id(self) -> str:
        raise NotImplementedError

    def get_instance_id(self) -> int:
        raise NotImplementedError

    def get_logger(self) -> logging.Logger:
        raise NotImplementedError

    def emit(self, message: dict, meta: dict | None) -> None:
        raise NotImplementedError

    def emit_error(self, error: str) -> None:
        raise NotImplementedError

    def ack_ok(self) -> None:
        raise NotImplementedError

    def ack_error(self, error: str) -> None:
        raise NotImplementedError


class Source:
    """An SDK source: `configure(datasource, conf)`, a blocking `open(ctx)` emitting rows, `close`."""

    def configure(self, datasource: str, conf: dict) -> Any:
        pass

    def open(self, ctx: Context) -> Any:
        pass

    def close(self, ctx: Context) -> Any:
        pass


class Sink:
    """An SDK sink: `configure(conf)`, `open(ctx)`, `collect(ctx, data)` with JSON bytes, `close`."""

    def configure(self, conf: dict) -> Any:
        pass

    def open(self, ctx: Context) -> Any:
        pass

    def collect(self, ctx: Context, data: Any) -> Any:
        pass

    def close(self, ctx: Context) -> Any:
        pass


class Function:
    """An SDK function: `validate(args)` returns "" when fine, `exec(args, ctx)`, `is_aggregate()`."""

    def validate(self, args: list[Any]) -> str:
        return ""

    def exec(self, args: list[Any], ctx: Context) -> Any:
        raise NotImplementedError

    def is_aggregate(self) -> bool:
        return False
